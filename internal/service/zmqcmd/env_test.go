package zmqcmd

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// steppingClock is a Now that moves an hour forward on every reading.
type steppingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Hour)
	return c.t
}

// compute_timeout is checked against cfg.Now, not a hidden time.Now: with
// a clock that jumps an hour per reading, a full evaluation times out at
// its first check, and the timeout is counted.
func TestComputeTimeoutReadsConfigNow(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	clk := &steppingClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Now = clk.Now
	s, err := New(cfg, Env{})
	if err != nil {
		t.Fatal(err)
	}
	lim := s.lim
	// Longer than the small-integer fast path takes, so it is evaluated.
	expr := strings.Repeat("2**70 + ", 20) + "1"
	_, _, err = computeExpr(nil, expr, lim)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("%s with a jumping clock: %v, want a timeout", expr, err)
	}
	// The same server over the wire, with the real evaluation path.
	addr := startServerWith(t, s)
	got, err := dial(t, addr).RoundTrip(context.Background(), ComputeRequest(expr))
	if err != nil || string(got) != `{"status": "error", "message": "Computation timed out"}` {
		t.Fatalf("got %s, %v", got, err)
	}
	if v := metricValue(s.cm.refused.WithLabelValues("timeout")); v != 1 {
		t.Fatalf("refused{timeout} = %v, want 1", v)
	}
	// With the default clock the same expression is answered.
	cfg.Now = nil
	r, err := dial(t, startServer(t, cfg)).Compute(context.Background(), expr)
	if err != nil || r.Status != "success" {
		t.Fatalf("default clock: %+v, %v", r, err)
	}
}

// errReader is a random source that always fails.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

// The CURVE handshake draws its ephemeral keys, nonces and cookie keys
// from cfg.Rand: a source that fails makes the CURVE port refuse every
// handshake, while the NULL port, which draws nothing, keeps serving.
func TestCurveHandshakeReadsConfigRand(t *testing.T) {
	t.Parallel()
	cs := newCurveSetup(t)
	cfg := DefaultConfig()
	cfg.Rand = errReader{}
	nullAddr, curveAddr, _ := startBoth(t, cfg, cs)
	ctx := context.Background()
	if c, err := DialCurve(ctx, curveAddr, 5*time.Second, cs.server.Public, cs.cert(t, cs.alice)); err == nil {
		c.Close()
		t.Fatal("CURVE handshake succeeded with a failing cfg.Rand")
	}
	if r, err := dial(t, nullAddr).Compute(ctx, "1+1"); err != nil || string(r.Result) != "2" {
		t.Fatalf("NULL port: %+v, %v", r, err)
	}
}

// curve_listen without a key in Env is refused by New (Build always
// loads one).
func TestNewCurveListenNeedsKey(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.CurveListen = "127.0.0.1:0"
	if _, err := New(cfg, Env{}); err == nil {
		t.Fatal("curve_listen without Env.CurveKey accepted")
	}
	k := newCert(t)
	if _, err := New(DefaultConfig(), Env{CurveKey: &k}); err == nil {
		t.Fatal("CurveKey without CurveAllowed accepted")
	}
	pub := Cert{Public: k.Public}
	if _, err := New(DefaultConfig(), Env{CurveKey: &pub, CurveAllowed: func([32]byte) bool { return true }}); err == nil {
		t.Fatal("a public-only CurveKey accepted")
	}
}
