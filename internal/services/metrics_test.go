package services_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/services"
)

// With every real service enabled, /metrics right after start-up already
// holds, at zero, each service's fixed series, the request series of every
// command it counts under every status of the common vocabulary, and its
// rate-limited actions; no other status value appears.
func TestEveryServiceSeriesAtZeroFromStart(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Admin.Listen = "127.0.0.1:0"
	for _, n := range services.Names() {
		sc, _ := services.Common(cfg, n)
		sc.Enabled = true
		sc.Listen = "127.0.0.1:0"
	}
	d, err := daemon.Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	resp, err := http.Get("http://" + d.AdminAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	has := func(series string) bool { return strings.Contains(body, "\n"+series+" 0\n") }

	commands := map[string][]string{
		"backup":      {"register", "public_key", "reconnect", "file", "crc_ok", "crc_retry", "crc_fail", "list", "restore", "unknown"},
		"e2eeftp":     {"SEND", "GET", "LIST", "DELETE", "HLIST", "INVALID"},
		"clock":       {"KEY", "TIME", "DATE", "TEMP", "UNKNOWN", "INVALID"},
		"cloudreport": {"INIT", "INFO", "PING", "VERS", "DWNL", "ERRL", "GREQ", "SRSP", "UNKNOWN"},
		"zmqcmd":      {"compute", "os", "invalid"},
	}
	for _, svc := range services.Names() {
		s := `service="` + svc + `"`
		want := []string{`gatehouse_panics_total{` + s + `}`, `gatehouse_handshake_failures_total{` + s + `}`}
		for _, r := range netsvc.RejectReasons {
			want = append(want, `gatehouse_connections_rejected_total{reason="`+r+`",`+s+`}`)
		}
		for _, r := range netsvc.ClosedReasons {
			want = append(want, `gatehouse_connections_closed_total{reason="`+r+`",`+s+`}`)
		}
		if len(commands[svc]) == 0 {
			t.Errorf("no command list for service %s in this test", svc)
		}
		for _, c := range commands[svc] {
			want = append(want, `gatehouse_request_duration_seconds_count{command="`+c+`",`+s+`}`)
			for _, st := range netsvc.Statuses {
				want = append(want, `gatehouse_requests_total{command="`+c+`",`+s+`,status="`+string(st)+`"}`)
			}
		}
		for _, w := range want {
			if !has(w) {
				t.Errorf("%s not at zero at start-up", w)
			}
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "gatehouse_requests_total{") {
			continue
		}
		ok := false
		for _, st := range netsvc.Statuses {
			ok = ok || strings.Contains(line, `status="`+string(st)+`"`)
		}
		if !ok {
			t.Errorf("a status outside the vocabulary: %s", line)
		}
	}
	if !has(`gatehouse_rate_limited_total{service="backup",what="register"}`) {
		t.Error("backup's rate_limited{register} not at zero at start-up")
	}
}
