package services_test

import (
	"context"
	"gatehouse/internal/services"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
)

func onlyClock(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Admin.Enabled = false
	for _, n := range services.Names() {
		sc, _ := services.Common(cfg, n)
		sc.Enabled = n == "clock"
		sc.Listen = "127.0.0.1:0"
	}
	return cfg
}

func weakKeys(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "gatehouse_clock_weak_keys_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "outcome" {
					out[lp.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// With the default configuration the daemon exports the weak-key counter
// at zero from start-up, and a client key of 0 (shift 0) gets plaintext
// TIME, as from the original server, and is counted.
func TestClockDaemonServesWeakKeyAndCountsIt(t *testing.T) {
	t.Parallel()
	d, err := daemon.Start(context.Background(), onlyClock(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	if got := weakKeys(t, d.Registry); len(got) != 2 || got["served"] != 0 || got["refused"] != 0 {
		t.Fatalf("at start-up: %v, want served and refused at 0", got)
	}
	c, err := net.DialTimeout("tcp", d.Server.Addr("clock").String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1024)
	c.Write([]byte("0"))
	if n, err := c.Read(buf); err != nil || n == 0 {
		t.Fatalf("server key: %q %v", buf[:n], err)
	}
	c.Write([]byte("TIME"))
	n, err := c.Read(buf)
	if err != nil || (n != 8 && n != 15) || buf[2] != ':' {
		t.Fatalf("plaintext TIME: %q %v", buf[:n], err)
	}
	if got := weakKeys(t, d.Registry); got["served"] != 1 {
		t.Fatalf("after one weak session: %v", got)
	}
}

// The deprecated allow_weak_client_keys still starts the daemon (it is the
// default behaviour now); combined with refuse_weak_client_keys it is an
// error that names both keys.
func TestClockDeprecatedAllowWeakKey(t *testing.T) {
	t.Parallel()
	cfg := onlyClock(t)
	cfg.Services.Clock.AllowWeakClientKeys = true
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("allow_weak_client_keys = true: %v", err)
	}
	d.Shutdown()
	cfg = onlyClock(t)
	cfg.Services.Clock.AllowWeakClientKeys = true
	cfg.Services.Clock.RefuseWeakClientKeys = true
	d, err = daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		d.Shutdown()
		t.Fatal("started with both allow_weak_client_keys and refuse_weak_client_keys")
	}
	if !strings.Contains(err.Error(), "allow_weak_client_keys") || !strings.Contains(err.Error(), "refuse_weak_client_keys") {
		t.Fatalf("error does not name the keys: %v", err)
	}
}
