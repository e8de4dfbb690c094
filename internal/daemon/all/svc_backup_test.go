package all_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
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
	for _, n := range config.ServiceNames() {
		sc, _ := cfg.ServiceCommon(n)
		sc.Enabled = n == "backup"
	}
	return cfg
}

// The original took its port from port.info; without an explicit listen
// address the daemon binds that port instead of 1357, and an explicit
// address wins over the file.
func TestBackupPortInfoChoosesTheListenPort(t *testing.T) {
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
