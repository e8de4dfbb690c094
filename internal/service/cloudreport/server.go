package cloudreport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	lcrypto "gatehouse/internal/legacycrypto"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/store"
)

// Registry is what the server needs from the metadata store; *store.DB
// implements it.
type Registry interface {
	CloudreportClient(ctx context.Context, id string) (store.CloudreportClient, error)
	CloudreportAddError(ctx context.Context, e store.CloudreportError) error
	CloudreportPruneErrors(ctx context.Context, keep int) (int64, error)
	CloudreportRegisterSeen(ctx context.Context, c store.CloudreportClient) (store.CloudreportClient, bool, error)
	CloudreportTouchClients(ctx context.Context, seen []store.CloudreportSeen) error
}

// Registration says which client ids INFO answers.
type Registration int

const (
	// Open (the default) answers every INIT'd client, like the seed, and
	// records an id it has not seen before on its first INFO.
	Open Registration = iota
	// Known answers only ids registered (and enabled) beforehand.
	Known
)

func (r Registration) String() string {
	if r == Known {
		return "known"
	}
	return "open"
}

// ParseRegistration reads the registration config value.
func ParseRegistration(s string) (Registration, error) {
	switch s {
	case "", "open":
		return Open, nil
	case "known":
		return Known, nil
	}
	return Open, fmt.Errorf("cloudreport: registration %q: want open or known", s)
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

	UpdatesDir    string       // folder VERS lists and DWNL serves, when Updates is nil ("" = no updates)
	Updates       UpdateSource // where the update files are (overrides UpdatesDir)
	UpdateVersion string       // VER in VERS (default "1.0.0")
	UpdateBuild   int          // BUILD in VERS (default 100)

	// CompatInitDuplicate restores the seed's "Client ID n already
	// connected" rejection at INIT, keyed by the dictionary index as the
	// seed did, without the seed's bug of deleting the other connection's
	// entry. Off by default: it rejects unrelated clients at random.
	CompatInitDuplicate bool

	// Registration is Open (default) or Known.
	Registration Registration
	// FirstSeenRate and FirstSeenBurst bound, per client address, how
	// many client ids open registration records (default 10/s, burst
	// 1000; a negative rate: no limit). An id over the limit is answered
	// as if recorded and recorded on a later INFO.
	FirstSeenRate  float64
	FirstSeenBurst int
	// MaxLimitedAddrs bounds the per-address buckets (default 65536).
	MaxLimitedAddrs int
	// SeenFlushInterval is how often the last-seen times of clients are
	// written, one write per client at most per interval (default 1 min).
	SeenFlushInterval time.Duration
	// MaxSeenPending bounds the clients waiting for that write (default
	// 65536); past it, updates of further clients wait for a later INFO.
	MaxSeenPending int
	// DownloadMinRate is the rate in bytes/s a DWNL reader must keep,
	// progressively, once rate_grace has passed (netsvc StartTransfer;
	// default 4096; negative: no minimum).
	DownloadMinRate int64
	// Metrics, when set, registers the service's own series.
	Metrics prometheus.Registerer
	// Log is for messages that belong to no connection (default
	// slog.Default()).
	Log *slog.Logger

	Now      func() time.Time // clock (default time.Now)
	Location *time.Location   // zone of the dates sent (default time.Local)
}

func (o *Options) log() *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return slog.Default()
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
	if o.FirstSeenRate == 0 {
		o.FirstSeenRate = 10
	}
	if o.FirstSeenBurst <= 0 {
		o.FirstSeenBurst = 1000
	}
	if o.MaxLimitedAddrs <= 0 {
		o.MaxLimitedAddrs = 65536
	}
	if o.SeenFlushInterval <= 0 {
		o.SeenFlushInterval = time.Minute
	}
	if o.MaxSeenPending <= 0 {
		o.MaxSeenPending = 65536
	}
	if o.DownloadMinRate == 0 {
		o.DownloadMinRate = 4096
	}
}

// Server serves the protocol; it is a netsvc.Handler.
type Server struct {
	opt     Options
	reg     Registry
	updates UpdateSource // nil when there are no updates

	cacheMu sync.Mutex
	cache   map[string]cachedClient

	stored atomic.Int64  // ERRL reports stored since start, paces pruning
	dlSem  chan struct{} // DWNL replies in flight

	limiter *netsvc.AddrLimiter // first-seen ids per address (open registration)
	seen    seenTracker         // last-seen times waiting to be written
	m       *metrics
	stop    chan struct{}
	flushed chan struct{}
	closed  sync.Once

	mu       sync.Mutex
	byInit   map[string]*session              // compat duplicate check, keyed by INIT ID text
	byClient map[string]map[*session]struct{} // live sessions by registry id (a client may have several)

	dlActive atomic.Int32 // DWNL replies being streamed (tests)
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
	s := &Server{opt: opt, reg: reg, byInit: map[string]*session{}, byClient: map[string]map[*session]struct{}{}, cache: map[string]cachedClient{},
		dlSem:   make(chan struct{}, opt.MaxConcurrentDownloads),
		limiter: newAddrLimiter(opt.FirstSeenRate, opt.FirstSeenBurst, opt.MaxLimitedAddrs),
		seen:    seenTracker{max: opt.MaxSeenPending},
		m:       newMetrics(opt.Metrics),
		stop:    make(chan struct{}), flushed: make(chan struct{})}
	s.updates = opt.Updates
	if s.updates == nil && opt.UpdatesDir != "" {
		u, err := DirUpdates(opt.UpdatesDir)
		if err != nil {
			return nil, err
		}
		s.updates = u
	}
	go s.flushLoop()
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

// Close writes the pending last-seen times and releases the updates
// folder. Call it after the connections have drained.
func (s *Server) Close() error {
	s.closed.Do(func() { close(s.stop) })
	<-s.flushed
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
	// drain is closed when the daemon starts to drain: a request that has
	// not started its work yet (a DWNL waiting for a slot) gives up.
	drain <-chan struct{}

	initialized bool
	init        InitArgs
	codec       Codec
	clientID    string // registry id after a successful INFO

	failures int
	reports  int

	// afterWrite, when set, runs once the current reply is written (or
	// failed to be): it frees a download slot.
	afterWrite func()
	// send, when set, writes the current reply itself (a streamed DWNL)
	// instead of returning its bytes.
	send func() error
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
	ss := &session{s: s, c: c, drain: ctx.Done()}
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
		// The request runs under the context Request returns: the
		// registry lookup, the report insert and an update's stream finish
		// even when shutdown cancels ctx meanwhile.
		rctx, done := c.Request(ctx, metricName(req.Cmd))
		reply, status, closeAfter := ss.handle(rctx, req)
		var werr error
		if ss.send != nil {
			if werr = ss.send(); werr != nil {
				status = "error"
			}
			ss.send = nil
		} else if len(reply) > 0 {
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
		return ss.handleVers(ctx)
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
	open := o.Registration == Open
	certID, mtls := netsvc.PeerIdentity(ss.c)
	data, ok := r.Param("DATA")
	if !ok && mtls {
		return ss.certRefused("")
	}
	if !ok {
		if open {
			// The seed answered INFO without DATA; so does open registration,
			// with nothing to record.
			return ss.anonymousGrant("info without data")
		}
		return errorReply(o.Dialect, failMissingData, ""), "error", ss.authFailed("info without data")
	}
	plain, err := ss.codec.Decrypt(data)
	if err != nil {
		return errorReply(o.Dialect, failDecrypt, ""), "error", ss.authFailed("decrypt failed")
	}
	fields := ParseFields(plain)
	wireID, _ := fields.Get("ID")
	if mtls && (!ValidClientID(wireID) || store.NormalizeCloudreportID(wireID) != store.NormalizeCloudreportID(certID)) {
		return ss.certRefused(wireID)
	}
	if !ValidClientID(wireID) {
		if open {
			return ss.anonymousGrant("no valid client id")
		}
		return errorReply(o.Dialect, failNotFound, ""), "error", ss.authFailed("no valid client id")
	}
	id := store.NormalizeCloudreportID(wireID)
	cl, err := ss.s.lookup(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound) && open:
		cl, err = ss.s.registerSeen(ctx, ss, id, fields)
		if err != nil {
			// Not recorded now (rate limit, store failure): answered as
			// the seed would and recorded on a later INFO.
			return ss.grant(wireID, cl, true)
		}
	case errors.Is(err, store.ErrNotFound) || (err == nil && !cl.Enabled && !open):
		// Unknown and disabled look the same on the wire; the log tells.
		ss.c.Log().Info("INFO refused", "client", id, "known", err == nil)
		return errorReply(o.Dialect, failNotFound, ""), "error", ss.authFailed("unknown or disabled client")
	case err != nil:
		ss.c.Log().Error("INFO registry lookup failed", "client", id, "err", err)
		return errorReply(o.Dialect, failInternal, ""), "error", false
	default:
		ss.s.noteSeen(id, o.Now(), ss.peer)
	}
	return ss.grant(wireID, cl, false)
}

// certRefused answers an INFO on a mutual-TLS connection that does not
// name the client of the verified certificate (its common name is the
// client id) the way an unknown client is answered.
func (ss *session) certRefused(wireID string) ([]byte, string, bool) {
	cn, _ := netsvc.PeerIdentity(ss.c)
	ss.c.Log().Info("INFO refused: client id is not the one of the TLS client certificate", "client", wireID, "certificate_cn", cn)
	return errorReply(ss.s.opt.Dialect, failNotFound, ""), "error", ss.authFailed("client id differs from the TLS client certificate")
}

// grant answers INFO for client cl. The reply's ID is the id as the
// client spelled it; EN is 0 for a disabled client (open registration) and
// EX its real expiry, expired or not: the client decides.
func (ss *session) grant(wireID string, cl store.CloudreportClient, unrecorded bool) ([]byte, string, bool) {
	o := &ss.s.opt
	en := "1"
	if !cl.Enabled {
		en = "0"
	}
	created := cl.Created.In(o.Location)
	payload := Fields{
		{"TT", "Test"},
		{"ID", wireID},
		{"EX", cl.Expires.Format("2006-01-02")},
		{"EN", en},
		{"CD", created.Format("2006-01-02")},
		{"CT", created.Format("15:04:05")},
	}
	out, err := ss.codec.Encrypt(payload.Format())
	if err != nil {
		return errorReply(o.Dialect, failInternal, ""), "error", false
	}
	ss.s.claimClient(ss, cl.ID)
	ss.clientID = cl.ID
	ss.c.SetIdentity(cl.ID)
	ss.c.Log().Debug("INFO", "client", cl.ID, "enabled", cl.Enabled, "unrecorded", unrecorded)
	return dataReply(o.Dialect, out), "ok", false
}

// anonymousGrant is the seed's INFO answer for a client that names no
// usable id (open registration only): the INIT number as ID, enabled, one
// year from today. Nothing is recorded.
func (ss *session) anonymousGrant(reason string) ([]byte, string, bool) {
	o := &ss.s.opt
	now := o.Now().In(o.Location)
	payload := Fields{
		{"TT", "Test"},
		{"ID", ss.init.Text},
		{"EX", AddYears(now, 1).Format("2006-01-02")},
		{"EN", "1"},
		{"CD", now.Format("2006-01-02")},
		{"CT", now.Format("15:04:05")},
	}
	out, err := ss.codec.Encrypt(payload.Format())
	if err != nil {
		return errorReply(o.Dialect, failInternal, ""), "error", false
	}
	ss.c.Log().Info("INFO answered without a client id", "reason", reason, "init", ss.init.Text)
	return dataReply(o.Dialect, out), "ok", false
}

var errRateLimited = errors.New("cloudreport: first-seen client rate limited")

// maxSeenName bounds the name taken from a first INFO.
const maxSeenName = 128

// registerSeen records a client id seen for the first time (open
// registration): enabled, expiring one year from today (the seed's grant),
// named after the payload's ON or FN field. It returns the registered row;
// on errRateLimited or a store failure it returns the row it would have
// recorded, for the reply.
func (s *Server) registerSeen(ctx context.Context, ss *session, id string, f Fields) (store.CloudreportClient, error) {
	o := &s.opt
	now := o.Now()
	name, ok := f.Get("ON")
	if !ok || name == "" {
		name, _ = f.Get("FN")
	}
	c := store.CloudreportClient{ID: id, Name: Latin1ToUTF8(truncate([]byte(name), maxSeenName)),
		Expires: AddYears(now.In(o.Location), 1), Enabled: true, Created: now,
		FirstSeen: now, LastSeen: now, LastAddr: ss.peer}
	if !s.limiter.Allow(ss.peer) {
		s.m.rateLimited.Inc()
		ss.c.Log().Info("new client not recorded: per-address first-seen limit", "client", id)
		return c, errRateLimited
	}
	got, created, err := s.reg.CloudreportRegisterSeen(ctx, c)
	if err != nil {
		ss.c.Log().Error("new client not recorded: store write failed", "client", id, "err", err)
		return c, err
	}
	if created {
		s.m.registered.Inc()
		ss.c.Log().Info("new client recorded (open registration)", "client", id)
	} else {
		s.noteSeen(id, now, ss.peer) // another connection recorded it first
	}
	return got, nil
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

func (s *Server) listUpdates(ctx context.Context) ([]updateFile, error) {
	if s.updates == nil {
		return nil, nil
	}
	out, err := s.updates.List(ctx)
	if err != nil {
		return nil, err
	}
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

func (ss *session) handleVers(ctx context.Context) ([]byte, string, bool) {
	o := &ss.s.opt
	if ss.clientID == "" && o.Registration == Known {
		return errorReply(o.Dialect, failNotAuth, ""), "error", false
	}
	files, err := ss.s.listUpdates(ctx)
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
	if ss.clientID == "" && o.Registration == Known {
		return errorReply(o.Dialect, failNotAuth, ""), "error", false
	}
	files, err := ss.s.listUpdates(ctx)
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
	case <-ss.drain:
		return errorReply(o.Dialect, failDwnl, ""), "error", false
	}
	f, size, sum, err := ss.s.openUpdate(ctx, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ss.encryptReply(Fields{{"TT", "Test"}, {"STATUS", "NOTFOUND"}, {"F", name}, {"MESSAGE", "File not found"}}, failDwnl)
	case errors.Is(err, errTooLarge):
		return ss.encryptReply(Fields{{"TT", "Test"}, {"STATUS", "TOOLARGE"}, {"F", name}, {"MESSAGE", "File too large"}}, failDwnl)
	case err != nil:
		ss.c.Log().Error("DWNL: cannot read update", "name", name, "err", err)
		return errorReply(o.Dialect, failDwnl, ""), "error", false
	}
	ss.c.Log().Info("DWNL", "client", ss.clientID, "name", name, "size", size)
	head := Fields{
		{"TT", "Test"}, {"STATUS", "OK"}, {"F", name},
		{"SIZE", strconv.FormatInt(size, 10)},
		{"SHA256", hex.EncodeToString(sum)},
		{"FILE", ""},
	}.Format()
	ss.send = func() error {
		defer f.Close()
		err := ss.streamFile(head, f, size, sum)
		if err != nil {
			ss.c.Log().Info("DWNL not completed; closing the connection", "name", name, "err", err)
		}
		return err
	}
	return nil, "ok", false
}

var (
	errTooLarge      = errors.New("cloudreport: update too large")
	errUpdateChanged = errors.New("cloudreport: update file changed while it was sent")
)

// openUpdate reads an update file once for its size and SHA-256 (the reply
// names them before the content) and opens it again for sending;
// streamFile checks the second read against both.
func (s *Server) openUpdate(ctx context.Context, name string) (io.ReadCloser, int64, []byte, error) {
	f, size, err := s.updates.Open(ctx, name)
	if err != nil {
		return nil, 0, nil, err
	}
	if size > s.opt.MaxDownload {
		f.Close()
		return nil, 0, nil, errTooLarge
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, s.opt.MaxDownload+1))
	f.Close()
	if err == nil && n > s.opt.MaxDownload {
		err = errTooLarge
	}
	if err != nil {
		return nil, 0, nil, err
	}
	f, _, err = s.updates.Open(ctx, name)
	if err != nil {
		return nil, 0, nil, err
	}
	return f, n, h.Sum(nil), nil
}

// downloadChunk is the size of each write of a DWNL reply.
const downloadChunk = 32 << 10

// streamFile writes the DWNL reply: the data reply's prefix, then the
// encrypted payload (head, then the file in base64) as it is produced, in
// writes of downloadChunk bytes, then CRLF. The file is read a second time
// and checked against size and sum; if it changed since openUpdate, the
// reply is cut short (the client sees a broken reply, never a file that
// does not match its SHA256).
func (ss *session) streamFile(head []byte, f io.Reader, size int64, sum []byte) error {
	ss.s.dlActive.Add(1)
	defer ss.s.dlActive.Add(-1)
	// The reply moves under netsvc's progressive minimum rate
	// (download_min_rate after rate_grace): a client that stops reading is
	// cut as soon as it falls behind, and its slot is freed.
	if ss.s.opt.DownloadMinRate >= 0 {
		ss.c.StartTransferRate(ss.s.opt.DownloadMinRate)
		defer ss.c.EndTransfer()
	}
	bw := bufio.NewWriterSize(ss.c, downloadChunk)
	bw.WriteString(dataReplyPrefix(ss.s.opt.Dialect))
	enc := ss.codec.EncryptWriter(bw)
	if _, err := enc.Write(head); err != nil {
		return err
	}
	b64 := base64.NewEncoder(base64.StdEncoding, enc)
	h := sha256.New()
	n, err := io.Copy(b64, io.TeeReader(io.LimitReader(f, size+1), h))
	if err != nil {
		return err
	}
	if n != size || !bytes.Equal(h.Sum(nil), sum) {
		return errUpdateChanged
	}
	if err := b64.Close(); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	bw.WriteString("\r\n")
	return bw.Flush()
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
		// Never a success for a report that was not stored: the seed's own
		// failure reply for ERRL (without the exception text).
		ss.c.Log().Error("ERRL: cannot store report; answered with an error", "client", who, "err", err)
		return errorReply(o.Dialect, failErrl, ""), "error", false
	}
	ss.s.pruneReports(ctx, ss.c)
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
		delete(s.byInit, ss.init.Text) // re-INIT: no stale entry (flaw 7 in docs/cloudreport.md, "Seed flaws the service fixes")
	}
	s.byInit[id] = ss
	return true
}

// claimClient adds ss to the live sessions of a registry id. Another live
// session of the same id is left alone, as the seed did: closing it would
// let anyone who knows an id kick that client offline. Several sessions of
// one id are counted instead.
func (s *Server) claimClient(ss *session, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss.clientID == id {
		return
	}
	s.removeSessionLocked(ss)
	set := s.byClient[id]
	if set == nil {
		set = map[*session]struct{}{}
		s.byClient[id] = set
	}
	set[ss] = struct{}{}
	if n := len(set); n > 1 {
		if n == 2 {
			s.m.multiIDs.Inc()
		}
		s.m.duplicates.Inc()
		ss.c.Log().Info("client has several live sessions", "client", id, "sessions", n)
	}
}

// removeSessionLocked takes ss out of its client's live sessions.
func (s *Server) removeSessionLocked(ss *session) {
	set := s.byClient[ss.clientID]
	if ss.clientID == "" || set == nil {
		return
	}
	if _, ok := set[ss]; !ok {
		return
	}
	delete(set, ss)
	switch len(set) {
	case 1:
		s.m.multiIDs.Dec()
	case 0:
		delete(s.byClient, ss.clientID)
	}
}

func (s *Server) dropClient(ss *session) {
	s.mu.Lock()
	s.removeSessionLocked(ss)
	s.mu.Unlock()
}

func (ss *session) release() {
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss.initialized && s.byInit[ss.init.Text] == ss {
		delete(s.byInit, ss.init.Text)
	}
	s.removeSessionLocked(ss)
}

// Sessions is the number of live sessions of a registry id.
func (s *Server) Sessions(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byClient[store.NormalizeCloudreportID(id)])
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
