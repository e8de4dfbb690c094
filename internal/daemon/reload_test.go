package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/svckit"
)

const testReloadSvc = "daemon-test-reload"

// reloadHandler is a stand-in service whose Reload is counted and fails
// when told to.
type reloadHandler struct {
	netsvc.Handler
	calls atomic.Int32
	fail  atomic.Bool
}

func (h *reloadHandler) Reload(context.Context) error {
	h.calls.Add(1)
	if h.fail.Load() {
		return errors.New("cannot re-read")
	}
	return nil
}

var reloadStandIn *reloadHandler

func reloadBuild(d *svckit.Deps) (netsvc.Handler, error) {
	return reloadStandIn, nil
}

// Daemon.Reload (SIGHUP) calls every service handler that implements
// svckit.Reloader, logs a failure at error and carries on serving.
func TestReloadCallsServiceReloaders(t *testing.T) {
	reloadStandIn = &reloadHandler{Handler: netsvc.HandlerFunc(func(context.Context, *netsvc.Conn) error { return nil })}
	var logs bytes.Buffer
	d, err := startServices(context.Background(), testConfig(t), slog.New(slog.NewTextHandler(&logs, nil)),
		[]svcSpec{{name: testReloadSvc, addr: "127.0.0.1:0", common: config.Common{Enabled: true, MaxConns: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	d.Reload()
	if n := reloadStandIn.calls.Load(); n != 1 {
		t.Fatalf("Reload called the service %d times, want 1", n)
	}
	if !strings.Contains(logs.String(), "service reloaded") {
		t.Fatalf("no reload line:\n%s", logs.String())
	}
	reloadStandIn.fail.Store(true)
	d.Reload()
	if n := reloadStandIn.calls.Load(); n != 2 || !strings.Contains(logs.String(), "level=ERROR msg=\"service reload failed; it keeps what it had\"") {
		t.Fatalf("failing reload: %d calls, logs:\n%s", n, logs.String())
	}
}
