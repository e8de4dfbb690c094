package daemon

import (
	"bufio"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/svckit"
)

// A stand-in service that declares its request names and rate-limited
// actions through Deps, as the real factories do.
const testCmdSvc = "daemon-test-cmds"

func testCmdBuild(d *svckit.Deps) (netsvc.Handler, error) {
	d.Commands = []string{"PING", "PUT"}
	d.RateLimited = []string{"register"}
	return netsvc.HandlerFunc(func(ctx context.Context, c *netsvc.Conn) error { return nil }), nil
}

// ScrapeGatehouse reads /metrics at admin and returns every gatehouse_
// sample, keyed by its name and labels as exposed.
func scrapeGatehouse(t *testing.T, admin string) map[string]float64 {
	t.Helper()
	code, body := get(t, "http://"+admin+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "gatehouse_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// Every series an alert may watch exists at zero right after start-up:
// the fixed ones, and the commands and rate-limited actions the service
// declared through Deps. Before, a counter appeared with its first event,
// so "increase() > 0" missed that event.
func TestEverySeriesExistsAtZeroFromStart(t *testing.T) {
	cfg := testConfig(t)
	d, err := startServices(context.Background(), cfg, slog.New(slog.DiscardHandler), []svcSpec{
		{name: testCmdSvc, addr: "127.0.0.1:0", common: config.Common{Enabled: true, MaxConns: 4, IdleTimeout: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	got := scrapeGatehouse(t, d.AdminAddr().String())
	s := `service="` + testCmdSvc + `"`
	want := []string{
		`gatehouse_connections_accepted_total{` + s + `}`,
		`gatehouse_connections_active{` + s + `}`,
		`gatehouse_handshake_failures_total{` + s + `}`,
		`gatehouse_panics_total{` + s + `}`,
		`gatehouse_bytes_received_total{` + s + `}`,
		`gatehouse_bytes_sent_total{` + s + `}`,
		`gatehouse_requests_total{command="PING",` + s + `,status="ok"}`,
		`gatehouse_requests_total{command="PUT",` + s + `,status="ok"}`,
		`gatehouse_request_duration_seconds_count{command="PING",` + s + `}`,
		`gatehouse_rate_limited_total{` + s + `,what="register"}`,
	}
	for _, r := range netsvc.RejectReasons {
		want = append(want, `gatehouse_connections_rejected_total{reason="`+r+`",`+s+`}`)
	}
	for _, r := range netsvc.ClosedReasons {
		want = append(want, `gatehouse_connections_closed_total{reason="`+r+`",`+s+`}`)
	}
	for _, w := range want {
		v, ok := got[w]
		if !ok {
			t.Errorf("%s missing at start-up", w)
		} else if v != 0 {
			t.Errorf("%s = %v at start-up", w, v)
		}
	}
	for k, v := range got {
		if v != 0 && !strings.HasPrefix(k, "gatehouse_build_info{") { // the one constant 1
			t.Errorf("%s = %v before any traffic", k, v)
		}
	}
}
