package zmqcmd

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
)

// startWithMetrics serves cfg through netsvc with the request metrics in
// a registry of its own.
func startWithMetrics(t *testing.T, cfg Config) (addr string, reg *prometheus.Registry) {
	t.Helper()
	reg = prometheus.NewRegistry()
	s, err := New(cfg, Env{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := netsvc.New(nil, netsvc.NewMetrics(reg))
	if err := srv.Listen(netsvc.Service{Name: "zmqcmd", Addr: "127.0.0.1:0", Handler: s, Limits: netsvctest.DefaultLimits}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv.Addr("zmqcmd").String(), reg
}

// requests is gatehouse_requests_total{command, status}.
func requests(t *testing.T, reg *prometheus.Registry, command string, status netsvc.Status) float64 {
	t.Helper()
	return netsvctest.Value(t, reg, "gatehouse_requests_total", map[string]string{"command": command, "status": string(status)})
}

// Each reply is counted under the status vocabulary (docs/zmqcmd.md,
// "Metrics"): the expression's own errors are the client's, the server's
// bounds refuse, a missing program is the server's, a non-zero exit is a
// served request.
func TestRequestStatuses(t *testing.T) {
	t.Parallel()
	cfg, dir := osConfig(t)
	cfg.CommandPath = []string{dir} // no ping here
	cfg.CommandTimeout = 300 * time.Millisecond
	fakeBin(t, dir, "uptime", `echo up; exit 3`)
	// A command that outlives command_timeout: the deadline passing is the
	// thing under test (bounded by the 300 ms timeout).
	fakeBin(t, dir, "date", `exec /bin/sleep 30`)
	addr, reg := startWithMetrics(t, cfg)
	c := dial(t, addr)
	ctx := context.Background()
	for _, req := range [][]byte{
		ComputeRequest("(6 + 4) * 8"),                       // ok
		ComputeRequest("10/0"),                              // client_error
		ComputeRequest("1 +"),                               // client_error
		ComputeRequest(estimateRefusedExpr),                 // refused (budget estimate)
		[]byte(`{"command_type": "compute"}`),               // client_error (no expression)
		[]byte(`{"command_type": "shell"}`),                 // invalid, client_error
		[]byte(`not json`),                                  // invalid, client_error
		OSRequest("echo", []string{"hi"}),                   // ok (builtin)
		OSRequest("uptime", nil),                            // ok (exit code 3)
		OSRequest("rm", []string{"-rf", "/"}),               // refused (not allowed)
		OSRequest("ping", []string{"127.0.0.1", "; id"}),    // refused (argument validator)
		OSRequest("ping", []string{"-c", "1", "127.0.0.1"}), // server_error (not installed)
		OSRequest("date", nil),                              // timeout
	} {
		if _, err := c.RoundTrip(ctx, req); err != nil {
			t.Fatalf("%s: %v", req, err)
		}
	}
	for _, v := range []struct {
		command string
		status  netsvc.Status
		want    float64
	}{
		{"compute", netsvc.StatusOK, 1},
		{"compute", netsvc.StatusClientError, 3},
		{"compute", netsvc.StatusRefused, 1},
		{"invalid", netsvc.StatusClientError, 2},
		{"os", netsvc.StatusOK, 2},
		{"os", netsvc.StatusRefused, 2},
		{"os", netsvc.StatusServerError, 1},
		{"os", netsvc.StatusTimeout, 1},
	} {
		if got := requests(t, reg, v.command, v.status); got != v.want {
			t.Errorf("requests{command=%s,status=%s} = %v, want %v", v.command, v.status, got, v.want)
		}
	}

	// compute_timeout (here through a clock that jumps an hour per
	// reading) is a timeout, and os_requires_curve refuses.
	cfg = DefaultConfig()
	cfg.Now = (&steppingClock{}).Now
	cfg.OSRequiresCurve = true
	addr, reg = startWithMetrics(t, cfg)
	c = dial(t, addr)
	for _, req := range [][]byte{ComputeRequest("2**70 + 2**70 + 2**70 + 2**70 + 2**70 + 2**70 + 1"), OSRequest("echo", []string{"hi"})} {
		if _, err := c.RoundTrip(ctx, req); err != nil {
			t.Fatalf("%s: %v", req, err)
		}
	}
	if got := requests(t, reg, "compute", netsvc.StatusTimeout); got != 1 {
		t.Errorf("compute timeout = %v, want 1", got)
	}
	if got := requests(t, reg, "os", netsvc.StatusRefused); got != 1 {
		t.Errorf("os on the NULL port with os_requires_curve: refused = %v, want 1", got)
	}
}
