package zmqcmd

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/pyexpr"
)

// Daemon-wide bound on concurrent computations (docs/zmqcmd.md, "Compute
// budget"): at most Config.MaxComputations evaluations run at once; a
// request over it waits up to Config.ComputeWait for a slot (in arrival
// order), then gets "Server busy, try again later". Requests the
// small-integer fast path answers ((6 + 4) * 8: a few hundred
// nanoseconds, bounded by its 64-byte limit) never take a slot, so a flood
// of expensive expressions does not delay them.

// errBusy is the reply when no computation slot frees within ComputeWait;
// the same text as for os commands over max_procs.
var errBusy = pyexpr.NewError("Server busy, try again later", "busy")

// DefaultMaxComputations is half the CPUs the daemon may use (GOMAXPROCS,
// which follows a container's CPU limit), at least one.
func DefaultMaxComputations() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// computeMetrics are the service's own series (registered by New with
// Env.Metrics).
type computeMetrics struct {
	active  prometheus.Gauge
	waiting prometheus.Gauge
	refused *prometheus.CounterVec
}

// refusalReasons are the label values of the refused counter, created at
// zero so that alerts see the series before the first event.
var refusalReasons = []string{"budget", "estimate", "timeout", "busy"}

func newComputeMetrics() *computeMetrics {
	m := &computeMetrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_zmqcmd_computations_active", Help: "zmqcmd evaluations running now (bounded by max_computations).",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_zmqcmd_computations_waiting", Help: "zmqcmd evaluations waiting for a slot.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_zmqcmd_compute_refused_total",
			Help: "zmqcmd computations refused: over the CPU budget while running (budget) or by the estimate before running (estimate), over compute_timeout (timeout), no slot within compute_wait (busy).",
		}, []string{"reason"}),
	}
	for _, r := range refusalReasons {
		m.refused.WithLabelValues(r)
	}
	return m
}

// collectors are the service's own metrics (New registers them with
// Env.Metrics).
func (s *Server) collectors() []prometheus.Collector {
	return []prometheus.Collector{s.cm.active, s.cm.waiting, s.cm.refused}
}

// computeGate is the slot semaphore with its bookkeeping.
type computeGate struct {
	slots    chan struct{}
	inflight atomic.Int64
	peak     atomic.Int64 // highest inflight seen (tests)
	// entered and waiting, when set (tests only), run when a request has
	// taken a slot and when it starts to wait for one.
	entered func()
	waiting func()
}

// acquireCompute takes a computation slot, waiting at most ComputeWait
// (or until ctx ends), and returns its release.
func (s *Server) acquireCompute(ctx context.Context) (func(), error) {
	g := &s.gate
	select {
	case g.slots <- struct{}{}:
	default:
		s.cm.waiting.Inc()
		if g.waiting != nil {
			g.waiting()
		}
		t := time.NewTimer(s.cfg.ComputeWait)
		select {
		case g.slots <- struct{}{}:
			t.Stop()
			s.cm.waiting.Dec()
		case <-t.C:
			s.cm.waiting.Dec()
			return nil, errBusy
		case <-ctx.Done():
			t.Stop()
			s.cm.waiting.Dec()
			return nil, errBusy
		}
	}
	n := g.inflight.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	s.cm.active.Inc()
	if g.entered != nil {
		g.entered()
	}
	return func() {
		s.cm.active.Dec()
		g.inflight.Add(-1)
		<-g.slots
	}, nil
}

// countRefusal counts an evaluation error that is one of the refusals.
func (s *Server) countRefusal(err error) {
	switch kind := pyexpr.Kind(err); kind {
	case "budget", "estimate", "timeout", "busy":
		s.cm.refused.WithLabelValues(kind).Inc()
	}
}

// MaxComputations is the effective bound on concurrent evaluations.
func (s *Server) MaxComputations() int { return cap(s.gate.slots) }
