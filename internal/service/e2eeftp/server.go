package e2eeftp

import (
	"bufio"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/blob"
	"gatehouse/internal/netsvc"
)

// Env is what a Server needs besides its configuration: the runtime
// dependencies Build loads or gets from the daemon (svckit.Deps).
type Env struct {
	// Identity is the server's Ed25519 key (server_id.key).
	Identity ed25519.PrivateKey
	// Keys decides which client identities may connect
	// (authorized_clients.pub, through the store's SharedKeys).
	Keys KeySet
	// Blob holds the files, already scoped to the service ("e2eeftp/").
	Blob blob.Store
	// BlobShared says that other daemons write to Blob too (blob.url is
	// set): the LIST cache then keeps a folder for SharedListTTL only.
	BlobShared bool
	// Replay, when set, records every accepted client ephemeral key so that
	// all daemons sharing it refuse a replayed hello, across crashes (nil:
	// the in-memory front only).
	Replay ReplayLog
	// Log receives server-wide warnings (nil: discarded).
	Log *slog.Logger
}

// DefaultMaxFileSize is max_file_size's default (DefaultConfig).
const DefaultMaxFileSize = 4 << 30

// DefaultReplayCacheSize is replay_cache_size's default (DefaultConfig).
const DefaultReplayCacheSize = 1 << 18

// Server is the e2eeftp netsvc.Handler.
type Server struct {
	cfg    Config
	id     ed25519.PrivateKey
	auth   KeySet
	store  blob.Store
	replay *replayGuard
	lists  *listCache
	log    *slog.Logger
	// rand feeds the ephemeral keys and IVs (cfg.Rand or crypto/rand);
	// now is cfg.Now or time.Now.
	rand io.Reader
	now  func() time.Time
}

// New is the one constructor: a server for cfg (validated, kept as the
// server's configuration) with the dependencies in env. MaxFileSize <= 0
// means DefaultMaxFileSize; ReplayCacheSize <= 0 turns the replay defence
// off, store log included (Build warns about it).
func New(cfg Config, env Env) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if env.Identity == nil || env.Keys == nil || env.Blob == nil {
		return nil, errors.New("e2eeftp: New needs an identity, a key set and a blob store")
	}
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = DefaultMaxFileSize
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rnd, now := cfg.Rand, cfg.Now
	if rnd == nil {
		rnd = rand.Reader
	}
	if now == nil {
		now = time.Now
	}
	var replay *replayGuard
	if cfg.ReplayCacheSize > 0 {
		replay = &replayGuard{front: newReplayCache(cfg.ReplayCacheSize), db: env.Replay,
			window: cfg.ReplayWindow, now: now, log: log}
	}
	return &Server{cfg: cfg, id: env.Identity, auth: env.Keys, store: env.Blob,
		replay: replay, lists: newListCache(env.Blob, env.BlobShared, now),
		log: log, rand: rnd, now: now}, nil
}

// PruneReplay deletes the stored client ephemeral keys older than the
// replay window and returns how many went.
func (s *Server) PruneReplay(ctx context.Context) (int64, error) { return s.replay.prune(ctx) }

// RunReplayPruner prunes at once and then every interval until ctx ends.
func (s *Server) RunReplayPruner(ctx context.Context, every time.Duration) {
	if s.replay == nil || s.replay.db == nil || every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.PruneReplay(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("pruning the replay log failed", "err", err)
		} else if n > 0 {
			s.log.Debug("pruned the replay log", "keys", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Run is the service's background work until ctx ends: the replay log's
// pruner and, when the key set refreshes itself (SharedKeys), its refresh.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if r, ok := s.auth.(interface{ Run(context.Context) }); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Run(ctx)
		}()
	}
	s.RunReplayPruner(ctx, s.cfg.ReplayPruneInterval)
	wg.Wait()
	return nil
}

const sharedFolder = "received/"

func (s *Server) folder(client [32]byte) string {
	if s.cfg.PerClientFolders {
		return "clients/" + hex.EncodeToString(client[:]) + "/"
	}
	return sharedFolder
}

// Commands is HLIST's body: the command names in the original's order.
func (s *Server) Commands() []string {
	if !s.cfg.AllowDelete {
		return []string{"SEND", "GET", "LIST", "HLIST"}
	}
	return []string{"SEND", "GET", "LIST", "DELETE", "HLIST"}
}

// requestNames are the names ServeConn passes to Conn.Request: the
// commands, DELETE included when allow_delete is off (its refusals are
// counted under it), and INVALID for lines that name no command.
var requestNames = []string{"SEND", "GET", "LIST", "DELETE", "HLIST", "INVALID"}

// session is one authenticated connection.
type session struct {
	s *Server
	c *netsvc.Conn
	r *bufio.Reader
	// secret is the X25519 secret; keys are derived from it only when a
	// command carries a body (SEND, GET), not for LIST, DELETE or HLIST.
	secret []byte
	keys   *Keys
	client [32]byte
	log    *slog.Logger
	// err is the first error that ended the command early (a deadline, a
	// reset, a storage failure); ServeConn returns it.
	err error
}

func (ss *session) setErr(format string, err error) {
	if ss.err == nil {
		ss.err = fmt.Errorf(format+": %w", err)
	}
}

// peerFailed records an I/O error with the client that ends the session
// early: a deadline (timeout) or a connection that broke or ended (closed).
func (ss *session) peerFailed(format string, err error) netsvc.Status {
	ss.setErr(format, err)
	return peerStatus(err)
}

// storeFailed records a storage error that ends the session unanswered.
func (ss *session) storeFailed(format string, err error) netsvc.Status {
	ss.setErr(format, err)
	return netsvc.StatusServerError
}

func peerStatus(err error) netsvc.Status {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return netsvc.StatusTimeout
	}
	return netsvc.StatusClosed
}

// ServeConn runs one connection: handshake, one command, close. Every error
// that closes the connection early, deadlines included, is returned
// (wrapped with %w) so that netsvc can tell which deadline ended it.
func (s *Server) ServeConn(ctx context.Context, c *netsvc.Conn) error {
	// The handshake deadline covers the two hellos only.
	c.StartHandshake()
	r := readerPool.Get().(*bufio.Reader)
	r.Reset(c)
	defer func() {
		r.Reset(nil)
		readerPool.Put(r)
	}()
	sess, err := s.handshake(ctx, c, r)
	if err != nil {
		c.HandshakeFailed(err.Error())
		return fmt.Errorf("e2eeftp: handshake: %w", err) // close, nothing sent
	}
	c.EndHandshake()
	// The original client reads and encrypts the whole file only now,
	// after the handshake and before it sends "SEND|name|size", which takes
	// minutes for a multi-GiB file on a slow machine. So the wait for the
	// command line is bounded by idle_timeout (only authenticated clients
	// get here), and once its first byte is in, the rest of the line must
	// follow within message_timeout, so it cannot be trickled.
	if _, err := r.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // the original also returns silently on an empty header
		}
		return fmt.Errorf("e2eeftp: waiting for the command line: %w", err)
	}
	c.StartMessage()
	line, err := ReadLine(r, MaxHeaderLine)
	c.EndMessage()
	if errors.Is(err, io.EOF) {
		return nil // the original also returns silently on an empty header
	}
	if errors.Is(err, ErrLineTooLong) {
		_, done := c.Request(ctx, "INVALID")
		sess.log.Info("request refused: command line too long", "code", 400)
		done(sess.answer(StatusMalformed, netsvc.StatusClientError))
		return err
	}
	if err != nil {
		return fmt.Errorf("e2eeftp: reading header: %w", err)
	}
	req, err := ParseRequest(line)
	if err != nil {
		_, done := c.Request(ctx, "INVALID")
		sess.log.Info("request refused: command line is not UTF-8", "code", 400)
		done(sess.answer(StatusMalformed, netsvc.StatusClientError))
		return sess.err
	}
	cmd := req.Command
	if cmd == "DELETE" && !s.cfg.AllowDelete {
		// A policy refusal, answered as the original answers an unknown
		// command.
		_, done := c.Request(ctx, "DELETE")
		sess.log.Info("DELETE refused: allow_delete is off", "code", 400)
		done(sess.answer(StatusInvalidCommand, netsvc.StatusRefused))
		return sess.err
	}
	known := false
	for _, k := range s.Commands() {
		known = known || k == cmd
	}
	if !known {
		_, done := c.Request(ctx, "INVALID")
		sess.log.Info("invalid command", "command", cmd, "code", 400)
		done(sess.answer(StatusInvalidCommand, netsvc.StatusClientError))
		return sess.err
	}
	// ctx is cancelled as soon as shutdown begins, but a started request
	// must finish: a network store (S3) would otherwise cut a GET's body
	// mid-stream after its 200 line went out. Request's context is
	// detached from that cancellation.
	rctx, done := c.Request(ctx, cmd)
	done(sess.dispatch(rctx, req))
	return sess.err
}

func (s *Server) handshake(ctx context.Context, c *netsvc.Conn, r *bufio.Reader) (*session, error) {
	h, err := ReadHello(r)
	if err != nil {
		return nil, err
	}
	if !s.auth.Contains(h.Identity) {
		return nil, errors.New("unauthorised client identity " + Fingerprint(h.Identity[:]))
	}
	if !h.Verify() {
		return nil, fmt.Errorf("%w (client %s)", ErrBadSignature, Fingerprint(h.Identity[:]))
	}
	// Tell the replay log that a key will come once the public-key work
	// below is done, so that overlapping handshakes share one commit
	// (store.DB.E2EEFTPReplayAhead). Only a hello signed by an authorised
	// identity is announced (after Verify: a forged hello naming one
	// cannot hold batches open), and the wait is bounded anyway.
	ann := s.replay.ahead()
	defer ann.Withdraw()
	eph, err := newEphemeral(s.rand)
	if err != nil {
		return nil, err
	}
	// Unlike the original, the peer key is checked before our hello goes
	// out, so a failing handshake never sees a byte from us.
	secret, err := sharedSecret(eph, h.Ephemeral)
	if err != nil {
		return nil, err
	}
	if err := s.replay.check(ctx, h.Ephemeral, ann); err != nil {
		switch {
		case errors.Is(err, errReplay):
		case ctx.Err() != nil:
			// Shutdown ended the handshake while its key was being
			// recorded: not an outage of the log.
			c.Log().Info("hello not answered: the daemon is shutting down", "client", Fingerprint(h.Identity[:]))
		default:
			c.Log().Error("refusing the hello: replay log unavailable", "client", Fingerprint(h.Identity[:]), "err", err)
		}
		return nil, fmt.Errorf("%w (client %s)", err, Fingerprint(h.Identity[:]))
	}
	var out [HelloLen]byte
	hello := NewHello(s.id, eph.PublicKey())
	hello.marshalTo(&out)
	if _, err := c.Write(out[:]); err != nil {
		return nil, fmt.Errorf("writing server hello: %w", err)
	}
	fp, comment := Fingerprint(h.Identity[:]), ""
	if kc, ok := s.auth.(keyComments); ok {
		comment = kc.Comment(h.Identity)
	}
	c.SetIdentity(clientName(fp, comment))
	log := c.Log().With("client", fp)
	if comment != "" {
		log = log.With("client_comment", comment)
	}
	return &session{s: s, c: c, r: r, secret: secret, client: h.Identity, log: log}, nil
}

// sessionKeys derives the session's keys on first use.
func (ss *session) sessionKeys() (*Keys, error) {
	if ss.keys == nil {
		k, err := DeriveKeys(ss.secret)
		if err != nil {
			return nil, err
		}
		ss.keys = &k
	}
	return ss.keys, nil
}

func newEphemeral(r io.Reader) (*ecdh.PrivateKey, error) {
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("e2eeftp: random: %w", err)
	}
	return ecdh.X25519().NewPrivateKey(b[:])
}

// reply writes one status line; a failed write only ends the connection.
// A status line is never under a body's rate rule: the time the server
// took to store a body must not count against the client.
func (ss *session) reply(line string) error {
	ss.c.EndTransfer()
	if _, err := io.WriteString(ss.c, line); err != nil {
		ss.log.Debug("writing reply", "err", err)
		ss.setErr("e2eeftp: writing reply", err)
		return err
	}
	return nil
}

// answer writes one status line and returns st, or the peer's status
// (timeout, closed) when the line could not be written.
func (ss *session) answer(line string, st netsvc.Status) netsvc.Status {
	if err := ss.reply(line); err != nil {
		return peerStatus(err)
	}
	return st
}

// dispatch runs one known command and returns its metrics status.
func (ss *session) dispatch(ctx context.Context, req Request) netsvc.Status {
	f := req.Fields
	switch req.Command {
	case "SEND":
		if len(f) < 2 {
			return ss.answer(StatusMalformed, netsvc.StatusClientError)
		}
		size, err := ParseSize(f[1])
		if err != nil {
			return ss.answer(StatusMalformed, netsvc.StatusClientError)
		}
		return ss.send(ctx, f[0], size)
	case "GET":
		if len(f) < 1 {
			return ss.answer(StatusMalformed, netsvc.StatusClientError)
		}
		return ss.get(ctx, f[0])
	case "DELETE":
		if len(f) < 1 {
			return ss.answer(StatusMalformed, netsvc.StatusClientError)
		}
		return ss.delete(ctx, f[0])
	case "LIST":
		return ss.list(ctx)
	case "HLIST":
		body := strings.Join(ss.s.Commands(), "\n")
		return ss.answer(StatusOK(int64(len(body)))+body, netsvc.StatusOK)
	}
	return ss.answer(StatusInvalidCommand, netsvc.StatusClientError)
}

func (ss *session) send(ctx context.Context, raw string, size int64) netsvc.Status {
	name := raw
	if size > BlobLen(ss.s.cfg.MaxFileSize) {
		// Too big to drain: answer and close; the client may see a reset.
		ss.log.Info("SEND refused: too large", "name", name, "size", size, "code", 400)
		return ss.answer(StatusMalformed, netsvc.StatusRefused)
	}
	// The body, drained or stored, moves under the progressive minimum
	// rate (min_rate after rate_grace), so a trickling SEND loses its slot.
	ss.c.StartTransfer()
	defer ss.c.EndTransfer()
	name, nerr := CleanName(name)
	if nerr != nil {
		// Drain the body first so the stock client, which writes it all
		// before reading, gets the answer instead of a reset.
		ss.log.Warn("SEND refused: bad file name", "name", raw, "reason", nerr, "code", 400)
		if _, err := io.CopyN(io.Discard, ss.r, size); err != nil {
			return ss.peerFailed("e2eeftp: SEND: draining a refused body", err)
		}
		return ss.answer(StatusMalformed, netsvc.StatusClientError)
	}
	w, err := ss.s.store.Create(ctx, ss.s.folder(ss.client)+name)
	if err != nil {
		return ss.writeFailed("create", name, err, size)
	}
	defer w.Abort()
	keys, err := ss.sessionKeys()
	if err != nil {
		return ss.storeFailed("e2eeftp: SEND", err)
	}
	body := &countingReader{r: ss.r}
	n, err := keys.Open(w, body, size)
	var werr *WriteError
	switch {
	case errors.Is(err, ErrDecrypt):
		// The client's fault (or an attacker's), not the server's: a
		// client error, whatever the original's code says.
		ss.log.Warn("SEND: body failed verification; nothing stored", "name", name, "size", size, "code", 500)
		return ss.answer(StatusDecryptionFailed, netsvc.StatusClientError)
	case errors.As(err, &werr):
		return ss.writeFailed("write", name, werr.Err, size-body.n)
	case err != nil:
		// Short body: the original closed without a reply too.
		ss.log.Info("SEND: body cut short", "name", name, "err", err)
		return ss.peerFailed("e2eeftp: SEND: reading body", err)
	}
	err = w.Commit()
	ss.s.lists.note(ctx, ss.s.folder(ss.client), name)
	if err != nil {
		return ss.writeFailed("commit", name, err, 0)
	}
	ss.log.Info("transfer complete", "name", name, "bytes", n)
	return ss.answer(StatusTransferComplete, netsvc.StatusOK)
}

// storeReader remembers the error of the blob being sent, to tell a
// storage failure from the client's connection failing.
type storeReader struct {
	r   io.Reader
	err error
}

func (s *storeReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

func (ss *session) get(ctx context.Context, name string) netsvc.Status {
	if name == "" {
		// The original opened its folder itself and failed reading it.
		return ss.answer(StatusServerReadError, netsvc.StatusClientError)
	}
	raw := name
	name, err := CleanName(raw)
	if err != nil {
		ss.log.Warn("GET refused: bad file name", "name", raw, "reason", err, "code", 404)
		return ss.answer(StatusNotFoundName(raw), netsvc.StatusClientError)
	}
	rc, info, err := ss.s.store.Open(ctx, ss.s.folder(ss.client)+name)
	if errors.Is(err, blob.ErrNotExist) {
		return ss.answer(StatusNotFoundName(raw), netsvc.StatusClientError)
	}
	if err != nil {
		ss.log.Error("GET: open failed", "name", name, "err", err, "code", 500)
		return ss.answer(StatusServerReadError, netsvc.StatusServerError)
	}
	defer rc.Close()
	iv := make([]byte, 16)
	if _, err := io.ReadFull(ss.s.rand, iv); err != nil {
		ss.log.Error("GET: random source failed", "err", err, "code", 500)
		return ss.answer(StatusServerReadError, netsvc.StatusServerError)
	}
	// A reader that does not keep up min_rate loses its slot (the body
	// goes out under the progressive minimum rate, as SEND's comes in).
	keys, err := ss.sessionKeys()
	if err != nil {
		return ss.storeFailed("e2eeftp: GET", err)
	}
	src := &storeReader{r: rc}
	ss.c.StartTransfer()
	err = keys.seal(ss.c, []byte(StatusOK(BlobLen(info.Size))), src, info.Size, iv)
	ss.c.EndTransfer()
	if err != nil {
		// The header may be out already; all we can do is close.
		ss.log.Error("GET: sending failed", "name", name, "err", err)
		if src.err != nil || errors.Is(err, io.ErrUnexpectedEOF) {
			return ss.storeFailed("e2eeftp: GET: reading the file", err)
		}
		return ss.peerFailed("e2eeftp: GET: sending body", err)
	}
	ss.log.Info("file sent", "name", name, "bytes", info.Size)
	return netsvc.StatusOK
}

func (ss *session) delete(ctx context.Context, name string) netsvc.Status {
	raw := name
	name, nerr := CleanName(raw)
	if nerr != nil {
		ss.log.Warn("DELETE refused: bad file name", "name", raw, "reason", nerr, "code", 404)
		return ss.answer(StatusNotFound, netsvc.StatusClientError)
	}
	folder := ss.s.folder(ss.client)
	err := ss.s.store.Remove(ctx, folder+name)
	if err == nil || !errors.Is(err, blob.ErrNotExist) {
		ss.s.lists.note(ctx, folder, name)
	}
	if errors.Is(err, blob.ErrNotExist) {
		return ss.answer(StatusNotFound, netsvc.StatusClientError)
	}
	if err != nil {
		// As in the original, a filesystem error ends the connection unanswered.
		ss.log.Error("DELETE failed", "name", name, "err", err)
		return ss.storeFailed("e2eeftp: DELETE", err)
	}
	ss.log.Info("file deleted", "name", name)
	return ss.answer(StatusFileDeleted, netsvc.StatusOK)
}

// list sends the folder's names (listing: from the LIST cache, or the
// blob store). The header carries the body's length in BYTES; the original
// counted characters, which desynchronised its own client on non-ASCII
// names (identical for ASCII).
func (ss *session) list(ctx context.Context) netsvc.Status {
	reply, err := ss.s.listing(ctx, ss.s.folder(ss.client))
	if err != nil {
		ss.log.Error("LIST failed", "err", err)
		return ss.storeFailed("e2eeftp: LIST", err)
	}
	if _, err := ss.c.Write(reply); err != nil {
		ss.log.Debug("writing reply", "err", err)
		return ss.peerFailed("e2eeftp: writing reply", err)
	}
	return netsvc.StatusOK
}
