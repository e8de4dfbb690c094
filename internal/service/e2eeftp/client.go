package e2eeftp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"gatehouse/internal/tlsutil"
)

// Client speaks the original client's wire: one connection and handshake
// per operation. It is safe for concurrent use (each call has its own
// connection).
type Client struct {
	Addr      string             // host:port, e.g. "127.0.0.1:5001"
	Identity  ed25519.PrivateKey // client_id.key
	ServerKey ed25519.PublicKey  // known_server.pub
	// Timeout bounds the dial and each read or write (0: 30 s). A context
	// deadline bounds the whole operation.
	Timeout time.Duration
	// MaxGet bounds the body a GET accepts, in bytes (0: no bound beyond int64).
	MaxGet int64
	// TLS, when set, runs each operation's connection inside TLS (a
	// Gatehouse tls_listen port); the signed handshake and the encrypted
	// wire inside are unchanged.
	TLS *tls.Config
	// OnGetSize, when set, is called once a GET's reply announced its body,
	// before any of it is written, with the largest plaintext the body can
	// hold (a progress bar's total; the exact size is known at the end).
	OnGetSize func(size int64)

	randEph, randIV io.Reader // nil: crypto/rand
}

// LoadClient reads client_id.key and known_server.pub, as the stock client does.
func LoadClient(addr, identityPath, serverKeyPath string) (*Client, error) {
	id, _, err := LoadPrivateKey(identityPath)
	if err != nil {
		return nil, err
	}
	sk, err := LoadPublicKey(serverKeyPath)
	if err != nil {
		return nil, err
	}
	return &Client{Addr: addr, Identity: id, ServerKey: sk}, nil
}

// StatusError is a reply other than the expected success.
type StatusError struct {
	Code int
	Text string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("e2eeftp: server replied %d|%s", e.Code, e.Text)
}

// ErrServerIdentity: the server's hello does not carry known_server.pub or
// its signature does not verify. A key that is not the pinned one is a
// *ServerKeyMismatchError, which matches it with errors.Is.
var ErrServerIdentity = errors.New("e2eeftp: server identity verification failed")

// ServerKeyMismatchError: the server's identity is not the pinned key
// (known_server.pub). Both are named by Fingerprint.
type ServerKeyMismatchError struct {
	Expected, Got string
}

func (e *ServerKeyMismatchError) Error() string {
	return "e2eeftp: server key mismatch: expected " + e.Expected + " got " + e.Got +
		" (known_server.pub is not this server's key)"
}

func (e *ServerKeyMismatchError) Unwrap() error { return ErrServerIdentity }

// ErrClientRefused: the server closed the connection right after our hello
// without answering. A stock server (and Gatehouse) does that, sending
// nothing, when it does not know the client's key, and also for a bad
// signature, a replayed hello or a server-side failure, which a correct
// client does not cause; the wire does not say which. The error is a
// *ClientRefusedError, which matches it with errors.Is.
var ErrClientRefused = errors.New("e2eeftp: the server closed the connection after our hello")

// ClientRefusedError is ErrClientRefused with this client's key.
type ClientRefusedError struct {
	Fingerprint string // Fingerprint of the client's identity key
	Err         error  // what the read of the server's hello got (EOF, a reset)
}

func (e *ClientRefusedError) Error() string {
	return "e2eeftp: the server closed the connection after our hello: it probably does not know this client key (" +
		e.Fingerprint + "; add it with `gatehouse keys e2eeftp add-client`)"
}

func (e *ClientRefusedError) Unwrap() []error { return []error{ErrClientRefused, e.Err} }

// Session is one handshaken connection, for callers that want the raw
// protocol (tests, harnesses). Close it when done.
type Session struct {
	Conn net.Conn
	R    *bufio.Reader
	Keys Keys
	stop func() bool
}

// Dial connects and runs the handshake.
func (c *Client) Dial(ctx context.Context) (*Session, error) {
	to := c.Timeout
	if to <= 0 {
		to = 30 * time.Second
	}
	d := net.Dialer{Timeout: to}
	raw, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("e2eeftp: %w", err)
	}
	if c.TLS != nil {
		hctx, cancel := context.WithTimeout(ctx, to)
		raw, err = tlsutil.Client(hctx, raw, c.Addr, c.TLS)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("e2eeftp: %w", err)
		}
	}
	conn := &idleConn{Conn: raw, to: to}
	if dl, ok := ctx.Deadline(); ok {
		conn.hard = dl
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	s := &Session{Conn: conn, R: bufio.NewReaderSize(conn, readerSize), stop: stop}
	if err := c.handshake(s); err != nil {
		s.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return s, nil
}

func (c *Client) handshake(s *Session) error {
	re := c.randEph
	if re == nil {
		re = rand.Reader
	}
	eph, err := newEphemeral(re)
	if err != nil {
		return err
	}
	h := NewHello(c.Identity, eph.PublicKey())
	if _, err := s.Conn.Write(h.Marshal()); err != nil {
		return fmt.Errorf("e2eeftp: sending hello: %w", err)
	}
	sh, err := ReadHello(s.R)
	if err != nil {
		// A refused client sees the connection close with zero bytes
		// (a reset when the close raced with our write).
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return &ClientRefusedError{Fingerprint: Fingerprint(c.Identity.Public().(ed25519.PublicKey)), Err: err}
		}
		return fmt.Errorf("e2eeftp: handshake broken: %w", err)
	}
	if !bytes.Equal(sh.Identity[:], c.ServerKey) {
		return &ServerKeyMismatchError{Expected: Fingerprint(c.ServerKey), Got: Fingerprint(sh.Identity[:])}
	}
	if !sh.Verify() {
		return fmt.Errorf("%w: invalid signature", ErrServerIdentity)
	}
	s.Keys, err = SessionKeys(eph, sh.Ephemeral)
	return err
}

// Close ends the session.
func (s *Session) Close() error {
	if s.stop != nil {
		s.stop()
	}
	return s.Conn.Close()
}

// ReadStatus reads one status line ("code|text\n", at most 4 KiB).
func (s *Session) ReadStatus() (code int, text string, err error) { return readStatus(s.R) }

func readStatus(r *bufio.Reader) (code int, text string, err error) {
	line, err := ReadLine(r, MaxHeaderLine)
	if err != nil {
		return 0, "", fmt.Errorf("e2eeftp: reading status: %w", err)
	}
	return ParseStatus(line)
}

// readBodyLen reads a "200|<n>" status and returns n.
func (s *Session) readBodyLen() (int64, error) {
	code, text, err := s.ReadStatus()
	if err != nil {
		return 0, err
	}
	if code != 200 {
		return 0, &StatusError{code, text}
	}
	n, err := ParseSize(text)
	if err != nil {
		return 0, fmt.Errorf("e2eeftp: bad length in status %q", text)
	}
	return n, nil
}

// Send uploads size bytes read from r as name. It returns nil on
// "226|Transfer Complete" and a *StatusError otherwise.
func (c *Client) Send(ctx context.Context, name string, r io.Reader, size int64) error {
	// The server's name rule (CleanName): a trailing space is dropped
	// as the server would, anything it would refuse is refused here.
	clean, nerr := CleanName(name)
	if nerr != nil {
		return fmt.Errorf("e2eeftp: invalid remote name %q: %v", name, nerr)
	}
	name = clean
	s, err := c.Dial(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	ri := c.randIV
	if ri == nil {
		ri = rand.Reader
	}
	iv := make([]byte, 16)
	if _, err := io.ReadFull(ri, iv); err != nil {
		return err
	}
	ew := &errWriter{w: s.Conn}
	header := fmt.Appendf(nil, "SEND|%s|%d\n", name, BlobLen(size))
	if err := s.Keys.seal(ew, header, r, size, iv); err != nil {
		// A server that refuses the upload (too large, say) answers at once
		// and closes, so our writes fail with a reset; its status line is
		// then the useful error, if it is still readable.
		if ew.err != nil && ctx.Err() == nil {
			if se := s.lateStatus(); se != nil {
				return se
			}
		}
		return c.wrapCtx(ctx, err)
	}
	code, text, err := s.ReadStatus()
	if err != nil {
		return c.wrapCtx(ctx, err)
	}
	if code != 226 {
		return &StatusError{code, text}
	}
	return nil
}

// errWriter remembers the first error of the connection's writes, to tell
// them from errors of the caller's reader.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// lateStatus reads a status line the server sent before it stopped
// reading, waiting at most a second; nil if there is none.
func (s *Session) lateStatus() *StatusError {
	if ic, ok := s.Conn.(*idleConn); ok {
		if d := time.Now().Add(time.Second); ic.hard.IsZero() || d.Before(ic.hard) {
			ic.hard = d
		}
	}
	code, text, err := s.ReadStatus()
	if err != nil {
		return nil
	}
	return &StatusError{code, text}
}

// Get downloads name into w and returns the plaintext size. w receives
// data before the body's tag is checked: on error, discard what it got.
func (c *Client) Get(ctx context.Context, name string, w io.Writer) (int64, error) {
	// The server's name rule (CleanName): a trailing space is dropped
	// as the server would, anything it would refuse is refused here.
	clean, nerr := CleanName(name)
	if nerr != nil {
		return 0, fmt.Errorf("e2eeftp: invalid remote name %q: %v", name, nerr)
	}
	name = clean
	s, err := c.Dial(ctx)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if _, err := io.WriteString(s.Conn, "GET|"+name+"\n"); err != nil {
		return 0, c.wrapCtx(ctx, err)
	}
	n, err := s.readBodyLen()
	if err != nil {
		return 0, c.wrapCtx(ctx, err)
	}
	if c.MaxGet > 0 && n > BlobLen(c.MaxGet) {
		return 0, fmt.Errorf("e2eeftp: GET body of %d bytes exceeds the limit", n)
	}
	if c.OnGetSize != nil {
		c.OnGetSize(max(PlainLenMax(n), 0))
	}
	got, err := s.Keys.Open(w, s.R, n)
	return got, c.wrapCtx(ctx, err)
}

// maxListBody bounds LIST and HLIST bodies the client accepts.
const maxListBody = 64 << 20

// textCommand sends line and returns the "200|<n>" body split on "\n"
// (see readListing).
func (c *Client) textCommand(ctx context.Context, line string) ([]string, error) {
	s, err := c.Dial(ctx)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if _, err := io.WriteString(s.Conn, line); err != nil {
		return nil, c.wrapCtx(ctx, err)
	}
	names, err := readListing(s.R)
	return names, c.wrapCtx(ctx, err)
}

// readListing reads a LIST or HLIST reply: a "200|<n>" status line, then
// the body, which is read to the end of the stream, not to n bytes. The
// server closes after its one reply, and the original server's LIST header
// counts characters, not bytes, so with non-ASCII names n is too small
// (café.txt makes "200|20" for 21 bytes). Gatehouse counts bytes; both
// work. A body shorter than n is an error (cut short), and so is one over
// maxListBody.
func readListing(r *bufio.Reader) ([]string, error) {
	code, text, err := readStatus(r)
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, &StatusError{code, text}
	}
	n, err := ParseSize(text)
	if err != nil {
		return nil, fmt.Errorf("e2eeftp: bad length in status %q", text)
	}
	if n > maxListBody {
		return nil, fmt.Errorf("e2eeftp: listing of %d bytes is too large", n)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxListBody+1))
	if err != nil {
		return nil, fmt.Errorf("e2eeftp: reading listing: %w", err)
	}
	if len(b) > maxListBody {
		return nil, fmt.Errorf("e2eeftp: listing over %d bytes", maxListBody)
	}
	if int64(len(b)) < n {
		return nil, fmt.Errorf("e2eeftp: listing cut short at %d of %d bytes: %w", len(b), n, io.ErrUnexpectedEOF)
	}
	if string(b) == StatusMalformed {
		// The original server announces the listing, then fails to encode
		// a name that is not UTF-8 and sends this line as the body.
		return nil, &StatusError{400, "Malformed request"}
	}
	if len(b) == 0 {
		return []string{}, nil
	}
	return strings.Split(string(b), "\n"), nil
}

// List returns the server's file names.
func (c *Client) List(ctx context.Context) ([]string, error) {
	return c.textCommand(ctx, "LIST\n")
}

// HList returns the commands the server supports.
func (c *Client) HList(ctx context.Context) ([]string, error) {
	return c.textCommand(ctx, "HLIST\n")
}

// Delete removes name on the server.
func (c *Client) Delete(ctx context.Context, name string) error {
	// The server's name rule (CleanName): a trailing space is dropped
	// as the server would, anything it would refuse is refused here.
	clean, nerr := CleanName(name)
	if nerr != nil {
		return fmt.Errorf("e2eeftp: invalid remote name %q: %v", name, nerr)
	}
	name = clean
	s, err := c.Dial(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := io.WriteString(s.Conn, "DELETE|"+name+"\n"); err != nil {
		return c.wrapCtx(ctx, err)
	}
	code, text, err := s.ReadStatus()
	if err != nil {
		return c.wrapCtx(ctx, err)
	}
	if code != 200 {
		return &StatusError{code, text}
	}
	return nil
}

func (c *Client) wrapCtx(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// idleConn bounds every Read and Write by an idle timeout, and by a hard
// deadline when the context has one.
type idleConn struct {
	net.Conn
	to   time.Duration
	hard time.Time
}

func (c *idleConn) deadline() time.Time {
	d := time.Now().Add(c.to)
	if !c.hard.IsZero() && c.hard.Before(d) {
		return c.hard
	}
	return d
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(c.deadline()); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(c.deadline()); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// statusCode is the status code in err, or 0.
func statusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}
