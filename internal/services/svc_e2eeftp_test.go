package services_test

import (
	"context"
	"gatehouse/internal/services"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
)

func onlyE2EEFTP(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Admin.Enabled = false
	for _, n := range services.Names() {
		sc, _ := services.Common(cfg, n)
		sc.Enabled = n == "e2eeftp"
		sc.Listen = "127.0.0.1:0"
	}
	return cfg
}

// A replay window shorter than an hour would let clock skew between
// daemons matter; the daemon refuses to start with one.
func TestE2EEFTPReplayWindowMinimum(t *testing.T) {
	t.Parallel()
	cfg := onlyE2EEFTP(t)
	cfg.Services.E2EEFTP.ReplayWindow = time.Minute
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		d.Shutdown()
		t.Fatal("started with a one-minute replay window")
	}
	if !strings.Contains(err.Error(), "replay_window") {
		t.Fatalf("error does not name the key: %v", err)
	}
}

// The pruner runs at start-up against the daemon's store: a key recorded
// long before the window is gone once the service is up.
func TestE2EEFTPReplayPrunedAtStart(t *testing.T) {
	t.Parallel()
	cfg := onlyE2EEFTP(t)
	ctx := context.Background()
	db, err := daemon.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	old := make([]byte, 32)
	old[0] = 1
	if _, err := db.E2EEFTPReplayRecord(ctx, old, time.Now().Add(-31*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	recent := make([]byte, 32)
	recent[0] = 2
	if _, err := db.E2EEFTPReplayRecord(ctx, recent, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	d, err := daemon.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := d.Store.E2EEFTPReplayCount(ctx)
		if err == nil && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay log holds %d keys (%v), want only the recent one", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if fresh, err := d.Store.E2EEFTPReplayRecord(ctx, recent, time.Now()); err != nil || fresh {
		t.Fatalf("recent key forgotten: fresh=%v %v", fresh, err)
	}
}
