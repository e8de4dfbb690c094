package netsvc

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the per-service series every connection feeds. One Metrics is
// shared by all services of a daemon; the label "service" tells them apart.
type Metrics struct {
	accepted          *prometheus.CounterVec
	active            *prometheus.GaugeVec
	rejected          *prometheus.CounterVec
	requests          *prometheus.CounterVec
	latency           *prometheus.HistogramVec
	bytesIn           *prometheus.CounterVec
	bytesOut          *prometheus.CounterVec
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
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_bytes_received_total", Help: "Bytes read from clients.",
		}, []string{"service"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_bytes_sent_total", Help: "Bytes written to clients.",
		}, []string{"service"}),
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
			Name: "gatehouse_rate_limited_total", Help: "Requests refused by a per-address rate limit, by what they tried (e.g. register).",
		}, []string{"service", "what"}),
	}
	if reg != nil {
		reg.MustRegister(m.accepted, m.active, m.rejected, m.requests, m.latency,
			m.bytesIn, m.bytesOut, m.handshakeFailures, m.panics, m.closed, m.rateLimited)
	}
	return m
}

// RejectReasons are the values of gatehouse_connections_rejected_total's
// reason label.
var RejectReasons = []string{"limit", "per_ip_limit"}

// precreate makes every fixed series of service name exist at zero, so an
// alert on the first panic, rejection or cut sees it (a counter that appears
// only with its first event has no earlier value to compare with).
func (m *Metrics) precreate(name string) {
	m.accepted.WithLabelValues(name)
	m.active.WithLabelValues(name)
	m.bytesIn.WithLabelValues(name)
	m.bytesOut.WithLabelValues(name)
	m.handshakeFailures.WithLabelValues(name)
	m.panics.WithLabelValues(name)
	for _, r := range RejectReasons {
		m.rejected.WithLabelValues(name, r)
	}
	for _, r := range ClosedReasons {
		m.closed.WithLabelValues(name, r)
	}
}
