package netsvc

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the per-service series every connection feeds. One Metrics is
// shared by all services of a daemon; the label "service" tells them apart.
type Metrics struct {
	accepted          *prometheus.CounterVec
	active            *prometheus.GaugeVec
	rejected          *prometheus.CounterVec
	requests          *prometheus.CounterVec
	latency           *prometheus.HistogramVec
	bytesIn           *byteCounter
	bytesOut          *byteCounter
	handshakeFailures *prometheus.CounterVec
	panics            *prometheus.CounterVec
	closed            *prometheus.CounterVec
	rateLimited       *prometheus.CounterVec
}

// NewMetrics creates the series and registers them with reg (which may be
// nil for tests that do not export them).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_connections_accepted_total", Help: "Connections accepted, per service.",
		}, []string{"service"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_connections_active", Help: "Connections being served now, per service.",
		}, []string{"service"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_connections_rejected_total", Help: "Connections closed at once because the service was at its connection limit or draining.",
		}, []string{"service", "reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_requests_total", Help: "Requests served, by command and status.",
		}, []string{"service", "command", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_request_duration_seconds", Help: "Request latency, by command.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"service", "command"}),
		bytesIn:  newByteCounter("gatehouse_bytes_received_total", "Bytes read from clients.", false),
		bytesOut: newByteCounter("gatehouse_bytes_sent_total", "Bytes written to clients.", true),
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_handshake_failures_total", Help: "Failed handshakes (bad keys, signatures, greetings).",
		}, []string{"service"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_panics_total", Help: "Handler panics recovered (each ended one connection).",
		}, []string{"service"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_connections_closed_total", Help: "Sessions the server ended because a deadline passed: idle_timeout, handshake_timeout, message_timeout, write_timeout, too_slow (a transfer below min_rate).",
		}, []string{"service", "reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_rate_limited_total", Help: RateLimitedHelp,
		}, []string{"service", "what"}),
	}
	if reg != nil {
		reg.MustRegister(m.accepted, m.active, m.rejected, m.requests, m.latency,
			m.bytesIn, m.bytesOut, m.handshakeFailures, m.panics, m.closed, m.rateLimited)
	}
	return m
}

// RateLimitedHelp is the help text of gatehouse_rate_limited_total; a
// service that counts into the family itself must register it with exactly
// this text and the labels service, what, so that both share one family.
const RateLimitedHelp = "Requests refused or deferred by a per-address rate limit, by service and what was limited (e.g. register)."

// RejectReasons are the values of gatehouse_connections_rejected_total's
// reason label.
var RejectReasons = []string{"limit", "per_ip_limit"}

// precreate makes every fixed series of service name exist at zero, so an
// alert on the first panic, rejection or cut sees it (a counter that appears
// only with its first event has no earlier value to compare with).
func (m *Metrics) precreate(sv *svcState) {
	name := sv.name
	m.accepted.WithLabelValues(name)
	m.active.WithLabelValues(name)
	m.bytesIn.add(sv)
	m.bytesOut.add(sv)
	m.handshakeFailures.WithLabelValues(name)
	m.panics.WithLabelValues(name)
	for _, r := range RejectReasons {
		m.rejected.WithLabelValues(name, r)
	}
	for _, r := range ClosedReasons {
		m.closed.WithLabelValues(name, r)
	}
}

// byteCounter is gatehouse_bytes_received_total or _sent_total: a counter
// per service, read from the services' own byte counts when scraped (a
// Read or Write adds to its connection's count only, never to a shared
// series). Several services of one name (two Servers on one Metrics) add
// up to one series, as with a CounterVec.
type byteCounter struct {
	desc *prometheus.Desc
	out  bool // bytes sent, not received
	mu   sync.Mutex
	svcs map[string][]*svcState // the services being served
	done map[string]int64       // what the shut-down ones moved
}

func newByteCounter(name, help string, out bool) *byteCounter {
	return &byteCounter{desc: prometheus.NewDesc(name, help, []string{"service"}, nil), out: out,
		svcs: map[string][]*svcState{}, done: map[string]int64{}}
}

func (b *byteCounter) add(sv *svcState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.svcs[sv.name] = append(b.svcs[sv.name], sv)
	b.done[sv.name] += 0
}

// retire keeps what sv moved and lets it go (Shutdown, once every
// connection of sv has ended).
func (b *byteCounter) retire(sv *svcState) {
	b.mu.Lock()
	defer b.mu.Unlock()
	svcs := b.svcs[sv.name]
	for i, s := range svcs {
		if s == sv {
			b.done[sv.name] += b.count(sv)
			b.svcs[sv.name] = append(svcs[:i:i], svcs[i+1:]...)
			return
		}
	}
}

func (b *byteCounter) count(sv *svcState) int64 {
	in, out := sv.bytes()
	if b.out {
		return out
	}
	return in
}

func (b *byteCounter) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

func (b *byteCounter) Collect(ch chan<- prometheus.Metric) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for name, total := range b.done {
		for _, sv := range b.svcs[name] {
			total += b.count(sv)
		}
		ch <- prometheus.MustNewConstMetric(b.desc, prometheus.CounterValue, float64(total), name)
	}
}
