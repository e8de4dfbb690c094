package netsvctest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Value reads one series from g: the value of the first series of the
// metric family name whose labels include every label in labels (nil
// matches the family's first series). A label asked for with the value ""
// matches a series without that label, as in Prometheus. The value is a
// counter's, gauge's or untyped metric's value, or a histogram's or
// summary's sample count.
//
// Value returns 0 when g has no such family or series, so it cannot tell
// an absent series from one at zero; a test that must see a series exist
// has to look at g.Gather itself. A Gather error fails the test.
func Value(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("netsvctest: gather (reading %s): %v", name, err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				return sampleValue(mf.GetType(), m)
			}
		}
	}
	return 0
}

// hasLabels reports whether m carries every label of want.
func hasLabels(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		have := ""
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k {
				have = lp.GetValue()
				break
			}
		}
		if have != v {
			return false
		}
	}
	return true
}

// sampleValue is the value Value reports for m, a series of type typ.
func sampleValue(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	case dto.MetricType_SUMMARY:
		return float64(m.GetSummary().GetSampleCount())
	default:
		return m.GetUntyped().GetValue()
	}
}
