package services_test

import (
	"context"
	"gatehouse/internal/services"
	"log/slog"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/service/cloudreport"
)

// The default configuration serves a cloudreport client id nobody
// registered (open registration) and records it; the service's series
// exist from start-up.
func TestCloudreportDefaultConfigServesUnknownID(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Admin.Enabled = false
	for _, n := range services.Names() {
		sc, _ := services.Common(cfg, n)
		sc.Enabled = n == "cloudreport"
		sc.Listen = "127.0.0.1:0"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := daemon.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()

	series := map[string]bool{}
	mfs, err := d.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		series[mf.GetName()] = true
	}
	for _, want := range []string{"gatehouse_rate_limited_total", "gatehouse_cloudreport_duplicate_sessions_total",
		"gatehouse_cloudreport_clients_with_several_sessions", "gatehouse_cloudreport_clients_recorded_total"} {
		if !series[want] {
			t.Errorf("series %s missing at start-up", want)
		}
	}

	c, err := cloudreport.Dial(ctx, d.Server.Addr("cloudreport").String(), cloudreport.ClientOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Init(2); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(cloudreport.Fields{{Key: "ID", Value: "0000ABCD"}, {Key: "FN", Value: "Firm"}})
	if err != nil {
		t.Fatalf("INFO of an unknown id with the default config: %v", err)
	}
	if en, _ := info.Get("EN"); en != "1" {
		t.Fatalf("EN %q", en)
	}
	if _, err := c.Vers(); err != nil {
		t.Fatal(err)
	}
	cl, err := d.Store.CloudreportClient(ctx, "0000abcd")
	if err != nil || cl.Name != "Firm" || !cl.Enabled || cl.LastAddr != "127.0.0.1" {
		t.Fatalf("recorded %+v %v", cl, err)
	}
}
