package clock

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"time"
	"unicode/utf8"

	"gatehouse/internal/tlsutil"
)

// DefaultTimeout bounds a dial, a key exchange and each request when a
// Dialer leaves Timeout at zero. The original client waited forever.
const DefaultTimeout = 10 * time.Second

// Dialer opens sessions. The zero value is ready to use.
type Dialer struct {
	Timeout time.Duration // per dial+key exchange and per request; 0 means DefaultTimeout
	// AllowWeakShift keeps a session whose shared key shifts by 0 or 1.
	// By default such a key exchange is abandoned and retried on a new
	// connection, up to Attempts times (an original server picks its
	// exponent blindly, so about one session in nine would be weak).
	AllowWeakShift bool
	Attempts       int       // key exchanges tried; 0 means 8
	Rand           io.Reader // source of our exponent; nil means crypto/rand
	// TLS, when set, runs the protocol inside TLS (a Gatehouse tls_listen
	// port); the clock wire inside is unchanged.
	TLS *tls.Config
}

// Session is one connection after the key exchange. It is not safe for
// concurrent use: the protocol is strictly one request, one response.
type Session struct {
	conn    net.Conn
	key     int
	timeout time.Duration
	in      [MaxMessage]byte
	buf     []byte
}

// Dial opens a session to addr with a zero Dialer.
func Dial(ctx context.Context, addr string) (*Session, error) {
	var d Dialer
	return d.Dial(ctx, addr)
}

// Dial connects to addr and runs the key exchange, retrying on a fresh
// connection when the shared key would be weak.
func (d *Dialer) Dial(ctx context.Context, addr string) (*Session, error) {
	attempts := d.Attempts
	if attempts <= 0 {
		attempts = 8
	}
	nd := net.Dialer{Timeout: d.timeout()}
	var err error
	for range attempts {
		var c net.Conn
		c, err = nd.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("clock: dial %s: %w", addr, err)
		}
		if d.TLS != nil {
			hctx, cancel := context.WithTimeout(ctx, d.timeout())
			c, err = tlsutil.Client(hctx, c, addr, d.TLS)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("clock: %w", err)
			}
		}
		var s *Session
		s, err = d.Handshake(ctx, c)
		if err == nil {
			return s, nil
		}
		c.Close()
		if !errors.Is(err, ErrWeakKey) {
			return nil, err
		}
	}
	return nil, err
}

func (d *Dialer) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return DefaultTimeout
}

// Handshake runs the key exchange on an open connection, which the Session
// then owns. On error the caller still owns c.
func (d *Dialer) Handshake(ctx context.Context, c net.Conn) (*Session, error) {
	r := d.Rand
	if r == nil {
		r = rand.Reader
	}
	a, err := clientExponent(r)
	if err != nil {
		return nil, fmt.Errorf("clock: draw exponent: %w", err)
	}
	dl := time.Now().Add(d.timeout())
	if t, ok := ctx.Deadline(); ok && t.Before(dl) {
		dl = t
	}
	if err := c.SetDeadline(dl); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.Write(FormatKey(PublicKey(a))); err != nil {
		return nil, fmt.Errorf("clock: send key: %w", err)
	}
	s := &Session{conn: c, timeout: d.timeout()}
	n, err := c.Read(s.in[:])
	if n == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("clock: read server key: %w", err)
	}
	b, err := ParseKey(s.in[:n])
	if err != nil {
		return nil, err
	}
	s.key = SharedKey(b, a)
	if IsWeakShift(s.key) && !d.AllowWeakShift {
		return nil, ErrWeakKey
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return s, nil
}

// clientExponent draws an exponent whose public key is not 1 or 256
// (exponent 0 or 32 mod 64), which would force shift 0 or 1 whatever the
// server does. The server refuses such keys by default.
func clientExponent(r io.Reader) (int, error) {
	for range 64 {
		e, err := randExponent(r)
		if err != nil {
			return 0, err
		}
		if e%32 != 0 {
			return e, nil
		}
	}
	return 0, errors.New("random source is not uniform")
}

// Key is the shared key (0..256); the Caesar shift is Key mod 256.
func (s *Session) Key() int { return s.key }

// Conn is the underlying connection, e.g. for its addresses.
func (s *Session) Conn() net.Conn { return s.conn }

// Close ends the session; the server sees EOF and closes too. It may be
// called from another goroutine to abort a request in flight.
func (s *Session) Close() error { return s.conn.Close() }

// Time asks for the server's local time of day (HH:MM:SS[.ffffff]).
func (s *Session) Time() (string, error) { return s.Do(CmdTime) }

// Date asks for the server's local date (YYYY-MM-DD).
func (s *Session) Date() (string, error) { return s.Do(CmdDate) }

// Temp asks for the temperature ("21°C").
func (s *Session) Temp() (string, error) { return s.Do(CmdTemp) }

// Do sends one request and returns the decrypted response.
//
// The original client takes one read as the whole response. This one keeps
// reading while the response is visibly incomplete (DATE is 10 bytes, TIME
// 8 or 15 with a '.' at byte 8, TEMP ends in "°C"), so a response split by
// the network does not put the session out of step. Anything longer than
// the command allows is an error.
func (s *Session) Do(cmd Command) (string, error) {
	if cmd == CmdUnknown {
		return "", errors.New("clock: unknown commands get no response")
	}
	var req [4]byte
	if err := s.conn.SetDeadline(time.Now().Add(s.timeout)); err != nil {
		return "", err
	}
	if _, err := s.conn.Write(Encrypt(req[:0], []byte(cmd.String()), s.key)); err != nil {
		return "", fmt.Errorf("clock: send %s: %w", cmd, err)
	}
	s.buf = s.buf[:0]
	for {
		n, err := s.conn.Read(s.in[:])
		s.buf = Decrypt(s.buf, s.in[:n], s.key)
		complete, bad := responseState(cmd, s.buf)
		if bad {
			return "", fmt.Errorf("clock: malformed %s response %q", cmd, s.buf)
		}
		if complete {
			if !utf8.Valid(s.buf) {
				return "", fmt.Errorf("clock: %s response is not utf-8", cmd)
			}
			// Length alone is not enough: a TIME split right after its
			// 8th byte looks whole, and its ".ffffff" tail would then be
			// taken for the start of the next reply ("…°C" ends a TEMP).
			if !responseRE[cmd].Match(s.buf) {
				return "", fmt.Errorf("clock: malformed %s response %q", cmd, s.buf)
			}
			return string(s.buf), nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", fmt.Errorf("clock: read %s response: %w", cmd, err)
		}
	}
}

// responseRE is the shape of each reply: str(datetime.time),
// date.isoformat() and an integer with "°C".
var responseRE = map[Command]*regexp.Regexp{
	CmdTime: regexp.MustCompile(`^\d\d:\d\d:\d\d(\.\d{6})?$`),
	CmdDate: regexp.MustCompile(`^\d{4}-\d\d-\d\d$`),
	CmdTemp: regexp.MustCompile(`^-?\d+°C$`),
}

// maxTempResponse is far more than any "-273°C".
const maxTempResponse = 16

// responseState says whether b is a whole response to cmd, or can never
// become one.
func responseState(cmd Command, b []byte) (complete, bad bool) {
	switch cmd {
	case CmdDate:
		return len(b) == 10, len(b) > 10
	case CmdTime:
		switch {
		case len(b) < 8:
			return false, false
		case len(b) == 8:
			return true, false
		case b[8] != '.':
			return false, true
		}
		return len(b) == 15, len(b) > 15
	case CmdTemp:
		if len(b) > maxTempResponse {
			return false, true
		}
		return len(b) >= 3 && string(b[len(b)-3:]) == "°C", false
	}
	return false, true
}
