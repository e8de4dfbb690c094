package daemon

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/fsutil/tmpfstest"
	"gatehouse/internal/syncbuf"
)

// With the data folder (store and blobs) on a file system that fills up,
// /readyz turns 503 and names both parts degraded with the reason and the
// free space, while /healthz (liveness) stays 200; freeing space makes it
// ready again. Before, nothing reported a full disk at all.
func TestReadyzReportsFullDisk(t *testing.T) {
	mnt := tmpfstest.Mount(t, 8<<10)
	cfg := testConfig(t)
	cfg.DataDir = mnt
	cfg.Storage.MinFreeMB = 1
	d, err := startWith(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	admin := "http://" + d.AdminAddr().String()
	code, body := get(t, admin+"/readyz")
	if code != 200 || !strings.Contains(body, "store ok") || !strings.Contains(body, "blobs ok") {
		t.Fatalf("readyz on a fresh disk: %d %q", code, body)
	}

	filler := tmpfstest.Fill(t, mnt)
	code, body = get(t, admin+"/readyz")
	if code != 503 {
		t.Fatalf("readyz on a full disk: %d %q", code, body)
	}
	for _, want := range []string{"store degraded free_mb=0", "blobs degraded free_mb=0", `reason="no space left`, `dir="` + mnt} {
		if !strings.Contains(body, want) {
			t.Errorf("readyz body lacks %q:\n%s", want, body)
		}
	}
	if code, body := get(t, admin+"/healthz"); code != 200 {
		t.Fatalf("healthz (liveness) on a full disk: %d %q", code, body)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, admin+"/readyz"); code != 200 {
		t.Fatalf("readyz after freeing space: %d %q", code, body)
	}
}

// Under storage.min_free_mb the daemon logs a warning (checked at start,
// then every minute) and /readyz says why.
func TestLowFreeSpaceWarning(t *testing.T) {
	cfg := testConfig(t)
	cfg.Storage.MinFreeMB = 1 << 40 // more than any disk has
	logs := &syncbuf.Buffer{}
	d, err := startServices(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)),
		[]svcSpec{{name: testSvc, addr: "127.0.0.1:0", common: config.Common{Enabled: true, MaxConns: 4, IdleTimeout: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	code, body := get(t, "http://"+d.AdminAddr().String()+"/readyz")
	if code != 503 || !strings.Contains(body, "low free space") || !strings.Contains(body, "storage.min_free_mb") {
		t.Fatalf("readyz under the threshold: %d %q", code, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "storage degraded: low free space") {
		if time.Now().After(deadline) {
			t.Fatalf("no low-space warning logged:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("warning not at WARN level:\n%s", logs.String())
	}
}
