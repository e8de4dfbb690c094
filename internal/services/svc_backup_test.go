package services_test

import (
	"context"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/services"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/service/backup"
	"gatehouse/internal/store"
)

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func onlyBackup(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Admin.Enabled = false
	for _, n := range services.Names() {
		sc, _ := services.Common(cfg, n)
		sc.Enabled = n == "backup"
	}
	return cfg
}

// The original took its port from port.info; without an explicit listen
// address the daemon binds that port instead of 1357, and an explicit
// address wins over the file.
func TestBackupPortInfoChoosesTheListenPort(t *testing.T) {
	t.Parallel()
	cfg := onlyBackup(t)
	port := freePort(t)
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "port.info"), []byte(strconv.Itoa(port)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got := d.Server.Addr("backup").String()
	d.Shutdown()
	if want := "127.0.0.1:" + strconv.Itoa(port); got != want {
		t.Fatalf("backup listens on %s, want the port.info port %s", got, want)
	}
	cfg.Services.Backup.Listen = "127.0.0.1:0"
	d, err = daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got = d.Server.Addr("backup").String()
	d.Shutdown()
	if got == "127.0.0.1:"+strconv.Itoa(port) {
		t.Fatal("port.info overrode an explicit services.backup.listen")
	}
}

// keep_versions reaches the service: the sweep at start-up drops versions
// past it (never the newest); the usage gauges report the store's totals.
// The default configuration also backs "../notes.txt" up as notes.txt.
func TestBackupRetentionAndUsageMetrics(t *testing.T) {
	t.Parallel()
	cfg := onlyBackup(t)
	cfg.Services.Backup.Listen = "127.0.0.1:0"
	ctx := context.Background()
	d, err := daemon.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	key, err := backup.GenerateLegacyKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &backup.Client{Addr: d.Server.Addr("backup").String(), Name: "metrics", Key: key, Timeout: 10 * time.Second}
	if err := c.Register(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.ExchangeKeys(ctx); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"one", "two!", "three"} {
		if res, err := c.Upload(ctx, "../notes.txt", strings.NewReader(body), int64(len(body))); err != nil || !res.Verified {
			t.Fatal(res, err)
		}
	}
	if v := gauge(t, d, "gatehouse_backup_versions"); v != 3 {
		t.Fatalf("versions gauge %v, want 3", v)
	}
	if v := gauge(t, d, "gatehouse_backup_stored_bytes"); v != 12 {
		t.Fatalf("stored bytes gauge %v, want 12", v)
	}
	d.Shutdown()

	cfg.Services.Backup.KeepVersions = 2
	cfg.Services.Backup.KeepDays = 0 // the count rule alone (the default also keeps a month)
	d, err = daemon.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	var vs []store.BackupVersion
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if vs, err = d.Store.BackupVersions(ctx, c.ID.String(), "notes.txt"); err != nil || len(vs) == 2 {
			break
		}
	}
	if len(vs) != 2 || vs[0].Version != 2 || vs[1].Version != 3 {
		t.Fatalf("versions after the start-up sweep: %+v %v", vs, err)
	}
}

func gauge(t *testing.T, d *daemon.Daemon, name string) float64 {
	t.Helper()
	return netsvctest.Value(t, d.Registry, name, nil)
}
