package backup

import (
	"context"
	"crypto/aes"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"gatehouse/internal/legacycrypto"
)

// ResponseError is a response other than the one a request expects.
type ResponseError struct {
	Request  uint16
	Response uint16
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("backup: request %d answered with %d", e.Request, e.Response)
}

// ErrReconnectDenied is the server's 2106: it does not know this client (or
// its key); the original client then forgets its identity and registers.
var ErrReconnectDenied = errors.New("backup: reconnect denied (2106)")

// ErrNotRegistered is Login's answer when the server denies the reconnect
// of the identity kept in the folder (it does not know the id, or no longer
// has its key): me.info and priv.key are kept, and nothing is registered
// unless Client.ReRegister is set. The error names the id.
var ErrNotRegistered = errors.New("backup: the server does not know this client id")

// ErrNoResponse is a connection closed before a full response arrived.
var ErrNoResponse = errors.New("backup: connection closed without a response")

// MaxResponse bounds a response payload, as the C++ client does (10 MiB).
const MaxResponse = 10 << 20

// Client speaks the backup protocol, one connection per request like the
// original C++ client. Fields may be set directly; the zero value of each
// optional field picks the default noted. Not safe for concurrent use; use
// one Client per goroutine.
type Client struct {
	Addr string // host:port
	Name string // client name, at most 254 bytes (the C++ client cuts at 100)

	ID     ClientID        // set by Register or given for Reconnect
	Key    *rsa.PrivateKey // generated (RSA-1024, e=17) by ExchangeKeys when nil
	AESKey []byte          // set by ExchangeKeys or Reconnect

	// Timeout bounds each read or write (default 30 s), except the wait
	// for a 2103 (see ResponseRate).
	Timeout time.Duration
	// ResponseRate is the slowest, in ciphertext bytes per second, a
	// server is assumed to check an upload once it has it all: the 2103 is
	// awaited for Timeout + size/ResponseRate (default 64 KiB/s, so a
	// 20 MiB upload waits up to 350 s; the original server takes 45-65 s
	// to answer one). TCP keepalive still ends the wait if the server's
	// host goes away.
	ResponseRate int64
	// Attempts is how many connections a request may use on network
	// errors (default 3), with RetryDelay, 2×RetryDelay… between them
	// (default 1 s), like the C++ client's 0/1/2 s.
	Attempts   int
	RetryDelay time.Duration
	// Progress, when set, receives each upload's ciphertext byte count (for
	// instance a progress.Bar); it must not fail.
	Progress func(name string, total int64) io.Writer
	// Version is the request version byte (default 1, as the C++ client).
	Version uint8
	// TLS, when set, runs each request's connection inside TLS (a
	// Gatehouse tls_listen port); the wire inside is unchanged.
	TLS *tls.Config
	// ReRegister makes Login, when the server denies the reconnect of the
	// identity kept in the folder, remove me.info and priv.key and register
	// anew, as the original client does on its next run. Off: Login returns
	// ErrNotRegistered and keeps both files.
	ReRegister bool

	// serverChecksNames (tests) skips CheckFileName in Upload and
	// UploadOnce, so the server's own refusal can be tested.
	serverChecksNames bool
}

func (c *Client) checkName(name string) error {
	if c.serverChecksNames {
		return nil
	}
	return CheckFileName(name)
}

// CheckFileName reports why the server would refuse to store a file under
// name, with the server's own rule (the base name, then the shared name
// policy: no control or bidirectional formatting characters, valid UTF-8,
// at most 254 bytes); nil when it would store it. Upload checks it before
// sending anything.
func CheckFileName(name string) error {
	if _, err := NameField(name); err != nil {
		return fmt.Errorf("backup: file name %q: %w", name, err)
	}
	if _, err := storedName(name); err != nil {
		return fmt.Errorf("backup: file name %q cannot be stored: %w", name, err)
	}
	return nil
}

// DefaultResponseRate is Client.ResponseRate's default.
const DefaultResponseRate = 64 << 10

// ErrAnswerTimeout is an upload whose 2103 did not come within the wait
// ResponseRate allows. The server may still be checking it, so Upload does
// not send it again (nor a status request for it).
var ErrAnswerTimeout = errors.New("backup: no answer to the upload in time; the server may still be checking it")

// answerWait is how long UploadOnce waits for the 2103 of ctSize bytes.
func (c *Client) answerWait(ctSize int64) time.Duration {
	rate := c.ResponseRate
	if rate <= 0 {
		rate = DefaultResponseRate
	}
	return c.timeout() + time.Duration(float64(ctSize)/float64(rate)*float64(time.Second))
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 30 * time.Second
}

// deadlineConn extends the connection's deadline before every operation,
// so a stalled server fails a request after Timeout, never hangs it.
type deadlineConn struct {
	net.Conn
	d time.Duration
}

func (d deadlineConn) Read(p []byte) (int, error) {
	d.Conn.SetReadDeadline(time.Now().Add(d.d))
	return d.Conn.Read(p)
}

func (d deadlineConn) Write(p []byte) (int, error) {
	d.Conn.SetWriteDeadline(time.Now().Add(d.d))
	return d.Conn.Write(p)
}

func (c *Client) dial(ctx context.Context) (deadlineConn, error) {
	d := net.Dialer{Timeout: c.timeout()}
	nc, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return deadlineConn{}, err
	}
	if c.TLS != nil {
		if nc, err = dialTLS(ctx, nc, c.Addr, c.TLS, c.timeout()); err != nil {
			return deadlineConn{}, err
		}
	}
	return deadlineConn{Conn: nc, d: c.timeout()}, nil
}

func (c *Client) header(code uint16, size uint32) []byte {
	v := c.Version
	if v == 0 {
		v = ClientVersion
	}
	return AppendRequestHeader(make([]byte, 0, RequestHeaderSize), RequestHeader{ClientID: c.ID, Version: v, Code: code, PayloadSize: size})
}

// readResponse reads one bounded response.
func readResponse(r io.Reader) (ResponseHeader, []byte, error) {
	var hb [ResponseHeaderSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return ResponseHeader{}, nil, fmt.Errorf("%w: %w", ErrNoResponse, err)
	}
	h, _ := ParseResponseHeader(hb[:])
	if h.PayloadSize > MaxResponse {
		return h, nil, fmt.Errorf("backup: %d-byte response payload", h.PayloadSize)
	}
	p := make([]byte, h.PayloadSize)
	if _, err := io.ReadFull(r, p); err != nil {
		return h, nil, fmt.Errorf("%w: %w", ErrNoResponse, err)
	}
	return h, p, nil
}

// Call sends one request with a small payload on a new connection and
// returns the response, retrying on network errors.
func (c *Client) Call(ctx context.Context, code uint16, payload []byte) (ResponseHeader, []byte, error) {
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	delay := c.RetryDelay
	if delay <= 0 {
		delay = time.Second
	}
	msg := append(c.header(code, uint32(len(payload))), payload...)
	var lastErr error
	for i := range attempts {
		if i > 0 {
			select {
			case <-time.After(time.Duration(i-1) * delay):
			case <-ctx.Done():
				return ResponseHeader{}, nil, ctx.Err()
			}
		}
		h, p, err := c.callOnce(ctx, msg)
		if err == nil {
			return h, p, nil
		}
		lastErr = err
	}
	return ResponseHeader{}, nil, lastErr
}

func (c *Client) callOnce(ctx context.Context, msg []byte) (ResponseHeader, []byte, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return ResponseHeader{}, nil, err
	}
	defer conn.Close()
	if _, err := conn.Write(msg); err != nil {
		return ResponseHeader{}, nil, err
	}
	return readResponse(conn)
}

// Register sends 1025 and keeps the id the server assigns.
func (c *Client) Register(ctx context.Context) error {
	f, err := NameField(c.Name)
	if err != nil {
		return err
	}
	c.ID = ClientID{}
	h, p, err := c.Call(ctx, CodeRegister, f[:])
	if err != nil {
		return err
	}
	if h.Code != RespRegistered || len(p) < ClientIDSize {
		return &ResponseError{CodeRegister, h.Code}
	}
	copy(c.ID[:], p)
	return nil
}

// PublicKeyDER is the key as sent in 1026: SubjectPublicKeyInfo DER.
func (c *Client) PublicKeyDER() ([]byte, error) {
	if c.Key == nil {
		return nil, errors.New("backup: client has no RSA key")
	}
	return x509.MarshalPKIXPublicKey(&c.Key.PublicKey)
}

// ExchangeKeys sends 1026 with the client's public key (generating an
// RSA-1024 e=17 key first if there is none) and unwraps the AES key.
func (c *Client) ExchangeKeys(ctx context.Context) error {
	if c.Key == nil {
		k, err := GenerateLegacyKey(nil)
		if err != nil {
			return err
		}
		c.Key = k
	}
	der, err := c.PublicKeyDER()
	if err != nil {
		return err
	}
	f, err := NameField(c.Name)
	if err != nil {
		return err
	}
	h, p, err := c.Call(ctx, CodePublicKey, append(f[:], der...))
	if err != nil {
		return err
	}
	if h.Code != RespAESKey {
		return &ResponseError{CodePublicKey, h.Code}
	}
	return c.takeKey(p)
}

func (c *Client) takeKey(p []byte) error {
	if len(p) <= ClientIDSize {
		return errors.New("backup: key response too short")
	}
	k, err := UnwrapKey(c.Key, p[ClientIDSize:])
	if err != nil {
		return err
	}
	c.AESKey = k
	return nil
}

// Reconnect sends 1027 for c.ID and unwraps the stored AES key with c.Key.
// A 2106 is ErrReconnectDenied.
func (c *Client) Reconnect(ctx context.Context) error {
	if c.Key == nil {
		return errors.New("backup: reconnect needs the client's private key")
	}
	f, err := NameField(c.Name)
	if err != nil {
		return err
	}
	h, p, err := c.Call(ctx, CodeReconnect, f[:])
	if err != nil {
		return err
	}
	switch h.Code {
	case RespReconnected:
		return c.takeKey(p)
	case RespReconnectDenied:
		return ErrReconnectDenied
	}
	return &ResponseError{CodeReconnect, h.Code}
}

// SendStatus sends 1029, 1030 or 1031 for a file and expects 2104.
func (c *Client) SendStatus(ctx context.Context, code uint16, name string) error {
	f, err := NameField(name)
	if err != nil {
		return err
	}
	h, _, err := c.Call(ctx, code, f[:])
	if err != nil {
		return err
	}
	if h.Code != RespAck {
		return &ResponseError{code, h.Code}
	}
	return nil
}

// UploadResult describes one file's upload.
type UploadResult struct {
	Attempts   int           // 1028 requests sent
	Verified   bool          // a CRC matched and 1029 was acknowledged
	CRC        uint32        // CRC-32 of the ciphertext
	ServerCRC  uint32        // what the last 2103 said (0 if none)
	Ciphertext int64         // bytes of ciphertext per attempt
	Elapsed    time.Duration // whole flow, status requests included
}

// Upload runs the original client's per-file flow: up to three 1028s, a
// 1030 after each mismatch but the last, 1031 after the third, 1029 on a
// match. r supplies size plaintext bytes; it is encrypted while it streams,
// so memory stays flat. If r is an io.Seeker it is rewound for a retry,
// otherwise a mismatch ends the flow with 1031 at once.
func (c *Client) Upload(ctx context.Context, name string, r io.Reader, size int64) (UploadResult, error) {
	start := time.Now()
	res := UploadResult{Ciphertext: CiphertextSize(size)}
	if err := c.checkName(name); err != nil {
		return res, err
	}
	seeker, canRewind := r.(io.Seeker)
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		if attempt > 1 {
			if !canRewind {
				break
			}
			if _, err := seeker.Seek(0, io.SeekStart); err != nil {
				return res, err
			}
		}
		res.Attempts = attempt
		local, server, err := c.UploadOnce(ctx, name, r, size)
		res.CRC, res.ServerCRC = local, server
		if err == nil && local == server {
			if err := c.SendStatus(ctx, CodeCRCOK, name); err != nil {
				return res, err
			}
			res.Verified = true
			res.Elapsed = time.Since(start)
			return res, nil
		}
		if err != nil {
			var re *ResponseError
			if errors.Is(err, ErrAnswerTimeout) || !errors.As(err, &re) && !errors.Is(err, ErrNoResponse) {
				// A local or network failure: the plaintext may be
				// partly consumed; no point in a status request.
				return res, err
			}
			lastErr = err
		} else {
			lastErr = fmt.Errorf("backup: CRC mismatch: server %08x, client %08x", server, local)
		}
		if attempt < 3 && canRewind {
			if err := c.SendStatus(ctx, CodeCRCRetry, name); err != nil {
				return res, err
			}
		}
	}
	if err := c.SendStatus(ctx, CodeCRCFail, name); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	return res, fmt.Errorf("backup: upload of %s failed after %d attempt(s): %w", name, res.Attempts, lastErr)
}

// UploadOnce sends one 1028 with size plaintext bytes from r, encrypted on
// the fly, and returns the CRC it computed and the one the server sent.
func (c *Client) UploadOnce(ctx context.Context, name string, r io.Reader, size int64) (local, server uint32, err error) {
	if len(c.AESKey) != AESKeySize {
		return 0, 0, errors.New("backup: no AES key: register or reconnect first")
	}
	if size < 0 {
		return 0, 0, errors.New("backup: negative size")
	}
	ctSize := CiphertextSize(size)
	if ctSize > 1<<32-1-FileHeaderSize {
		return 0, 0, fmt.Errorf("backup: %d bytes is too large for the protocol", size)
	}
	if err := c.checkName(name); err != nil {
		return 0, 0, err
	}
	nf, err := NameField(name)
	if err != nil {
		return 0, 0, err
	}
	block, err := aes.NewCipher(c.AESKey)
	if err != nil {
		return 0, 0, err
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	msg := c.header(CodeFile, uint32(FileHeaderSize+ctSize))
	msg = binary.LittleEndian.AppendUint32(msg, uint32(ctSize))
	msg = append(msg, nf[:]...)
	if _, err := conn.Write(msg); err != nil {
		return 0, 0, err
	}
	var out io.Writer = conn
	if c.Progress != nil {
		out = io.MultiWriter(conn, c.Progress(name, ctSize))
	}
	enc := legacycrypto.NewCBCEncrypterZeroIV(block)
	buf := make([]byte, chunkSize+aes.BlockSize)
	for left := size; ; {
		n := int(min(int64(chunkSize), left))
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return 0, 0, fmt.Errorf("backup: reading %s: %w", name, err)
		}
		left -= int64(n)
		data := buf[:n]
		if left == 0 {
			data = legacycrypto.PKCS7Pad(data)
		}
		enc.CryptBlocks(data, data)
		local = crc32.Update(local, crc32.IEEETable, data)
		if _, err := out.Write(data); err != nil {
			return 0, 0, err
		}
		if left == 0 {
			break
		}
	}
	// The server answers only once it has checked the whole upload: the
	// original takes about 3 s per MiB. The wait grows with the size
	// instead of the per-read Timeout.
	if err := conn.Conn.SetReadDeadline(time.Now().Add(c.answerWait(ctSize))); err != nil {
		return local, 0, err
	}
	h, p, err := readResponse(conn.Conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return local, 0, fmt.Errorf("%w (waited %s)", ErrAnswerTimeout, c.answerWait(ctSize).Round(time.Second))
	}
	if err != nil {
		return local, 0, err
	}
	if h.Code != RespFileCRC {
		return local, 0, &ResponseError{CodeFile, h.Code}
	}
	fr, err := ParseFileResponse(p)
	if err != nil {
		return local, 0, err
	}
	return local, fr.CRC, nil
}

// Files the original client keeps in its working folder.
const (
	TransferInfoFile = "transfer.info"
	MeInfoFile       = "me.info"
	PrivKeyFile      = "priv.key"
)

// Login readies c for uploads from the identity kept in dir, like the
// original client: with me.info and priv.key it reconnects (1027) under the
// stored id and name; otherwise it registers (1025), writes me.info and
// priv.key, and exchanges keys (1026). When the server denies the
// reconnect (2106, or 2107: it does not know the id or cannot use its key),
// Login returns ErrNotRegistered and keeps both files, so a typo in the
// server address or a restored server cannot silently turn the client into
// a new one whose backups are elsewhere. With c.ReRegister both files are
// removed, as the original does, and (unlike the original, which exits
// there) a fresh registration follows at once.
func (c *Client) Login(ctx context.Context, dir string) (registered bool, err error) {
	mePath, keyPath := filepath.Join(dir, MeInfoFile), filepath.Join(dir, PrivKeyFile)
	me, err := ReadMeInfo(mePath)
	switch {
	case err == nil:
		k, kerr := ReadPrivateKey(keyPath)
		if kerr != nil {
			return false, fmt.Errorf("backup: %s exists but %s cannot be used: %w", MeInfoFile, PrivKeyFile, kerr)
		}
		c.Name, c.ID, c.Key = me.Name, me.ID, k
		err := c.Reconnect(ctx)
		if err == nil {
			return false, nil
		}
		var re *ResponseError
		if !errors.Is(err, ErrReconnectDenied) && !(errors.As(err, &re) && re.Response == RespError) {
			return false, err
		}
		if !c.ReRegister {
			return false, fmt.Errorf("%w %s; re-register with --register", ErrNotRegistered, me.ID)
		}
		os.Remove(mePath)
		os.Remove(keyPath)
		c.Key = nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	if err := c.Register(ctx); err != nil {
		return false, err
	}
	if c.Key == nil {
		if c.Key, err = GenerateLegacyKey(nil); err != nil {
			return false, err
		}
	}
	der, err := c.PublicKeyDER()
	if err != nil {
		return false, err
	}
	if err := WritePrivateKey(keyPath, c.Key); err != nil {
		return false, err
	}
	if err := WriteMeInfo(mePath, MeInfo{Name: c.Name, ID: c.ID, PublicKey: der}); err != nil {
		return false, err
	}
	return true, c.ExchangeKeys(ctx)
}
