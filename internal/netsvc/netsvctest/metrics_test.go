package netsvctest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestValue(t *testing.T) {
	reg := prometheus.NewRegistry()
	req := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_requests_total", Help: "h"}, []string{"service", "status"})
	active := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "t_active", Help: "h"}, []string{"service"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "t_seconds", Help: "h"}, []string{"service"})
	sum := prometheus.NewSummary(prometheus.SummaryOpts{Name: "t_summary", Help: "h"})
	reg.MustRegister(req, active, lat, sum)
	req.WithLabelValues("a", "ok").Add(3)
	req.WithLabelValues("a", "error").Add(5)
	req.WithLabelValues("b", "ok").Add(7)
	active.WithLabelValues("a").Set(-2)
	for range 4 {
		lat.WithLabelValues("b").Observe(0.5)
	}
	sum.Observe(1)
	sum.Observe(2)

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"t_requests_total", map[string]string{"service": "a", "status": "ok"}, 3},
		{"t_requests_total", map[string]string{"service": "a", "status": "error"}, 5},
		{"t_requests_total", map[string]string{"status": "ok", "service": "b"}, 7},
		{"t_requests_total", map[string]string{"service": "b"}, 7},
		{"t_active", map[string]string{"service": "a"}, -2},
		{"t_active", nil, -2},
		{"t_seconds", map[string]string{"service": "b"}, 4},
		{"t_summary", nil, 2},
		{"t_summary", map[string]string{"service": ""}, 2}, // "" is an absent label
		// Absent series and families read as 0.
		{"t_requests_total", map[string]string{"service": "b", "status": "error"}, 0},
		{"t_requests_total", map[string]string{"service": "a", "command": "GET"}, 0},
		{"t_active", map[string]string{"service": "c"}, 0},
		{"t_missing_total", nil, 0},
	} {
		if got := Value(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("Value(%s, %v) = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// fatalTB records Fatalf and stops the caller as t.Fatal would.
type fatalTB struct {
	testing.TB
	msg string
}

type stopped struct{}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(stopped{})
}

// A Gather error fails the test instead of reading as 0.
func TestValueGatherError(t *testing.T) {
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, errors.New("boom") })
	f := &fatalTB{TB: t}
	returned := func() (ok bool) {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stopped); !ok {
					panic(r)
				}
			}
		}()
		Value(f, g, "t_requests_total", nil)
		return true
	}()
	if returned || f.msg == "" {
		t.Fatalf("Value returned after a Gather error (fatal message %q)", f.msg)
	}
}
