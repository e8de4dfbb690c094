package backup

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"sync"
	"time"

	"gatehouse/internal/blob"
	"gatehouse/internal/legacycrypto"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/store"
)

// Env is what a Server needs besides its configuration: the runtime
// dependencies Build fills from the daemon (svckit.Deps) and the master key
// it loads.
type Env struct {
	// Store keeps clients, files and versions (*store.DB).
	Store Store
	// Blobs keeps file contents, already scoped to the service.
	Blobs blob.Store
	// MasterKey (32 bytes) seals the clients' AES keys in the store.
	MasterKey []byte
	// Log receives the background sweep's messages (nil: discarded).
	Log *slog.Logger
}

const (
	// smallLimit bounds every payload but a file's: the largest legitimate
	// one is a 1026 with an RSA-4096 key (255 + 550 bytes).
	smallLimit = 4096
	// chunkSize is how much of an upload is read, decrypted and written at
	// once; memory per upload stays at this whatever the file size.
	chunkSize  = 512 << 10
	failWindow = time.Hour
)

// Server serves the backup protocol. It is safe for concurrent use: each
// connection is one request, and all shared state lives in the store.
type Server struct {
	cfg   Config
	db    Store
	blobs blob.Store
	seal  *sealer
	log   *slog.Logger

	regLimit *netsvc.AddrLimiter

	// afterCommit, when set (tests), runs between an upload's blob commit
	// and its row write: the window two racing uploads of one name meet in.
	afterCommit func()
}

// New returns a Server for cfg (validated; kept as the server's
// configuration) that keeps metadata in env.Store and files in env.Blobs.
// Every random byte it draws (client ids, AES keys, the sealer's nonces,
// OAEP padding, blob names) comes from cfg.Rand and every time it reads from
// cfg.Now (nil: crypto/rand, time.Now). Keys whose zero value the TOML
// documents as "the default" get it here (docs/backup.md).
func New(cfg Config, env Env) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if env.Store == nil || env.Blobs == nil {
		return nil, errors.New("backup: store and blob store are required")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sl, err := newSealer(env.MasterKey, cfg.Rand)
	if err != nil {
		return nil, err
	}
	def := DefaultConfig()
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = def.MaxFileSize
	}
	if cfg.MaxFileSize > 1<<32-1-FileHeaderSize {
		cfg.MaxFileSize = 1<<32 - 1 - FileHeaderSize
	}
	if cfg.MinUploadRate <= 0 {
		cfg.MinUploadRate = def.MinUploadRate
	}
	if cfg.PaddingFailureLimit == 0 {
		cfg.PaddingFailureLimit = def.PaddingFailureLimit
	}
	if cfg.KeepVersions == 0 {
		cfg.KeepVersions = def.KeepVersions
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, db: env.Store, blobs: env.Blobs, seal: sl, log: log, regLimit: registerLimiter(cfg)}, nil
}

// errNoReply ends a connection without a response, as the original did for
// framing errors: there is nothing sensible to answer.
var errNoReply = errors.New("backup: no reply")

// ServeConn reads exactly one request, answers it and returns (closing the
// connection), like the original server. Header and small payloads must
// arrive within the handshake deadline; a file body must keep up
// min_upload_rate (see uploadBody).
func (s *Server) ServeConn(ctx context.Context, c *netsvc.Conn) error {
	c.StartHandshake()
	var hb [RequestHeaderSize]byte
	if _, err := io.ReadFull(c, hb[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("backup: request header: %w", err)
	}
	h, _ := ParseRequestHeader(hb[:])
	// ctx is cancelled as soon as a drain begins, but a request that has
	// started is let finish (an upload may still be streaming): its store
	// and blob calls run under hctx, which Request detaches from that
	// cancellation. The connection's deadlines still bound it.
	hctx, done := c.Request(ctx, CodeName(h.Code))
	var rq reqState
	// Blobs the request made obsolete are deleted after the answer: the
	// client need not wait for the unlink of a large file.
	defer func() {
		for _, name := range rq.superseded {
			s.removeBlob(hctx, c, name)
		}
	}()
	code, payload, err := s.handle(hctx, c, h, &rq)
	if code == 0 {
		done(rq.statusOf(code, err))
		if err == nil {
			err = errNoReply
		}
		return err
	}
	if code == respStreamed {
		// restore wrote its answer itself, as it went.
		done(rq.statusOf(code, err))
		return err
	}
	if _, werr := c.Write(Response(code, payload)); werr != nil {
		done(ioStatus(werr))
		return fmt.Errorf("backup: write response: %w", werr)
	}
	done(rq.statusOf(code, err))
	return err
}

func (s *Server) handle(ctx context.Context, c *netsvc.Conn, h RequestHeader, rq *reqState) (uint16, []byte, error) {
	if h.Code == CodeFile {
		if certMismatch(c, h) {
			// Answered at once, the body unread, like an oversized file.
			return rq.answer(netsvc.StatusRefused, RespError)
		}
		return s.handleFile(ctx, c, h, rq)
	}
	if h.PayloadSize > smallLimit {
		c.Log().Info("request refused: payload too large", "code", h.Code, "size", h.PayloadSize)
		rq.status = netsvc.StatusRefused
		return 0, nil, fmt.Errorf("backup: %d-byte payload for code %d", h.PayloadSize, h.Code)
	}
	p := make([]byte, h.PayloadSize)
	if _, err := io.ReadFull(c, p); err != nil {
		return 0, nil, fmt.Errorf("backup: payload: %w", err)
	}
	c.EndHandshake()
	if certMismatch(c, h) {
		if h.Code == CodeReconnect {
			return RespReconnectDenied, nil, nil
		}
		return rq.answer(netsvc.StatusRefused, RespError)
	}
	if len(p) == 0 {
		// The original dropped these silently; an explicit error is what
		// every client here would make of the silence anyway.
		return RespError, nil, nil
	}
	if h.Code != CodeRegister {
		c.SetIdentity(h.ClientID.String()) // what the client claims; shown in /connz
	}
	switch h.Code {
	case CodeRegister:
		return s.register(ctx, c, rq, p)
	case CodePublicKey:
		return s.publicKey(ctx, c, rq, h.ClientID, p)
	case CodeReconnect:
		return s.reconnect(ctx, c, rq, h.ClientID, p)
	case CodeCRCOK, CodeCRCRetry, CodeCRCFail:
		return s.crcStatus(ctx, c, rq, h, p)
	case CodeList:
		return s.list(ctx, c, rq, h.ClientID, p)
	case CodeRestore:
		return s.restore(ctx, c, rq, h.ClientID, p)
	}
	c.Log().Info("unknown request code", "code", h.Code)
	return RespError, nil, nil
}

func (s *Server) register(ctx context.Context, c *netsvc.Conn, rq *reqState, p []byte) (uint16, []byte, error) {
	if !s.allowRegister(c) {
		rq.status = netsvc.StatusRefused
		return 0, nil, errRegisterLimited
	}
	name, err := ParseName(p)
	if err == nil {
		err = checkClientName(name)
	}
	if err != nil {
		c.Log().Info("register refused", "err", err)
		return RespError, nil, nil
	}
	for range 3 {
		var id ClientID
		if _, err := io.ReadFull(s.cfg.Rand, id[:]); err != nil {
			return RespError, nil, err
		}
		id[6] = id[6]&0x0f | 0x40 // UUID version 4
		id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
		err = s.db.BackupRegister(ctx, id.String(), name, s.cfg.Now())
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			// No answer, as for a network error: the C++ client retries,
			// where a 2107 would crash it (docs/backup.md, "Client quirks the server
			// tolerates").
			logStoreFailure(c.Log(), "register failed", err)
			return rq.fail(err)
		}
		c.Log().Info("client registered", "client", id.String(), "name", name)
		return RespRegistered, id[:], nil
	}
	return RespError, nil, errors.New("backup: could not draw a free client id")
}

func (s *Server) publicKey(ctx context.Context, c *netsvc.Conn, rq *reqState, id ClientID, p []byte) (uint16, []byte, error) {
	if len(p) <= NameSize {
		c.Log().Info("public key refused: no key in payload", "client", id.String())
		return RespError, nil, nil
	}
	name, err := ParseName(p[:NameSize])
	if err != nil {
		c.Log().Info("public key refused", "client", id.String(), "err", err)
		return RespError, nil, nil
	}
	der := p[NameSize:]
	pub, err := ParsePublicKey(der)
	if err != nil {
		c.Log().Info("public key refused", "client", id.String(), "err", err)
		return RespError, nil, nil
	}
	// One read decides (docs/backup.md, "Store round trips"): a retry
	// with the stored key (a lost answer) writes nothing but a stale
	// last_seen; only a client without a key takes the install statement.
	cl, err := s.db.BackupClient(ctx, id.String())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		// A failure of ours is not a refusal: no answer, the client
		// retries the request.
		logStoreFailure(c.Log().With("client", id.String()), "public key: store", err)
		return rq.fail(err)
	}
	if err != nil || cl.Name != name {
		return s.keyRefused(c, rq, id, err == nil)
	}
	var aesKey []byte
	switch {
	case cl.PublicKey != nil && bytes.Equal(cl.PublicKey, der):
		// A retry of an exchange whose answer was lost: same key, same AES key.
		s.seen(ctx, c, cl, "public key: last_seen")
		if aesKey, err = s.seal.open(cl.AESKey, cl.ID); err != nil {
			c.Log().Error("public key: stored AES key unusable", "client", cl.ID, "err", err)
			return rq.answer(netsvc.StatusServerError, RespError)
		}
	case cl.PublicKey != nil && !s.cfg.AllowKeyReplace:
		c.Log().Warn("public key refused: client already has a different key", "client", cl.ID)
		return rq.answer(netsvc.StatusRefused, RespError)
	default:
		var code uint16
		var payload []byte
		if aesKey, code, payload, err = s.installKey(ctx, c, rq, id, name, der, cl); aesKey == nil {
			return code, payload, err
		}
	}
	wrapped, err := WrapKey(s.cfg.Rand, pub, aesKey)
	if err != nil {
		return RespError, nil, err
	}
	c.Log().Info("key exchanged", "client", cl.ID, "rsa_bits", pub.N.BitLen())
	return RespAESKey, append(id[:], wrapped...), nil
}

// installKey draws and seals a new AES key and stores it with der for
// the client cl read without a key (or, with allow_key_replace, with
// another one). It returns the AES key to send, or nil and the answer.
// The statements compare and swap: a concurrent 1026 with the same key
// that won gets its AES key, one with another key loses.
func (s *Server) installKey(ctx context.Context, c *netsvc.Conn, rq *reqState, id ClientID, name string, der []byte, cl store.BackupClient) ([]byte, uint16, []byte, error) {
	aesKey := make([]byte, AESKeySize)
	if _, err := io.ReadFull(s.cfg.Rand, aesKey); err != nil {
		return nil, RespError, nil, err
	}
	sealed, err := s.seal.seal(aesKey, id.String())
	if err != nil {
		return nil, RespError, nil, err
	}
	if cl.PublicKey == nil {
		got, installed, err := s.db.BackupOfferKey(ctx, id.String(), name, bytes.Clone(der), sealed, s.cfg.Now())
		if errors.Is(err, store.ErrNotFound) {
			// Removed or renamed since the read: a second look tells the log.
			_, gerr := s.db.BackupClient(ctx, id.String())
			code, payload, err := s.keyRefused(c, rq, id, gerr == nil)
			return nil, code, payload, err
		}
		if err != nil {
			logStoreFailure(c.Log().With("client", id.String()), "public key: store", err)
			code, payload, err := rq.fail(err)
			return nil, code, payload, err
		}
		switch {
		case installed:
			return aesKey, 0, nil, nil
		case bytes.Equal(got.PublicKey, der):
			// A concurrent exchange with the same key installed it first.
			if aesKey, err = s.seal.open(got.AESKey, got.ID); err != nil {
				c.Log().Error("public key: stored AES key unusable", "client", got.ID, "err", err)
				code, payload, err := rq.answer(netsvc.StatusServerError, RespError)
				return nil, code, payload, err
			}
			return aesKey, 0, nil, nil
		case !s.cfg.AllowKeyReplace:
			c.Log().Warn("public key refused: client already has a different key", "client", got.ID)
			code, payload, err := rq.answer(netsvc.StatusRefused, RespError)
			return nil, code, payload, err
		}
		cl = got
	}
	if err := s.db.BackupSetKeys(ctx, cl.ID, bytes.Clone(der), sealed, cl.PublicKey, s.cfg.Now()); err != nil {
		if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			logStoreFailure(c.Log().With("client", cl.ID), "public key: store", err)
			code, payload, err := rq.fail(err)
			return nil, code, payload, err
		}
		c.Log().Warn("public key not stored", "client", cl.ID, "err", err)
		code, payload, err := rq.answer(netsvc.StatusRefused, RespError)
		return nil, code, payload, err
	}
	c.Log().Warn("client public key replaced; AES key rotated", "client", cl.ID)
	return aesKey, 0, nil, nil
}

// lastSeenGrain is how stale a client's last_seen may get before a 1026
// retry or a 1027 writes it (docs/backup.md, "Store round trips"): below
// it those requests are a read only.
const lastSeenGrain = time.Minute

// seen writes cl's last_seen when the value read is lastSeenGrain old or
// older. A failed write (a full disk) is logged, not fatal: a client must
// still be able to log in.
func (s *Server) seen(ctx context.Context, c *netsvc.Conn, cl store.BackupClient, what string) {
	now := s.cfg.Now()
	if now.Sub(cl.LastSeen) < lastSeenGrain {
		return
	}
	if _, err := s.db.BackupSeen(ctx, cl.ID, now, now.Add(-lastSeenGrain)); err != nil {
		logStoreFailure(c.Log().With("client", cl.ID), what, err)
	}
}

// keyRefused answers a 1026 for an id that is not registered under the
// name it gave; known tells the log which.
func (s *Server) keyRefused(c *netsvc.Conn, rq *reqState, id ClientID, known bool) (uint16, []byte, error) {
	if known {
		// The original accepted any name for a known id, so anyone who saw
		// an id could take the account over.
		c.Log().Warn("public key refused: name does not match the registered one", "client", id.String())
	} else {
		c.Log().Info("public key refused: unknown client", "client", id.String())
	}
	return rq.answer(netsvc.StatusRefused, RespError)
}

func (s *Server) reconnect(ctx context.Context, c *netsvc.Conn, rq *reqState, id ClientID, p []byte) (uint16, []byte, error) {
	name, err := ParseName(p[:min(len(p), NameSize)])
	if err != nil {
		c.Log().Info("reconnect denied", "client", id.String(), "err", err)
		return RespReconnectDenied, nil, nil
	}
	// One read: the client's keys, if this id is registered under this
	// name and has them; last_seen is written only when stale.
	cl, err := s.db.BackupClient(ctx, id.String())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		// Both the C++ client and Login forget their identity on a
		// 2106 or 2107 here; a failure of ours must not make them do
		// that, so no answer (they retry, then give up keeping it).
		c.Log().Error("reconnect: store", "err", err)
		return rq.fail(err)
	}
	if err != nil {
		c.Log().Info("reconnect denied: unknown client", "client", id.String())
		return RespReconnectDenied, nil, nil
	}
	if !cl.HasKeys() || cl.Name != name {
		c.Log().Info("reconnect denied", "client", cl.ID, "has_keys", cl.HasKeys(), "name_matches", cl.Name == name)
		return RespReconnectDenied, nil, nil
	}
	s.seen(ctx, c, cl, "reconnect: last_seen")
	pub, err := ParsePublicKey(cl.PublicKey)
	if err != nil {
		c.Log().Error("reconnect: stored public key unusable", "client", cl.ID, "err", err)
		return rq.answer(netsvc.StatusServerError, RespError)
	}
	aesKey, err := s.seal.open(cl.AESKey, cl.ID)
	if err != nil {
		c.Log().Error("reconnect: stored AES key unusable", "client", cl.ID, "err", err)
		return rq.answer(netsvc.StatusServerError, RespError)
	}
	wrapped, err := WrapKey(s.cfg.Rand, pub, aesKey)
	if err != nil {
		return RespError, nil, err
	}
	c.Log().Info("client reconnected", "client", cl.ID)
	return RespReconnected, append(id[:], wrapped...), nil
}

// crcStatus records the client's verdict. The answer is always 2104, as
// the original's, whether or not anything matched: the client does
// nothing with it.
func (s *Server) crcStatus(ctx context.Context, c *netsvc.Conn, rq *reqState, h RequestHeader, p []byte) (uint16, []byte, error) {
	name, err := ParseName(p[:min(len(p), NameSize)])
	var stored string
	if err == nil {
		stored, err = storedName(name)
	}
	if err != nil {
		c.Log().Info("crc status ignored: bad file name", "code", h.Code, "err", err)
		return rq.answer(netsvc.StatusClientError, RespAck)
	}
	id := h.ClientID.String()
	now := s.cfg.Now()
	switch h.Code {
	case CodeCRCOK:
		// The upload becomes a new version; earlier ones stay (a 1029
		// carries only a name, so anyone who knows an id can send it).
		version, err := s.db.BackupConfirmFile(ctx, id, stored, now)
		if err != nil {
			c.Log().Error("crc ok: store", "err", err)
			rq.status = netsvc.StatusServerError
		}
		c.Log().Info("file verified by client", "client", id, "file", stored, "version", version)
	case CodeCRCRetry:
		c.Log().Info("client will retry upload", "client", id, "file", stored)
	case CodeCRCFail:
		ok, displaced, err := s.db.BackupFailFile(ctx, id, stored, now)
		if err != nil {
			c.Log().Error("crc fail: store", "err", err)
			rq.status = netsvc.StatusServerError
		}
		rq.addBlob(displaced)
		c.Log().Warn("client gave up on upload", "client", id, "file", stored, "discarded", ok)
	}
	return RespAck, nil, nil
}

// uploadBlobName gives every upload its own blob, so a new upload never
// overwrites the copy a row describes (the verified one stays until the
// client confirms the new one), and two uploads of one name racing each
// other cannot leave the row describing one and the blob holding the other.
// The client's file name is not part of it: rows map names to blobs, so any
// base name a client sends (".tmp-x" included) makes a valid blob name. The
// "files/" folder keeps these apart from the "<client>/<file>" blobs of
// rows written before.
func uploadBlobName(rnd io.Reader, clientID string, now time.Time) (string, error) {
	var r [6]byte
	if _, err := io.ReadFull(rnd, r[:]); err != nil {
		return "", fmt.Errorf("backup: blob name: %w", err)
	}
	return fmt.Sprintf("files/%s/%s-%x", clientID, now.UTC().Format("20060102T150405.000000000Z"), r), nil
}

// addBlob notes a blob the request made obsolete, removed after the answer.
func (r *reqState) addBlob(name string) {
	if name != "" {
		r.superseded = append(r.superseded, name)
	}
}

// removeBlob deletes a blob the store no longer refers to. A failure only
// leaves an orphan behind, so it is logged, not returned.
func (s *Server) removeBlob(ctx context.Context, c *netsvc.Conn, name string) {
	if name == "" {
		return
	}
	if err := s.blobs.Remove(ctx, name); err != nil && !errors.Is(err, blob.ErrNotExist) {
		c.Log().Error("removing superseded blob", "blob", name, "err", err)
	}
}

// handleFile streams a 1028: the ciphertext is CRC-checked and decrypted
// chunk by chunk into a blob that appears only when complete and padded
// correctly. 2103 is sent only for a stored file; anything else gets 2107
// after the rest of the payload was read, so the client sees the answer
// instead of a reset.
func (s *Server) handleFile(ctx context.Context, c *netsvc.Conn, h RequestHeader, rq *reqState) (uint16, []byte, error) {
	log := c.Log()
	total := int64(h.PayloadSize)
	if total < FileHeaderSize {
		if _, err := io.CopyN(io.Discard, c, total); err != nil {
			return 0, nil, err
		}
		log.Info("file refused: payload shorter than the file header", "size", total)
		return RespError, nil, nil
	}
	var fhb [FileHeaderSize]byte
	if _, err := io.ReadFull(c, fhb[:]); err != nil {
		return 0, nil, fmt.Errorf("backup: file header: %w", err)
	}
	fh, _ := ParseFileHeader(fhb[:])
	avail := total - FileHeaderSize
	if avail > s.cfg.MaxFileSize {
		log.Warn("file refused: larger than max_file_size", "size", avail, "max", s.cfg.MaxFileSize)
		rq.status = netsvc.StatusRefused
		return RespError, nil, fmt.Errorf("backup: %d-byte upload over the limit", avail)
	}
	c.EndHandshake()
	body := s.uploadBody(c)
	defer c.EndTransfer()
	// refuse drains the body and answers 2107 with status (the metrics'
	// view of why).
	refuse := func(status netsvc.Status, why string, args ...any) (uint16, []byte, error) {
		if _, err := io.CopyN(io.Discard, body, avail); err != nil {
			return 0, nil, err
		}
		log.Info("file refused: "+why, args...)
		return rq.answer(status, RespError)
	}
	size := int64(fh.ContentSize)
	if size > avail {
		return refuse(netsvc.StatusClientError, "content_size larger than the payload", "content_size", size, "payload", avail)
	}
	if size == 0 || size%aes.BlockSize != 0 {
		return refuse(netsvc.StatusClientError, "ciphertext is not whole AES blocks", "size", size)
	}
	name, err := ParseName(fh.Name[:])
	var stored string
	if err == nil {
		stored, err = storedName(name)
	}
	if err != nil {
		return refuse(netsvc.StatusClientError, "bad file name", "err", err)
	}
	id := h.ClientID.String()
	cl, err := s.db.BackupClient(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			log.Error("file: store", "err", err)
			return refuse(netsvc.StatusServerError, "client unavailable", "client", id)
		}
		return refuse(netsvc.StatusRefused, "unknown client", "client", id)
	}
	if !cl.HasKeys() {
		return refuse(netsvc.StatusRefused, "client has no key yet", "client", id)
	}
	if locked, err := s.lockedOut(ctx, id); locked || err != nil {
		if err != nil {
			// Unsure whether the client is locked out: refuse rather than
			// hand a possible attacker one more padding answer.
			log.Error("file: store", "err", err)
			return refuse(netsvc.StatusServerError, "lockout state unavailable", "client", id)
		}
		return refuse(netsvc.StatusRefused, "client locked out after repeated bad padding", "client", id)
	}
	aesKey, err := s.seal.open(cl.AESKey, cl.ID)
	if err != nil {
		return refuse(netsvc.StatusServerError, "stored AES key unusable", "client", id, "err", err)
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return refuse(netsvc.StatusServerError, "AES key", "err", err)
	}
	path, err := uploadBlobName(s.cfg.Rand, id, s.cfg.Now())
	if err != nil {
		log.Error("file: random source", "err", err)
		return refuse(netsvc.StatusServerError, "no blob name", "client", id)
	}
	w, err := s.blobs.Create(ctx, path)
	if err != nil {
		logStoreFailure(log, "file: blob create", err)
		return refuse(netsvc.StatusServerError, "blob store", "client", id)
	}
	defer w.Abort()

	n, plain, crc, err := s.streamFile(body, w, block, size)
	if err != nil {
		if errors.Is(err, errBadPadding) {
			if _, err := io.CopyN(io.Discard, body, avail-size); err != nil {
				return 0, nil, err
			}
			if err := s.recordPaddingFailure(ctx, id); err != nil {
				log.Error("file: store", "err", err)
			}
			log.Warn("file refused: bad padding (wrong key or tampered data)", "client", id, "file", stored)
			return rq.answer(netsvc.StatusRefused, RespError)
		}
		if errors.Is(err, errBlobWrite) {
			rq.status = netsvc.StatusServerError
			return s.blobWriteFailed(log, body, avail, err)
		}
		return 0, nil, err
	}
	if _, err := io.CopyN(io.Discard, body, avail-size); err != nil {
		return 0, nil, err
	}
	if err := w.Commit(); err != nil {
		logStoreFailure(log, "file: blob commit", err)
		return rq.answer(netsvc.StatusServerError, RespError)
	}
	if s.afterCommit != nil {
		s.afterCommit()
	}
	rec := store.BackupFile{ClientID: id, FileName: stored, Path: path, Size: n, PlainSize: plain, CRC: crc,
		UploadKey: cl.AESKey, UploadedAt: s.cfg.Now()}
	if s.cfg.EncryptAtRest {
		rec.AtRestKey = cl.AESKey
	}
	displaced, err := s.db.BackupPutFile(ctx, rec)
	if err != nil {
		logStoreFailure(log, "file: store", err)
		_ = s.blobs.Remove(ctx, path)
		return rq.answer(netsvc.StatusServerError, RespError)
	}
	rq.addBlob(displaced)
	reported := crc
	if s.cfg.TestCRCOffByOne {
		reported++ // fault injection, see Config.TestCRCOffByOne
	}
	log.Info("file stored", "client", id, "file", stored, "ciphertext", size, "stored_bytes", n, "at_rest", s.cfg.EncryptAtRest)
	return RespFileCRC, FileResponse{ClientID: h.ClientID, Size: uint32(size), Name: fh.Name, CRC: reported}.Marshal(), nil
}

var (
	errBadPadding = errors.New("backup: bad padding")
	errBlobWrite  = errors.New("backup: blob write")
)

// stream copies size ciphertext bytes from r, returning the bytes written
// to w and the CRC of the ciphertext. The last plaintext block is held
// back until the end, where its padding decides how much of it is data.
// (Writing from a second goroutine, to overlap the blob's write calls with
// the next read, was measured: it cost more CPU per MiB than it saved.)
func (s *Server) stream(r io.Reader, w io.Writer, block cipher.Block, size int64) (int64, uint32, error) {
	n, _, crc, err := s.streamFile(r, w, block, size)
	return n, crc, err
}

// streamFile is stream that also returns the file's plaintext size. It
// works in one chunk-sized buffer per upload, in one pass: each read's
// bytes get their CRC and, in whole blocks, their decryption (one
// CryptBlocks in place per read) while they are still in the cache, and
// the buffer goes to w in one write when it is full; the last one carries
// the held-back block's data too. At rest, only the last block is
// decrypted, for its padding.
func (s *Server) streamFile(r io.Reader, w io.Writer, block cipher.Block, size int64) (written, plain int64, crc uint32, err error) {
	bp := uploadPool.Get().(*uploadBuf)
	defer uploadPool.Put(bp)
	// buf[:16] takes the plaintext block held back from the previous
	// chunk; ciphertext is read to buf[16:] and decrypted in place.
	buf := bp[:]
	atRest := s.cfg.EncryptAtRest
	var dec cipher.BlockMode
	if !atRest {
		dec = legacycrypto.NewCBCDecrypterZeroIV(block)
	}
	// before: at rest, the ciphertext block preceding the buffer's (the
	// zero IV at first).
	var before [aes.BlockSize]byte
	haveLast := false
	write := func(p []byte) error {
		if len(p) == 0 {
			return nil
		}
		n, err := w.Write(p)
		written += int64(n)
		if err != nil {
			return fmt.Errorf("%w: %w", errBlobWrite, err)
		}
		return nil
	}
	const start = aes.BlockSize
	fill, done := start, start // bytes in buf; of them, decrypted (or, at rest, whole blocks)
	for left := size; ; {
		if left > 0 {
			n, err := r.Read(buf[fill : fill+int(min(int64(len(buf)-fill), left))])
			if n > 0 {
				crc = crc32.Update(crc, crc32.IEEETable, buf[fill:fill+n])
				fill += n
				left -= int64(n)
				if whole := done + (fill-done)/aes.BlockSize*aes.BlockSize; whole > done {
					if !atRest {
						dec.CryptBlocks(buf[done:whole], buf[done:whole])
					}
					done = whole
				}
			}
			if err != nil && left > 0 {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return 0, 0, 0, fmt.Errorf("backup: file body: %w", err)
			}
			if fill < len(buf) && left > 0 {
				continue
			}
		}
		if left > 0 {
			// The buffer is full: all but its last block go out (after
			// the held-back one), the last is held back.
			if atRest {
				copy(before[:], buf[fill-aes.BlockSize:fill])
				if err := write(buf[start:fill]); err != nil {
					return 0, 0, 0, err
				}
			} else {
				from := start
				if haveLast {
					from = 0
				}
				if err := write(buf[from : fill-aes.BlockSize]); err != nil {
					return 0, 0, 0, err
				}
				copy(buf[:start], buf[fill-aes.BlockSize:fill])
				haveLast = true
			}
			fill, done = start, start
			continue
		}
		// The end: the last block's padding decides.
		if fill == start {
			return 0, 0, 0, errBadPadding // no ciphertext at all
		}
		var last [aes.BlockSize]byte
		if atRest {
			if fill-start >= 2*aes.BlockSize {
				copy(before[:], buf[fill-2*aes.BlockSize:fill-aes.BlockSize])
			}
			block.Decrypt(last[:], buf[fill-aes.BlockSize:fill])
			subtle.XORBytes(last[:], last[:], before[:])
		} else {
			copy(last[:], buf[fill-aes.BlockSize:fill])
		}
		keep, err := PKCS7Unpad(last[:])
		if err != nil {
			return 0, 0, 0, errBadPadding
		}
		if atRest {
			err = write(buf[start:fill])
		} else {
			from := start
			if haveLast {
				from = 0
			}
			err = write(buf[from : fill-aes.BlockSize+keep])
		}
		if err != nil {
			return 0, 0, 0, err
		}
		return written, size - aes.BlockSize + int64(keep), crc, nil
	}
}

// uploadBuf is one upload's buffer: a chunk of ciphertext, decrypted in
// place, behind the held-back plaintext block.
type uploadBuf [aes.BlockSize + chunkSize]byte

var uploadPool = sync.Pool{New: func() any { return new(uploadBuf) }}

// streamBufs are one restore's buffers: a ciphertext chunk and a plaintext
// chunk with room for a block of padding.
type streamBufs struct {
	ct [chunkSize]byte
	pt [chunkSize + aes.BlockSize]byte
}

var bufPool = sync.Pool{New: func() any { return new(streamBufs) }}

// lockedOut reports whether the client sent too many bad-padding uploads
// in the current window. The count lives in the store, so a client cannot
// escape it by spreading its attempts over the daemons that share it.
func (s *Server) lockedOut(ctx context.Context, id string) (bool, error) {
	if s.cfg.PaddingFailureLimit < 0 {
		return false, nil
	}
	n, err := s.db.BackupPaddingFailures(ctx, id, s.cfg.Now(), failWindow)
	return n >= s.cfg.PaddingFailureLimit, err
}

func (s *Server) recordPaddingFailure(ctx context.Context, id string) error {
	if s.cfg.PaddingFailureLimit < 0 {
		return nil
	}
	_, err := s.db.BackupPaddingFailure(ctx, id, s.cfg.Now(), failWindow)
	return err
}
