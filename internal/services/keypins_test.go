package services_test

import (
	"context"
	"gatehouse/internal/services"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/store/storetest"
)

// pinConfig is a daemon with only backup and e2eeftp (the services whose
// keys are pinned), on the shared store dsn and local blobs of its own.
func pinConfig(t *testing.T, dsn string) *config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Admin.Enabled = false
	cfg.Store.DSN = dsn
	cfg.DrainTimeout = 2 * time.Second
	for _, n := range services.Names() {
		sc, _ := services.Common(cfg, n)
		sc.Enabled = n == "e2eeftp" || n == "backup"
		sc.Listen = "127.0.0.1:0"
	}
	cfg.Services.Backup.PortInfo = false
	return cfg
}

// A daemon whose e2eeftp identity or backup master key differs from the one
// the shared store has seen refuses to start, naming the key; after
// 'admin keys unpin' it starts and records its own.
func TestMismatchedSharedKeyRefusedAtStart(t *testing.T) {
	t.Parallel()
	engines := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "shared.db") },
		"postgres": func(t *testing.T) string { return storetest.PGDSN(t) },
	}
	for name, dsnFor := range engines {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			log := slog.New(slog.DiscardHandler)
			dsn := dsnFor(t)
			cfgA := pinConfig(t, dsn)
			a, err := daemon.Start(ctx, cfgA, log)
			if err != nil {
				t.Fatal(err)
			}
			a.Shutdown()

			// B has keys of its own: both pins must refuse it, one at a time.
			cfgB := pinConfig(t, dsn)
			_, err = daemon.Start(ctx, cfgB, log)
			if err == nil || !strings.Contains(err.Error(), "the store records") {
				t.Fatalf("daemon with a different key started: %v", err)
			}
			first := "backup/master.key"
			if strings.Contains(err.Error(), "e2eeftp/server_id") {
				first = "e2eeftp/server_id"
			}
			copyFiles(t, cfgA.DataDir, cfgB.DataDir, "backup/master.key")
			copyFiles(t, cfgA.DataDir, cfgB.DataDir, e2eeftpKeyFiles[0])
			b, err := daemon.Start(ctx, cfgB, log)
			if err != nil {
				t.Fatalf("daemon with the same keys refused (first refusal named %s): %v", first, err)
			}
			b.Shutdown()

			// A deliberate rotation: new identity on C, refused until unpinned.
			cfgC := pinConfig(t, dsn)
			copyFiles(t, cfgA.DataDir, cfgC.DataDir, "backup/master.key")
			if _, err := daemon.Start(ctx, cfgC, log); err == nil || !strings.Contains(err.Error(), "e2eeftp/server_id") {
				t.Fatalf("rotated identity: %v", err)
			}
			db, err := daemon.OpenStore(ctx, cfgC)
			if err != nil {
				t.Fatal(err)
			}
			if found, err := db.UnpinKey(ctx, "e2eeftp/server_id"); err != nil || !found {
				t.Fatalf("unpin: %v %v", found, err)
			}
			db.Close()
			c, err := daemon.Start(ctx, cfgC, log)
			if err != nil {
				t.Fatalf("after unpin: %v", err)
			}
			c.Shutdown()
			// Now A's old identity is the stranger.
			if _, err := daemon.Start(ctx, cfgA, log); err == nil {
				t.Fatal("old identity accepted after the rotation was pinned")
			}
		})
	}
}
