package zmqcmd

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"gatehouse/internal/netsvc/netsvctest"
)

// estimateRefusedExpr is refused by the cost estimate before it runs,
// runtimeRefusedExpr while it runs (its exponents hide in strings); the
// interpreter's own tests (internal/pyexpr) cover the budget itself.
var (
	estimateRefusedExpr = strings.TrimSuffix(strings.Repeat("pow(3, 2**4096-1, 2**4096-3)+", 30), "+")
	runtimeRefusedExpr  = strings.TrimSuffix(strings.Repeat("pow(3, int('9'*1233), 2**4096-3)+", 10), "+")
)

const replyBudget = `{"status": "error", "message": "Computation exceeds the server's CPU budget"}`

// TestBudgetRefusalOverWire: the refusal is the original's error shape,
// and it is counted.
func TestBudgetRefusalOverWire(t *testing.T) {
	t.Parallel()
	s, err := New(DefaultConfig(), Env{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refusalReasons {
		if v := metricValue(s.cm.refused.WithLabelValues(r)); v != 0 {
			t.Fatalf("refused{%s} starts at %v", r, v)
		}
	}
	_, addr := netsvctest.Start(t, "zmqcmd", s, netsvctest.DefaultLimits)
	c := dial(t, addr)
	got, err := c.RoundTrip(context.Background(), ComputeRequest(estimateRefusedExpr))
	if err != nil || string(got) != replyBudget {
		t.Fatalf("got %s, %v", got, err)
	}
	got, err = c.RoundTrip(context.Background(), ComputeRequest(runtimeRefusedExpr))
	if err != nil || string(got) != replyBudget {
		t.Fatalf("got %s, %v", got, err)
	}
	if e, b := metricValue(s.cm.refused.WithLabelValues("estimate")), metricValue(s.cm.refused.WithLabelValues("budget")); e != 1 || b != 1 {
		t.Fatalf("refused estimate=%v budget=%v, want 1 and 1", e, b)
	}
	r, err := c.Compute(context.Background(), "2**0.5")
	if err != nil || string(r.Result) != "1.4142135623730951" {
		t.Fatalf("after refusals: %+v %v", r, err)
	}
}

// TestComputeConcurrencyBound: with max_computations = 2 and five clients
// sending full evaluations at once, two run and three wait (they are not
// refused); each finished one lets exactly one more in; the fast path is
// answered while every slot is taken. Events come from the gate's hooks,
// not from sleeps.
func TestComputeConcurrencyBound(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.MaxComputations = 2
	s, err := New(cfg, Env{})
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{}, 10)
	waiting := make(chan struct{}, 10)
	release := make(chan struct{})
	s.gate.entered = func() {
		entered <- struct{}{}
		<-release
	}
	s.gate.waiting = func() { waiting <- struct{}{} }
	_, addr := netsvctest.Start(t, "zmqcmd", s, netsvctest.DefaultLimits)

	const clients = 5
	replies := make(chan string, clients)
	for i := 0; i < clients; i++ {
		c := dial(t, addr)
		go func() {
			got, err := c.RoundTrip(context.Background(), ComputeRequest("2 ** 0.5"))
			if err != nil {
				replies <- err.Error()
				return
			}
			replies <- string(got)
		}()
	}
	for i := 0; i < 2; i++ {
		<-entered
	}
	for i := 0; i < clients-2; i++ {
		<-waiting
	}
	if p, w := s.gate.peak.Load(), metricValue(s.cm.waiting); p != 2 || w != 3 {
		t.Fatalf("peak %d waiting %v, want 2 and 3", p, w)
	}
	if a := metricValue(s.cm.active); a != 2 {
		t.Fatalf("active gauge %v, want 2", a)
	}
	// The fast path needs no slot.
	fast := dial(t, addr)
	if r, err := fast.Compute(context.Background(), "(6 + 4) * 8"); err != nil || string(r.Result) != "80" {
		t.Fatalf("fast path while slots are taken: %+v %v", r, err)
	}
	// Neither do syntax errors and expressions the estimate refuses.
	for expr, want := range map[string]string{
		"2 +":               `{"status": "error", "message": "Invalid expression syntax"}`,
		estimateRefusedExpr: replyBudget,
	} {
		if got, err := fast.RoundTrip(context.Background(), ComputeRequest(expr)); err != nil || string(got) != want {
			t.Fatalf("%.20s while slots are taken: %s %v", expr, got, err)
		}
	}
	// Release one at a time: exactly one waiter enters per release.
	for i := 0; i < clients; i++ {
		release <- struct{}{}
		if i < clients-2 {
			<-entered
		}
		if p := s.gate.peak.Load(); p > 2 {
			t.Fatalf("peak %d over the bound", p)
		}
	}
	for i := 0; i < clients; i++ {
		if got := <-replies; got != `{"status": "success", "result": 1.4142135623730951}` {
			t.Fatalf("reply %d: %s", i, got)
		}
	}
	if b := metricValue(s.cm.refused.WithLabelValues("busy")); b != 0 {
		t.Fatalf("busy refusals %v, want 0 (waiters are served)", b)
	}
}

// TestComputeBusyAfterWait: a request that finds no slot within
// compute_wait gets the busy reply and is counted.
func TestComputeBusyAfterWait(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.MaxComputations = 1
	cfg.ComputeWait = 20e6 // 20 ms
	s, err := New(cfg, Env{})
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	s.gate.entered = func() {
		entered <- struct{}{}
		<-release
	}
	_, addr := netsvctest.Start(t, "zmqcmd", s, netsvctest.DefaultLimits)
	first := dial(t, addr)
	done := make(chan string, 1)
	go func() {
		got, _ := first.RoundTrip(context.Background(), ComputeRequest("2 ** 0.5"))
		done <- string(got)
	}()
	<-entered
	second := dial(t, addr)
	got, err := second.RoundTrip(context.Background(), ComputeRequest("3 ** 0.5"))
	if err != nil || string(got) != `{"status": "error", "message": "Server busy, try again later"}` {
		t.Fatalf("got %s, %v", got, err)
	}
	if b := metricValue(s.cm.refused.WithLabelValues("busy")); b != 1 {
		t.Fatalf("busy refusals %v, want 1", b)
	}
	close(release)
	if r := <-done; r != `{"status": "success", "result": 1.4142135623730951}` {
		t.Fatalf("first: %s", r)
	}
}

func TestConfigRefusesUnboundedBudget(t *testing.T) {
	t.Parallel()
	for name, mod := range map[string]func(*Config){
		"budget 0":         func(c *Config) { c.ComputeBudget = 0 },
		"computations < 0": func(c *Config) { c.MaxComputations = -1 },
		"wait 0":           func(c *Config) { c.ComputeWait = 0 },
	} {
		cfg := DefaultConfig()
		mod(&cfg)
		if _, err := New(cfg, Env{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s, err := New(DefaultConfig(), Env{})
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxComputations() != DefaultMaxComputations() || DefaultMaxComputations() < 1 {
		t.Fatalf("default max computations %d", s.MaxComputations())
	}
}

// metricValue reads a gauge or counter.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}
