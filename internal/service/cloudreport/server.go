package cloudreport

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lcrypto "gatehouse/internal/crypto"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/store"
)

// Registry is what the server needs from the metadata store; *store.DB
// implements it.
type Registry interface {
	CloudreportClient(ctx context.Context, id string) (store.CloudreportClient, error)
	CloudreportAddError(ctx context.Context, e store.CloudreportError) error
	CloudreportPruneErrors(ctx context.Context, keep int) (int64, error)
}

var _ Registry = (*store.DB)(nil)

// Options configure a Server. Zero values mean the documented defaults.
type Options struct {
	Dialect    Dialect
	ServerKey  string       // KEY announced in INIT (default "D5F2")
	DelphiHash lcrypto.Hash // delphi dialect: InitStr hash (default SHA-1)
	DelphiZlib bool         // delphi dialect: zlib inside the cipher

	MaxLine         int   // request line bytes without LF (default 64 KiB)
	MaxInflate      int   // inflated DATA bytes (default 1 MiB)
	MaxAuthFailures int   // failed decrypts/unknown clients before the connection is closed (default 3)
	MaxErrorReports int   // ERRL reports stored per connection (default 32)
	MaxDownload     int64 // largest file DWNL serves (default 16 MiB)
	MaxListed       int   // files VERS lists (default 256)
	// MaxStoredReports caps the ERRL table: anyone may INIT and report, so
	// older reports are pruned past it (default 100000).
	MaxStoredReports int
	// MaxConcurrentDownloads bounds the DWNL replies being built or sent
	// at once: each holds several copies of the file (base64, zlib,
	// ciphertext) until written (default 4).
	MaxConcurrentDownloads int

	// RegistryCacheTTL keeps enabled clients in memory this long, so a
	// disable takes effect within it (default 1 s; negative: no cache).
	RegistryCacheTTL time.Duration

	UpdatesDir    string // folder VERS lists and DWNL serves ("" = no updates)
	UpdateVersion string // VER in VERS (default "1.0.0")
	UpdateBuild   int    // BUILD in VERS (default 100)

	// CompatInitDuplicate restores the seed's "Client ID n already
	// connected" rejection at INIT, keyed by the dictionary index as the
	// seed did, without the seed's bug of deleting the other connection's
	// entry. Off by default: it rejects unrelated clients at random.
	CompatInitDuplicate bool

	Now      func() time.Time // clock (default time.Now)
	Location *time.Location   // zone of the dates sent (default time.Local)
}

func (o *Options) setDefaults() {
	if o.ServerKey == "" {
		o.ServerKey = DefaultServerKey
	}
	if o.DelphiHash == "" {
		o.DelphiHash = lcrypto.SHA1
	}
	if o.MaxLine <= 0 {
		o.MaxLine = DefaultMaxLine
	}
	if o.MaxInflate <= 0 {
		o.MaxInflate = DefaultMaxInflate
	}
	if o.MaxAuthFailures <= 0 {
		o.MaxAuthFailures = 3
	}
	if o.MaxErrorReports <= 0 {
		o.MaxErrorReports = 32
	}
	if o.MaxStoredReports <= 0 {
		o.MaxStoredReports = 100000
	}
	if o.MaxConcurrentDownloads <= 0 {
		o.MaxConcurrentDownloads = 4
	}
	if o.MaxDownload <= 0 {
		o.MaxDownload = 16 << 20
	}
	if o.MaxListed <= 0 {
		o.MaxListed = 256
	}
	if o.UpdateVersion == "" {
		o.UpdateVersion = "1.0.0"
	}
	if o.UpdateBuild == 0 {
		o.UpdateBuild = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RegistryCacheTTL == 0 {
		o.RegistryCacheTTL = time.Second
	}
	if o.Location == nil {
		o.Location = time.Local
	}
}

// Server serves the protocol; it is a netsvc.Handler.
type Server struct {
	opt     Options
	reg     Registry
	updates *os.Root // nil when there is no updates folder

	cacheMu sync.Mutex
	cache   map[string]cachedClient

	stored atomic.Int64  // ERRL reports stored since start, paces pruning
	dlSem  chan struct{} // DWNL replies in flight

	mu       sync.Mutex
	byInit   map[string]*session // compat duplicate check, keyed by INIT ID text
	byClient map[string]*session // live sessions by registry id
}

var _ netsvc.Handler = (*Server)(nil)

// NewServer returns a server answering INFO from reg. The updates folder is
// created when missing.
func NewServer(reg Registry, opt Options) (*Server, error) {
	opt.setDefaults()
	if _, err := lcrypto.ParseHash(string(opt.DelphiHash)); err != nil {
		return nil, err
	}
	if !ValidServerKey(opt.ServerKey) {
		return nil, fmt.Errorf("cloudreport: server key %q must be 1..16 characters of [0-9A-Za-z]", opt.ServerKey)
	}
	s := &Server{opt: opt, reg: reg, byInit: map[string]*session{}, byClient: map[string]*session{}, cache: map[string]cachedClient{},
		dlSem: make(chan struct{}, opt.MaxConcurrentDownloads)}
	if opt.UpdatesDir != "" {
		if err := os.MkdirAll(opt.UpdatesDir, 0o750); err != nil {
			return nil, fmt.Errorf("cloudreport: updates folder: %w", err)
		}
		r, err := os.OpenRoot(opt.UpdatesDir)
		if err != nil {
			return nil, fmt.Errorf("cloudreport: updates folder: %w", err)
		}
		s.updates = r
	}
	return s, nil
}

// ValidServerKey reports whether k can be announced as KEY.
func ValidServerKey(k string) bool {
	if k == "" || len(k) > 16 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// Close releases the updates folder.
func (s *Server) Close() error {
	if s.updates != nil {
		return s.updates.Close()
	}
	return nil
}

// session is one connection's state.
type session struct {
	s    *Server
	c    *netsvc.Conn
	peer string // peer IP text, the seed's host part

	initialized bool
	init        InitArgs
	codec       Codec
	clientID    string // registry id after a successful INFO

	failures int
	reports  int

	// afterWrite, when set, runs once the current reply is written (or
	// failed to be): it frees a download slot.
	afterWrite func()
}

var errLineTooLong = errors.New("cloudreport: request line too long")

// readLine returns the next line without its LF. A final line without LF
// is returned at EOF, as asyncio's readline does.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		if err == nil {
			if len(buf)+len(frag)-1 > max {
				return nil, errLineTooLong
			}
			if buf == nil {
				return frag[:len(frag)-1], nil
			}
			return append(buf, frag[:len(frag)-1]...), nil
		}
		if len(buf)+len(frag) > max {
			return nil, errLineTooLong
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			buf = append(buf, frag...)
		case errors.Is(err, io.EOF) && len(buf)+len(frag) > 0:
			return append(buf, frag...), nil
		default:
			return nil, err
		}
	}
}

// ServeConn runs one connection: read a line, answer it, until an empty
// line, EOF, an error, a closing reply or shutdown.
func (s *Server) ServeConn(ctx context.Context, c *netsvc.Conn) error {
	ss := &session{s: s, c: c}
	if host, _, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
		ss.peer = host
	}
	defer ss.release()
	// Until the first good INIT the connection gets the handshake deadline
	// (the seed waited forever for a half line).
	c.StartHandshake()
	br := bufio.NewReaderSize(c, 4096)
	for ctx.Err() == nil {
		if ss.initialized {
			// After INIT: once a line starts, all of it must arrive within
			// the message timeout (before INIT the handshake bound holds).
			if _, err := br.Peek(1); err == nil {
				c.StartMessage()
			}
		}
		line, err := readLine(br, s.opt.MaxLine)
		if ss.initialized {
			c.EndMessage()
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		req, ok := ParseLine(line)
		if !ok {
			return nil
		}
		done := c.Request(metricName(req.Cmd))
		reply, status, closeAfter := ss.handle(ctx, req)
		var werr error
		if len(reply) > 0 {
			_, werr = c.Write(reply)
		}
		if ss.afterWrite != nil {
			ss.afterWrite()
			ss.afterWrite = nil
		}
		done(status)
		if werr != nil {
			return werr
		}
		if closeAfter {
			return nil
		}
	}
	return nil
}

// metricName keeps the metrics' label set bounded.
func metricName(cmd string) string {
	switch cmd {
	case "INIT", "INFO", "PING", "VERS", "DWNL", "ERRL", "GREQ", "SRSP":
		return cmd
	}
	return "UNKNOWN"
}

func (ss *session) handle(ctx context.Context, r Request) (reply []byte, status string, closeAfter bool) {
	d := ss.s.opt.Dialect
	if r.Cmd == "INIT" {
		return ss.handleInit(r)
	}
	// The seed checks initialization before it looks at the command, so
	// an unknown command before INIT is "not initialized" too.
	if !ss.initialized {
		return errorReply(d, failNotInit, ""), "error", false
	}
	known := false
	switch r.Cmd {
	case "PING", "INFO", "VERS", "DWNL", "ERRL":
		known = true
	case "GREQ", "SRSP":
		known = d == Delphi
	}
	if !known {
		ss.c.Log().Debug("unknown command", "cmd", r.Cmd)
		return errorReply(d, failUnknown, r.Cmd), "error", false
	}
	switch r.Cmd {
	case "PING":
		return pongReply(d), "ok", false
	case "INFO":
		return ss.handleInfo(ctx, r)
	case "VERS":
		return ss.handleVers()
	case "DWNL":
		return ss.handleDwnl(ctx, r)
	case "ERRL":
		return ss.handleErrl(ctx, r)
	case "GREQ":
		// No request relay exists; answer "nothing pending" the way HEAD's
		// reconstruction does so a polling Indy client does not fail.
		return []byte("200 CMD=0 DATA=\r\n"), "ok", false
	default: // SRSP
		return okReply(d), "ok", false
	}
}

func (ss *session) handleInit(r Request) ([]byte, string, bool) {
	o := &ss.s.opt
	a, err := ParseInit(r)
	switch {
	case errors.Is(err, ErrInitFormat):
		return errorReply(o.Dialect, failInitFormat, ""), "error", false
	case err != nil:
		// The delphi reply names the ID as sent ("501 Invalid client ID: x").
		raw := strings.SplitN(r.Tokens[0], "=", 3)[1]
		return errorReply(o.Dialect, failInitID, shortArg(raw)), "error", false
	}
	var key string
	keyLen := KeyLen(a.Index)
	if o.Dialect == Delphi {
		if a.Index == 0 {
			return errorReply(o.Dialect, failInitID, shortArg(a.Text)), "error", false
		}
		if a.HST == "" {
			return errorReply(o.Dialect, failHostEmpty, ""), "error", false
		}
		key = DelphiKey(o.ServerKey, a.Index, keyLen, a.HST)
	} else {
		key = SeedKey(o.ServerKey, a.Index, ss.peer)
	}
	if o.CompatInitDuplicate && !ss.s.claimInit(ss, a.Text) {
		ss.c.Log().Info("INIT rejected: dictionary index in use (compat_init_duplicate)", "id", a.Text)
		return errorReply(o.Dialect, failDuplicate, a.Text), "error", true
	}
	var codec Codec
	if o.Dialect == Delphi {
		dc, err := NewDelphiCodec(key, o.DelphiHash, o.DelphiZlib, o.MaxInflate)
		if err != nil {
			return errorReply(o.Dialect, failInternal, ""), "error", false
		}
		codec = dc
	} else {
		codec = NewSeedCodec(key, o.MaxInflate)
	}
	// A re-INIT re-keys the connection and drops what INFO established.
	ss.s.dropClient(ss)
	ss.clientID = ""
	ss.init, ss.codec, ss.initialized = a, codec, true
	ss.c.EndHandshake()
	// The key itself is never logged (the seed logged it at INFO level).
	ss.c.Log().Debug("INIT", "id", a.Text, "len", keyLen)
	return initReply(o.ServerKey, keyLen), "ok", false
}

// shortArg bounds wire text echoed in an error reply (an INIT ID may have
// thousands of digits).
func shortArg(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// authFailed counts a failed decrypt or unknown client and says whether the
// connection must now be closed: without a MAC every decrypt answer is an
// oracle, so a connection gets only a few tries.
func (ss *session) authFailed(reason string) bool {
	ss.failures++
	ss.c.HandshakeFailed(reason)
	return ss.failures >= ss.s.opt.MaxAuthFailures
}

func (ss *session) handleInfo(ctx context.Context, r Request) ([]byte, string, bool) {
	o := &ss.s.opt
	data, ok := r.Param("DATA")
	if !ok {
		// The seed answered INFO without DATA with a valid grant.
		return errorReply(o.Dialect, failMissingData, ""), "error", ss.authFailed("info without data")
	}
	plain, err := ss.codec.Decrypt(data)
	if err != nil {
		return errorReply(o.Dialect, failDecrypt, ""), "error", ss.authFailed("decrypt failed")
	}
	id, _ := ParseFields(plain).Get("ID")
	if !ValidClientID(id) {
		return errorReply(o.Dialect, failNotFound, ""), "error", ss.authFailed("no valid client id")
	}
	cl, err := ss.s.lookup(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !cl.Enabled) {
		// Unknown and disabled look the same on the wire; the log tells.
		ss.c.Log().Info("INFO refused", "client", id, "known", err == nil)
		return errorReply(o.Dialect, failNotFound, ""), "error", ss.authFailed("unknown or disabled client")
	}
	if err != nil {
		ss.c.Log().Error("INFO registry lookup failed", "client", id, "err", err)
		return errorReply(o.Dialect, failInternal, ""), "error", false
	}
	created := cl.Created.In(o.Location)
	payload := Fields{
		{"TT", "Test"},
		{"ID", cl.ID},
		{"EX", cl.Expires.Format("2006-01-02")},
		{"EN", "1"},
		{"CD", created.Format("2006-01-02")},
		{"CT", created.Format("15:04:05")},
	}
	out, err := ss.codec.Encrypt(payload.Format())
	if err != nil {
		return errorReply(o.Dialect, failInternal, ""), "error", false
	}
	ss.s.claimClient(ss, cl.ID)
	ss.clientID = cl.ID
	ss.c.Log().Debug("INFO", "client", cl.ID)
	return dataReply(o.Dialect, out), "ok", false
}

type cachedClient struct {
	c       store.CloudreportClient
	expires time.Time
}

const maxCached = 10000

// lookup reads a client from the registry through a short cache of enabled
// clients: a lookup was a third of an INFO round trip.
func (s *Server) lookup(ctx context.Context, id string) (store.CloudreportClient, error) {
	ttl := s.opt.RegistryCacheTTL
	if ttl > 0 {
		s.cacheMu.Lock()
		e, ok := s.cache[id]
		s.cacheMu.Unlock()
		if ok && time.Now().Before(e.expires) {
			return e.c, nil
		}
	}
	c, err := s.reg.CloudreportClient(ctx, id)
	if ttl > 0 {
		s.cacheMu.Lock()
		if err == nil && c.Enabled {
			if len(s.cache) >= maxCached {
				clear(s.cache)
			}
			s.cache[id] = cachedClient{c, time.Now().Add(ttl)}
		} else {
			delete(s.cache, id)
		}
		s.cacheMu.Unlock()
	}
	return c, err
}

// updateFile is one entry of the updates folder.
type updateFile struct {
	name string
	size int64
	mod  time.Time
}

func (s *Server) listUpdates() ([]updateFile, error) {
	if s.updates == nil {
		return nil, nil
	}
	f, err := s.updates.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var out []updateFile
	for _, e := range ents {
		if !e.Type().IsRegular() || !ValidUpdateName(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, updateFile{e.Name(), info.Size(), info.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	if len(out) > s.opt.MaxListed {
		out = out[:s.opt.MaxListed]
	}
	return out, nil
}

func (ss *session) encryptReply(f Fields, fail failure) ([]byte, string, bool) {
	out, err := ss.codec.Encrypt(f.Format())
	if err != nil {
		return errorReply(ss.s.opt.Dialect, fail, ""), "error", false
	}
	return dataReply(ss.s.opt.Dialect, out), "ok", false
}

func (ss *session) handleVers() ([]byte, string, bool) {
	o := &ss.s.opt
	if ss.clientID == "" {
		return errorReply(o.Dialect, failNotAuth, ""), "error", false
	}
	files, err := ss.s.listUpdates()
	if err != nil {
		ss.c.Log().Error("VERS: cannot list updates", "err", err)
		return errorReply(o.Dialect, failVers, ""), "error", false
	}
	// The seed's three lines first, then the folder's listing.
	f := Fields{
		{"TT", "Test"},
		{"VER", o.UpdateVersion},
		{"BUILD", strconv.Itoa(o.UpdateBuild)},
		{"DATE", o.Now().In(o.Location).Format("2006-01-02")},
		{"C", strconv.Itoa(len(files))},
	}
	for i, u := range files {
		n := strconv.Itoa(i + 1)
		f = append(f,
			Field{"F" + n, u.name},
			Field{"S" + n, strconv.FormatInt(u.size, 10)},
			Field{"D" + n, u.mod.In(o.Location).Format("2006-01-02 15:04:05")})
	}
	return ss.encryptReply(f, failVers)
}

var noFiles = Fields{{"TT", "Test"}, {"STATUS", "NOFILES"}, {"MESSAGE", "No files available for download"}}

func (ss *session) handleDwnl(ctx context.Context, r Request) ([]byte, string, bool) {
	o := &ss.s.opt
	if ss.clientID == "" {
		return errorReply(o.Dialect, failNotAuth, ""), "error", false
	}
	files, err := ss.s.listUpdates()
	if err != nil {
		ss.c.Log().Error("DWNL: cannot list updates", "err", err)
		return errorReply(o.Dialect, failDwnl, ""), "error", false
	}
	name, ok := r.Param("F")
	if !ok {
		if len(files) == 0 {
			return ss.encryptReply(noFiles, failDwnl)
		}
		return ss.encryptReply(Fields{{"TT", "Test"}, {"STATUS", "ERROR"}, {"MESSAGE", "Missing F parameter"}}, failDwnl)
	}
	// The wire name is checked before it comes near the filesystem, and
	// os.Root keeps even a symlink inside the folder.
	if !ValidUpdateName(name) {
		ss.c.Log().Info("DWNL refused: invalid file name", "name", fmt.Sprintf("%q", shortArg(name)))
		return errorReply(o.Dialect, failBadName, ""), "error", false
	}
	if len(files) == 0 {
		return ss.encryptReply(noFiles, failDwnl)
	}
	// The slot is held until the reply is written, so a slow reader
	// counts against it too.
	select {
	case ss.s.dlSem <- struct{}{}:
		ss.afterWrite = func() { <-ss.s.dlSem }
	case <-ctx.Done():
		return errorReply(o.Dialect, failDwnl, ""), "error", false
	}
	content, err := ss.s.readUpdate(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ss.encryptReply(Fields{{"TT", "Test"}, {"STATUS", "NOTFOUND"}, {"F", name}, {"MESSAGE", "File not found"}}, failDwnl)
	case errors.Is(err, errTooLarge):
		return ss.encryptReply(Fields{{"TT", "Test"}, {"STATUS", "TOOLARGE"}, {"F", name}, {"MESSAGE", "File too large"}}, failDwnl)
	case err != nil:
		ss.c.Log().Error("DWNL: cannot read update", "name", name, "err", err)
		return errorReply(o.Dialect, failDwnl, ""), "error", false
	}
	sum := sha256.Sum256(content)
	ss.c.Log().Info("DWNL", "client", ss.clientID, "name", name, "size", len(content))
	return ss.encryptReply(Fields{
		{"TT", "Test"}, {"STATUS", "OK"}, {"F", name},
		{"SIZE", strconv.Itoa(len(content))},
		{"SHA256", hex.EncodeToString(sum[:])},
		{"FILE", base64.StdEncoding.EncodeToString(content)},
	}, failDwnl)
}

var errTooLarge = errors.New("cloudreport: update too large")

func (s *Server) readUpdate(name string) ([]byte, error) {
	f, err := s.updates.Open(name)
	if err != nil {
		// A link out of the folder fails here like a missing file.
		return nil, fs.ErrNotExist
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fs.ErrNotExist
	}
	if st.Size() > s.opt.MaxDownload {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(f, s.opt.MaxDownload+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > s.opt.MaxDownload {
		return nil, errTooLarge
	}
	return b, nil
}

const (
	maxReportText = 4 << 10
	maxReportData = 16 << 10
)

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func (ss *session) handleErrl(ctx context.Context, r Request) ([]byte, string, bool) {
	o := &ss.s.opt
	var plain []byte
	if data, ok := r.Param("DATA"); ok {
		p, err := ss.codec.Decrypt(data)
		if err != nil {
			return errorReply(o.Dialect, failDecrypt, ""), "error", ss.authFailed("decrypt failed")
		}
		plain = p
	}
	who := ss.clientID
	if who == "" {
		// Clients report "Unable to check credentials" before any INFO
		// succeeded, so reports are taken after INIT alone.
		who = "init:" + ss.init.Text
		if len(who) > 32 {
			who = who[:32]
		}
	}
	ss.reports++
	if ss.reports > o.MaxErrorReports {
		if ss.reports == o.MaxErrorReports+1 {
			ss.c.Log().Warn("ERRL: per-connection report limit reached; further reports are not stored", "client", who)
		}
		return okReply(o.Dialect), "ok", false
	}
	e := store.CloudreportError{
		ClientID: who,
		Peer:     ss.peer,
		Created:  o.Now(),
		Text:     Latin1ToUTF8(truncate([]byte(r.Rest), maxReportText)),
		Data:     Latin1ToUTF8(truncate(plain, maxReportData)),
	}
	if err := ss.s.reg.CloudreportAddError(ctx, e); err != nil {
		ss.c.Log().Error("ERRL: cannot store report", "client", who, "err", err)
	} else {
		ss.s.pruneReports(ctx, ss.c)
	}
	ss.c.Log().Info("ERRL", "client", who, "text", Latin1ToUTF8(truncate([]byte(r.Rest), 200)))
	return okReply(o.Dialect), "ok", false
}

// pruneReports keeps the ERRL table under MaxStoredReports, checking every
// so many inserts so the cost stays off most requests.
func (s *Server) pruneReports(ctx context.Context, c *netsvc.Conn) {
	every := int64(max(1, min(256, s.opt.MaxStoredReports/8)))
	if s.stored.Add(1)%every != 0 {
		return
	}
	n, err := s.reg.CloudreportPruneErrors(ctx, s.opt.MaxStoredReports)
	if err != nil {
		c.Log().Error("ERRL: cannot prune old reports", "err", err)
	} else if n > 0 {
		c.Log().Info("ERRL: pruned old reports", "deleted", n, "kept", s.opt.MaxStoredReports)
	}
}

// claimInit registers ss under an INIT ID for the compat duplicate check.
// It never removes another connection's entry (the seed's cleanup did).
func (s *Server) claimInit(ss *session, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.byInit[id]; ok && other != ss {
		return false
	}
	if ss.initialized && s.byInit[ss.init.Text] == ss {
		delete(s.byInit, ss.init.Text) // re-INIT: no stale entry (seed §8.7)
	}
	s.byInit[id] = ss
	return true
}

// claimClient makes ss the live session of a registry id. An older session
// of the same client is closed: it is almost always a connection the client
// lost without the server noticing, and refusing the new one would lock the
// client out until the old one timed out.
func (s *Server) claimClient(ss *session, id string) {
	s.mu.Lock()
	old := s.byClient[id]
	if ss.clientID != "" && ss.clientID != id && s.byClient[ss.clientID] == ss {
		delete(s.byClient, ss.clientID)
	}
	s.byClient[id] = ss
	s.mu.Unlock()
	if old != nil && old != ss {
		old.c.Log().Info("closing connection: client connected again", "client", id)
		old.c.Close()
	}
}

func (s *Server) dropClient(ss *session) {
	s.mu.Lock()
	if ss.clientID != "" && s.byClient[ss.clientID] == ss {
		delete(s.byClient, ss.clientID)
	}
	s.mu.Unlock()
}

func (ss *session) release() {
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss.initialized && s.byInit[ss.init.Text] == ss {
		delete(s.byInit, ss.init.Text)
	}
	if ss.clientID != "" && s.byClient[ss.clientID] == ss {
		delete(s.byClient, ss.clientID)
	}
}

// LiveClients lists the registry ids with a live session, sorted.
func (s *Server) LiveClients() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.byClient))
	for id := range s.byClient {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
