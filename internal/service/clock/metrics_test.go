package clock

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
)

// startWithMetrics serves a Server through netsvc with its metrics in reg.
func startWithMetrics(t *testing.T, o Config, l netsvc.Limits) (*netsvc.Server, string, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	srv := netsvc.New(nil, netsvc.NewMetrics(reg))
	if err := srv.Listen(netsvc.Service{Name: "clock", Addr: "127.0.0.1:0", Handler: newServer(t, o, Env{Metrics: reg}), Limits: l}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, srv.Addr("clock").String(), reg
}

// counter reads the series of the named metric whose labels include want
// (0 when there is none).
func counter(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	return netsvctest.Value(t, reg, name, want)
}

// Each request feeds the per-command counters; bad keys count as failed
// handshakes, but a silent client cut off by shutdown does not.
func TestMetrics(t *testing.T) {
	t.Parallel()
	srv, addr, reg := startWithMetrics(t, testConfig(newExponents(7), time.Time{}), netsvctest.DefaultLimits)
	c := dialRaw(t, addr)
	if got := exchange(t, c, []byte("169")); string(got) != "146" {
		t.Fatalf("server key %q", got)
	}
	exchange(t, c, Encrypt(nil, []byte("TIME"), 211))
	c.Write(Encrypt(nil, []byte("HELO"), 211))
	waitUnknown(t, reg, 1) // else DATE may join HELO in one read
	exchange(t, c, Encrypt(nil, []byte("DATE"), 211))

	bad := dialRaw(t, addr)
	bad.Write([]byte("abc"))
	expectClosed(t, bad)

	silent := dialRaw(t, addr)
	waitActive(t, srv, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// No check of Shutdown's error: netsvc's Conn.Read can, rarely, set its
	// own deadline just after beginDrain set "now", and then the drain
	// deadline cuts the silent connection instead. Either way it must not
	// count as a failed handshake.
	srv.Shutdown(ctx)
	expectClosed(t, silent)

	for _, v := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"command": "KEY", "status": string(netsvc.StatusOK)}, 1},
		{map[string]string{"command": "KEY", "status": string(netsvc.StatusClientError)}, 1},
		{map[string]string{"command": "TIME", "status": string(netsvc.StatusOK)}, 1},
		{map[string]string{"command": "DATE", "status": string(netsvc.StatusOK)}, 1},
		{map[string]string{"command": "UNKNOWN", "status": string(netsvc.StatusClientError)}, 1},
	} {
		if got := counter(t, reg, "gatehouse_requests_total", v.labels); got != v.want {
			t.Errorf("requests %v = %v, want %v", v.labels, got, v.want)
		}
	}
	if got := counter(t, reg, "gatehouse_handshake_failures_total", nil); got != 1 {
		t.Errorf("handshake failures = %v, want 1 (the garbage key only)", got)
	}
}

// failingTemp is a TEMP source whose sensor is gone.
type failingTemp struct{}

func (failingTemp) Celsius() (int, error) { return 0, errors.New("sensor gone") }

// The other statuses (docs/clock.md, "Metrics"): invalid UTF-8 is the
// client's error, a TEMP source that fails is the server's, and a weak
// client key refused by the opt-in is a refusal.
func TestMetricsStatuses(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	srv := netsvc.New(nil, netsvc.NewMetrics(reg))
	h := newServer(t, testConfig(newExponents(7), time.Time{}), Env{Temp: failingTemp{}, Metrics: reg})
	if err := srv.Listen(netsvc.Service{Name: "clock", Addr: "127.0.0.1:0", Handler: h, Limits: netsvctest.DefaultLimits}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	addr := srv.Addr("clock").String()

	c := dialRaw(t, addr)
	if got := exchange(t, c, []byte("169")); string(got) != "146" {
		t.Fatalf("server key %q", got)
	}
	c.Write(Encrypt(nil, []byte{0xff, 'T', 'I', 'M', 'E'}, 211))
	expectClosed(t, c)

	c = dialRaw(t, addr)
	if got := exchange(t, c, []byte("169")); string(got) != "146" {
		t.Fatalf("server key %q", got)
	}
	c.Write(Encrypt(nil, []byte("TEMP"), 211))
	expectClosed(t, c)

	_, addr2, reg2 := startWithMetrics(t, refusing(DefaultConfig()), netsvctest.DefaultLimits)
	c = dialRaw(t, addr2)
	c.Write([]byte("1"))
	expectClosed(t, c)

	for _, v := range []struct {
		reg    *prometheus.Registry
		labels map[string]string
	}{
		{reg, map[string]string{"command": "INVALID", "status": string(netsvc.StatusClientError)}},
		{reg, map[string]string{"command": "TEMP", "status": string(netsvc.StatusServerError)}},
		{reg2, map[string]string{"command": "KEY", "status": string(netsvc.StatusRefused)}},
	} {
		if got := counter(t, v.reg, "gatehouse_requests_total", v.labels); got != 1 {
			t.Errorf("requests %v = %v, want 1", v.labels, got)
		}
	}
}
