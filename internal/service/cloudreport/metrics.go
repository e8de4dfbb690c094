package cloudreport

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/netsvc"
)

// metrics are the service's own series. Label sets are fixed: no client id
// is ever a label.
type metrics struct {
	// duplicates counts INFOs that gave a client id a further live
	// session; multiIDs is the number of ids with more than one now.
	duplicates prometheus.Counter
	multiIDs   prometheus.Gauge
	registered prometheus.Counter // ids recorded by open registration
	// rateLimited is gatehouse_rate_limited_total{service,what}.
	rateLimited prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	dup := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_cloudreport_duplicate_sessions_total",
		Help: "INFOs that gave a client id another live session while one was open (the older one is kept).",
	})
	multi := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatehouse_cloudreport_clients_with_several_sessions",
		Help: "Client ids with more than one live session now.",
	})
	regd := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_cloudreport_clients_recorded_total",
		Help: "Client ids recorded by open registration on their first INFO.",
	})
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_rate_limited_total",
		Help: netsvc.RateLimitedHelp, // the family netsvc registers too
	}, []string{"service", "what"})
	if reg != nil {
		dup = adopt(reg, dup)
		multi = adopt(reg, multi)
		regd = adopt(reg, regd)
		// The same family may be registered by a shared limiter too.
		limited = adopt(reg, limited)
	}
	// Every series exists from start-up, at zero.
	return &metrics{duplicates: dup, multiIDs: multi, registered: regd,
		rateLimited: limited.WithLabelValues("cloudreport", "first_seen")}
}

// adopt registers c, or returns the collector already registered under its
// name (a second server on one registry, or a shared family); if c cannot
// be registered at all it stays unexported but still counts.
func adopt[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing
		}
	}
	return c
}
