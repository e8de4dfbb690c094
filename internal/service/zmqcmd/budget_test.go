package zmqcmd

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"gatehouse/internal/netsvc/netsvctest"
)

const replyBudget = `{"status": "error", "message": "Computation exceeds the server's CPU budget"}`

// modPow4096 is one 4,096-bit modular power: 33.5 M cost units, the
// costliest single operation the evaluator allows.
const modPow4096 = "pow(3, 2**4096-1, 2**4096-3)"

// worstExpressions are the expressions a hostile client would loop; each
// must be refused (the test asserts the refusal, never a duration).
var worstExpressions = []struct {
	name, expr string
	err        *evalError
}{
	// issue 14: a ~900-byte expression of modular powers (1.2 s of CPU
	// before); the estimate sees the sizes and refuses before running any.
	{"repeated pow estimate", strings.TrimSuffix(strings.Repeat(modPow4096+"+", 30), "+"), errBudgetEstimate},
	// The same with the exponent hidden from the estimate in a string:
	// refused while running, before the fourth power.
	{"repeated pow runtime", strings.TrimSuffix(strings.Repeat("pow(3, int('9'*1233), 2**4096-3)+", 10), "+"), errBudget},
	{"repeated big products", strings.TrimSuffix(strings.Repeat("(2**65000)*(2**65000)+", 40), "+"), errBudgetEstimate},
	{"round of huge ints", strings.TrimSuffix(strings.Repeat("round(int('1'*65000,2)**2,-5)+", 10), "+"), errBudget},
	{"tower", "9**9**9**9", errDigits},
	{"huge shift", "1<<10**9", errDigits},
	{"huge product", "(2**131000)*(2**131000)", errDigits},
}

func TestWorstExpressionsAreRefused(t *testing.T) {
	for _, w := range worstExpressions {
		if len(w.expr) > DefaultLimits.MaxExpression {
			t.Fatalf("%s: %d bytes, over max_expression", w.name, len(w.expr))
		}
		n, err := parse(w.expr, DefaultLimits)
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		e := &evaluator{lim: DefaultLimits}
		var got error
		if estimateCost(n, DefaultLimits) > DefaultLimits.Budget {
			got = errBudgetEstimate
		} else {
			_, got = e.eval(n)
		}
		if got != error(w.err) {
			t.Errorf("%s: got %v, want %v", w.name, got, w.err)
		}
		if w.err == errBudget && e.cost-e.lastCharge > DefaultLimits.Budget {
			t.Errorf("%s: ran %d units before the refusal, over the budget %d", w.name, e.cost-e.lastCharge, DefaultLimits.Budget)
		}
		// And the same through Evaluate, as the server calls it.
		if _, err := Evaluate(w.expr, DefaultLimits); err == nil || err.Error() != w.err.Error() {
			t.Errorf("%s: Evaluate: %v", w.name, err)
		}
	}
}

// TestLegitimateExpensiveFitsBudget: the costliest legitimate forms stay
// well inside the default budget.
func TestLegitimateExpensiveFitsBudget(t *testing.T) {
	for _, expr := range []string{
		modPow4096, modPow4096 + " + " + modPow4096, // an RSA-4096 round trip
		"len(str(10**4299))", "10**4299 // 7**5000", "int('7'*4300) % 97", "round(2**14000, -100) > 0",
		"1000*(1+0.05/365)**(365*30)",
	} {
		if _, err := Evaluate(expr, DefaultLimits); err != nil {
			t.Errorf("%s: %v", expr, err)
		}
	}
}

// TestEstimateNeverExceedsCharge: over every vector and probe and 2,000
// generated expressions, the estimate is at most what the evaluation
// charges, so it can only refuse what the evaluator would refuse anyway.
func TestEstimateNeverExceedsCharge(t *testing.T) {
	var exprs []string
	for _, v := range loadComputeVectors(t) {
		exprs = append(exprs, v.Expr)
	}
	for _, v := range loadReplyVectors(t, "testdata/compat_probes.jsonl") {
		exprs = append(exprs, v.Expr)
	}
	g := newExprGen(diffFixedSeed)
	for i := 0; i < 2000; i++ {
		exprs = append(exprs, g.top())
	}
	exprs = append(exprs, modPow4096, modPow4096+" + "+modPow4096, "10**4299 // 7**5000")
	lim := DefaultLimits
	lim.Budget = 0 // measure, do not refuse
	checked := 0
	for _, src := range exprs {
		n, err := parse(src, lim)
		if err != nil {
			continue
		}
		est := estimateCost(n, lim)
		e := &evaluator{lim: lim}
		if _, err := e.eval(n); err != nil {
			continue // an early error may stop before what the estimate counted
		}
		checked++
		if est > e.cost {
			t.Errorf("%q: estimate %d > charged %d", src, est, e.cost)
		}
	}
	if checked < 2000 {
		t.Fatalf("only %d expressions evaluated", checked)
	}
	// The estimate does see the sizes that matter.
	n, _ := parse(modPow4096+" + "+modPow4096, lim)
	if est := estimateCost(n, lim); est < 2*costPowMod(4096, 4096) {
		t.Fatalf("estimate of two 4,096-bit powers: %d", est)
	}
}

// TestBudgetRefusalOverWire: the refusal is the original's error shape,
// and it is counted.
func TestBudgetRefusalOverWire(t *testing.T) {
	s, err := New(DefaultOptions(), nil)
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
	got, err := c.RoundTrip(context.Background(), ComputeRequest(worstExpressions[0].expr))
	if err != nil || string(got) != replyBudget {
		t.Fatalf("got %s, %v", got, err)
	}
	got, err = c.RoundTrip(context.Background(), ComputeRequest(worstExpressions[1].expr))
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
	cfg := DefaultOptions()
	cfg.MaxComputations = 2
	s, err := New(cfg, nil)
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
		"2 +":                    `{"status": "error", "message": "Invalid expression syntax"}`,
		worstExpressions[0].expr: replyBudget,
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
	cfg := DefaultOptions()
	cfg.MaxComputations = 1
	cfg.ComputeWait = 20e6 // 20 ms
	s, err := New(cfg, nil)
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
	for name, mod := range map[string]func(*Options){
		"budget 0":         func(c *Options) { c.Compute.Budget = 0 },
		"computations < 0": func(c *Options) { c.MaxComputations = -1 },
		"wait 0":           func(c *Options) { c.ComputeWait = 0 },
	} {
		cfg := DefaultOptions()
		mod(&cfg)
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s, err := New(DefaultOptions(), nil)
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
