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
	}
	if reg != nil {
		reg.MustRegister(m.accepted, m.active, m.rejected, m.requests, m.latency,
			m.bytesIn, m.bytesOut, m.handshakeFailures, m.panics)
	}
	return m
}
