package daemon

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/services"
	"gatehouse/internal/svckit"
)

// The daemon package is tested with a stand-in protocol registered under a
// test-only name; the real services are tested end to end from cmd/gatehouse.
const testSvc = "daemon-test-echo"

// testBuilds are the stand-in services' builds, by name.
var testBuilds = map[string]func(d *svckit.Deps) (netsvc.Handler, error){
	testSvc: func(d *svckit.Deps) (netsvc.Handler, error) {
		return netsvc.HandlerFunc(func(ctx context.Context, c *netsvc.Conn) error {
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return err
			}
			_, done := c.Request(ctx, "ECHO")
			_, err = io.WriteString(c, line)
			done("ok")
			return err
		}), nil
	},
	testCmdSvc:    testCmdBuild,
	testHoldSvc:   holdBuild,
	testReloadSvc: reloadBuild,
}

// svcSpec is a stand-in service to start: its name, address and limits.
type svcSpec struct {
	name, addr string
	common     config.Common
}

// startServices starts the stand-in services specs (without validating
// their limits, which tests leave at zero).
func startServices(ctx context.Context, cfg *config.Config, log *slog.Logger, specs []svcSpec) (*Daemon, error) {
	var list []services.Service
	for _, sp := range specs {
		sp := sp
		sp.common.Listen = sp.addr
		list = append(list, services.Service{Name: sp.name,
			Common: func(*config.Config) *config.Common { return &sp.common },
			Build:  func(_ *config.Config, d *svckit.Deps) (netsvc.Handler, error) { return testBuilds[sp.name](d) }})
	}
	return startList(ctx, cfg, log, list)
}

func testConfig(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Admin.Listen = "127.0.0.1:0"
	for _, s := range services.All {
		s.Common(cfg).Enabled = false
	}
	return cfg
}

func startWith(t *testing.T, cfg *config.Config) (*Daemon, error) {
	t.Helper()
	return startServices(context.Background(), cfg, slog.New(slog.DiscardHandler), []svcSpec{{name: testSvc, addr: "127.0.0.1:0", common: config.Common{Enabled: true, MaxConns: 4, IdleTimeout: time.Second}}})
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDaemonServesHealthzAndMetrics(t *testing.T) {
	d, err := startWith(t, testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := d.Server.Addr(testSvc).String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "hello\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || line != "hello\n" {
		t.Fatalf("echo: %q %v", line, err)
	}
	admin := "http://" + d.AdminAddr().String()
	code, body := get(t, admin+"/healthz")
	if code != 200 || !strings.Contains(body, testSvc+" ok") {
		t.Fatalf("healthz %d %q", code, body)
	}
	// The handler records the request after writing its answer: wait for
	// the counter rather than racing it.
	deadline := time.Now().Add(5 * time.Second)
	for code, body = get(t, admin+"/metrics"); !strings.Contains(body, `status="ok"} 1`) && time.Now().Before(deadline); code, body = get(t, admin+"/metrics") {
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{
		`gatehouse_connections_accepted_total{service="` + testSvc + `"} 1`,
		`gatehouse_requests_total{command="ECHO",service="` + testSvc + `",status="ok"} 1`,
		"gatehouse_request_duration_seconds_bucket",
		"go_goroutines",
		`gatehouse_build_info{goversion="go`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("metrics missing %q (code %d)", want, code)
		}
	}
	if err := d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", addr, 500*time.Millisecond); err == nil {
		t.Fatal("service still accepting after shutdown")
	}
}

func TestBusyPortFailsStartupAndLeavesNothingBound(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	adminAddr := free.Addr().String()
	free.Close()

	cfg := testConfig(t)
	cfg.Admin.Listen = adminAddr
	_, err = startServices(context.Background(), cfg, slog.New(slog.DiscardHandler), []svcSpec{
		{name: testSvc, addr: taken.Addr().String(), common: config.Common{Enabled: true}},
	})
	if err == nil || !strings.Contains(err.Error(), testSvc) || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Fatalf("want an error naming service and address, got %v", err)
	}
	// The admin port bound before the failure was released.
	ln, err := net.Listen("tcp", adminAddr)
	if err != nil {
		t.Fatalf("admin port left bound after failed start: %v", err)
	}
	ln.Close()

	cfg.Admin.Listen = taken.Addr().String()
	if _, err := startWith(t, cfg); err == nil || !strings.Contains(err.Error(), "admin") {
		t.Fatalf("busy admin port: %v", err)
	}
}
