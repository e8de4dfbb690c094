package clock

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/netsvc"
)

// Validate checks the [services.clock] section as far as it can without
// reading anything (a "file" source is read by New).
func (c Config) Validate() error {
	if c.AllowWeakClientKeys && c.RefuseWeakClientKeys {
		return errors.New("clock: allow_weak_client_keys (deprecated) and refuse_weak_client_keys contradict each other; remove allow_weak_client_keys")
	}
	switch c.TempSource {
	case "", "random":
	case "fixed":
		if c.TempFixed < minCelsius || c.TempFixed > maxCelsius {
			return fmt.Errorf("clock: temp_fixed = %d is outside %d..%d", c.TempFixed, minCelsius, maxCelsius)
		}
	case "file":
		if c.TempFile == "" {
			return errors.New("clock: temp_source = \"file\" needs temp_file")
		}
		if c.TempFileScale == 0 || math.IsNaN(c.TempFileScale) || math.IsInf(c.TempFileScale, 0) {
			return errors.New("clock: temp_file_scale must be a non-zero number")
		}
	default:
		return fmt.Errorf("%w, got %q", errTempSource, c.TempSource)
	}
	return nil
}

// Env is what a Server needs besides its Config: runtime dependencies,
// not knobs.
type Env struct {
	// Temp, when not nil, is the TEMP source instead of the one
	// cfg.TempSource names (tests inject one).
	Temp TempSource
	// Metrics receives gatehouse_clock_weak_keys_total (nil: not exported).
	Metrics prometheus.Registerer
}

// Server is the clock service's netsvc.Handler.
type Server struct {
	cfg        Config // as given, with Rand and Now filled in
	temp       TempSource
	weakServed prometheus.Counter // sessions run with a weak client key
	weakRefuse prometheus.Counter // connections closed for one (RefuseWeakClientKeys)
}

var _ netsvc.Handler = (*Server)(nil)

// New checks cfg and returns a Server serving it. The TEMP source is the
// one cfg.TempSource names unless env.Temp is set; a "file" source must
// give a reading now, so a wrong path fails at start-up rather than on the
// first TEMP. A nil cfg.Rand is crypto/rand, a nil cfg.Now time.Now (local
// zone, as the original).
func New(cfg Config, env Env) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	temp := env.Temp
	if temp == nil {
		var err error
		if temp, err = tempFromConfig(cfg); err != nil {
			return nil, err
		}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	weak := weakKeysMetric(env.Metrics)
	return &Server{cfg: cfg, temp: temp,
		weakServed: weak.WithLabelValues("served"), weakRefuse: weak.WithLabelValues("refused")}, nil
}

// tempFromConfig is the TEMP source a checked cfg names.
func tempFromConfig(c Config) (TempSource, error) {
	switch c.TempSource {
	case "fixed":
		return FixedTemp(c.TempFixed), nil
	case "file":
		ft := FileTemp{Path: c.TempFile, Scale: c.TempFileScale}
		if _, err := ft.Celsius(); err != nil {
			return nil, fmt.Errorf("clock: %w", err)
		}
		return ft, nil
	}
	return RandomTemp{}, nil
}

// conn is what a session needs from its connection; *netsvc.Conn has it,
// and the fuzz test drives the same code through an in-memory one.
type conn interface {
	io.ReadWriter
	StartHandshake()
	EndHandshake()
	HandshakeFailed(reason string)
	Request(ctx context.Context, cmd string) (context.Context, func(status netsvc.Status))
	Log() *slog.Logger
}

var _ conn = (*netsvc.Conn)(nil)

// ServeConn runs one session: key exchange, then one request per read.
func (s *Server) ServeConn(ctx context.Context, c *netsvc.Conn) error {
	return s.serve(ctx, c)
}

// reqBufs are one request's plaintext and reply buffers.
type reqBufs struct{ plain, out [MaxMessage]byte }

var reqPool = sync.Pool{New: func() any { return new(reqBufs) }}

// maxExponentDraws bounds the re-draws that avoid a weak shift. For any
// client key that is not weak, at most half of all exponents are bad, so 64
// failures in a row happen with probability below 2^-64.
const maxExponentDraws = 64

func (s *Server) serve(ctx context.Context, c conn) error {
	var in [MaxMessage]byte
	// The original client sends its key at once, so the key read runs under
	// the (short) handshake deadline, not the generous idle one.
	c.StartHandshake()
	n, err := c.Read(in[:])
	if n == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			// A bare connect-and-close (port scan, health check): the
			// original lost a worker thread for each; here it is nothing.
			return nil
		}
		if ctx.Err() != nil {
			// Shutdown ended the wait: the client did nothing wrong, so
			// this is no handshake failure (it would raise an alarm for
			// every connected-but-silent client at each restart).
			return nil
		}
		c.HandshakeFailed("no client key")
		return fmt.Errorf("read client key: %w", err)
	}
	_, done := c.Request(ctx, "KEY")
	k, status, err := s.keyExchange(c, in[:n])
	done(status)
	if err != nil {
		return err
	}
	c.EndHandshake()

	for ctx.Err() == nil {
		n, err := c.Read(in[:])
		if n > 0 {
			// The plaintext and reply buffers are the request's, pooled: an
			// idle session (most of them, for hours) holds only its read
			// buffer (docs/performance.md, idle sessions).
			b := reqPool.Get().(*reqBufs)
			herr := s.request(ctx, c, in[:n], k, b.plain[:0], b.out[:0])
			reqPool.Put(b)
			if herr != nil {
				return herr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
	return nil
}

// keyExchange parses the client key, picks our exponent and sends our
// public key in one Write. It returns the shared key and the KEY request's
// status (docs/clock.md, "Metrics").
func (s *Server) keyExchange(c conn, msg []byte) (int, netsvc.Status, error) {
	a, err := ParseKey(msg)
	if err != nil {
		c.HandshakeFailed("malformed client key")
		return 0, netsvc.StatusClientError, err
	}
	weakPeer := IsWeakPeerKey(a)
	if weakPeer && s.cfg.RefuseWeakClientKeys {
		s.weakRefuse.Inc()
		c.HandshakeFailed("client key forces shift 0 or 1")
		return 0, netsvc.StatusRefused, ErrWeakKey
	}
	var b, k int
	for i := 0; ; i++ {
		if b, err = randExponent(s.cfg.Rand); err != nil {
			return 0, netsvc.StatusServerError, fmt.Errorf("draw exponent: %w", err)
		}
		k = SharedKey(a, b)
		// Re-drawing is invisible to the client, which only computes B^a;
		// it removes the original's accidental plaintext sessions. A weak
		// client key gives shift 0 or 1 whatever we draw, so it is served
		// with the first draw, exactly as the original served it.
		if weakPeer || !IsWeakShift(k) {
			break
		}
		if i+1 >= maxExponentDraws {
			if !s.cfg.RefuseWeakClientKeys {
				break
			}
			c.HandshakeFailed("no exponent avoids shift 0 or 1")
			return 0, netsvc.StatusRefused, ErrWeakKey
		}
	}
	if weakPeer {
		// The original client draws such a key itself in about 3 % of its
		// runs (private key 0 or 32 mod 64); refusing it would make that
		// client crash with a ValueError, so it is served and counted.
		s.weakServed.Inc()
		c.Log().Debug("weak client key served: the session runs with Caesar shift 0 or 1")
	}
	if _, err := c.Write(FormatKey(PublicKey(b))); err != nil {
		return 0, writeStatus(err), fmt.Errorf("send server key: %w", err)
	}
	return k, netsvc.StatusOK, nil
}

// randExponent draws uniformly from 0..1000, the original's range (any
// exponent works for the client; the range only keeps B's distribution
// familiar).
func randExponent(r io.Reader) (int, error) {
	const n = 1001
	const limit = 65536 - 65536%n
	var b [2]byte
	for range 64 {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, err
		}
		if v := int(binary.BigEndian.Uint16(b[:])); v < limit {
			return v % n, nil
		}
	}
	return 0, errors.New("random source is not uniform")
}

// request answers one read. A non-nil error ends the session.
func (s *Server) request(ctx context.Context, c conn, msg []byte, k int, plain, out []byte) error {
	plain = Decrypt(plain, msg, k)
	cmd, err := ParseCommand(plain)
	if err != nil {
		_, done := c.Request(ctx, "INVALID")
		done(netsvc.StatusClientError)
		return err
	}
	_, done := c.Request(ctx, cmd.String())
	var resp string
	switch cmd {
	case CmdUnknown:
		// The original answers with nothing and keeps reading; a reply
		// of any kind would be read by an old client as the next answer.
		done(netsvc.StatusClientError)
		return nil
	case CmdTime:
		resp = FormatTime(s.cfg.Now())
	case CmdDate:
		resp = FormatDate(s.cfg.Now())
	case CmdTemp:
		t, err := s.temp.Celsius()
		if err != nil {
			// Silence would hang the original client forever, and a
			// made-up value would be a lie; closing makes it fail visibly.
			c.Log().Warn("temperature unavailable; closing session", "err", err)
			done(netsvc.StatusServerError)
			return err
		}
		resp = FormatTemp(t)
	}
	out = Encrypt(out, []byte(resp), k)
	if _, err := c.Write(out); err != nil {
		done(writeStatus(err))
		return fmt.Errorf("send %s response: %w", cmd, err)
	}
	done(netsvc.StatusOK)
	return nil
}

// writeStatus is the status of a request whose answer could not be
// written: write_timeout passed (the peer stopped reading) or the peer
// went away.
func writeStatus(err error) netsvc.Status {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return netsvc.StatusTimeout
	}
	return netsvc.StatusClosed
}

// weakKeysMetric returns gatehouse_clock_weak_keys_total, registered with
// reg when it is not nil (or the one already registered there), with both
// outcomes pre-created at zero so that alerts see the series from start-up.
func weakKeysMetric(reg prometheus.Registerer) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_clock_weak_keys_total",
		Help: "clock sessions whose client key forces Caesar shift 0 or 1, by outcome (served, or refused with refuse_weak_client_keys).",
	}, []string{"outcome"})
	if reg != nil {
		if err := reg.Register(v); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if ev, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
					v = ev
				}
			}
		}
	}
	v.WithLabelValues("served")
	v.WithLabelValues("refused")
	return v
}
