package daemon

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/svckit"
)

const testHoldSvc = "hold"

// holdRelease lets the "hold" stand-in service finish its request; each
// test run makes a new one before building the service.
var holdRelease chan struct{}

// holdBuild is the "hold" stand-in service (listed in testBuilds): it
// answers one byte with "held" and keeps its request open until released.
func holdBuild(*svckit.Deps) (netsvc.Handler, error) {
	release := holdRelease
	return netsvc.HandlerFunc(func(ctx context.Context, c *netsvc.Conn) error {
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return err
		}
		c.SetIdentity("client-42")
		_, done := c.Request(ctx, "HOLD")
		io.WriteString(c, "held\n")
		<-release
		done("ok")
		return nil
	}), nil
}

// /connz lists live sessions with their service, remote address, identity,
// start time, bytes and the request in progress; pprof is off unless set.
func TestConnzAndPprof(t *testing.T) {
	cfg := testConfig(t)
	cfg.Admin.Pprof = true
	holdRelease = make(chan struct{})
	d, err := startServices(context.Background(), cfg, slog.New(slog.DiscardHandler),
		[]svcSpec{{name: testHoldSvc, addr: "127.0.0.1:0", common: config.Common{Enabled: true, MaxConns: 4, IdleTimeout: 5 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	defer close(holdRelease)
	c, err := net.Dial("tcp", d.Server.Addr(testHoldSvc).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{'x'})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(io.LimitReader(c, 5)); err != nil || string(b) != "held\n" {
		t.Fatalf("hold: %q %v", b, err)
	}
	admin := "http://" + d.AdminAddr().String()
	var v struct {
		Count int               `json:"count"`
		Conns []netsvc.ConnInfo `json:"connections"`
	}
	// The server counts its written bytes after Write returns, which can
	// be after the client already read them: poll until they show.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := get(t, admin+"/connz")
		if code != 200 || json.Unmarshal([]byte(body), &v) != nil || v.Count != 1 || len(v.Conns) != 1 {
			t.Fatalf("connz %d: %s", code, body)
		}
		if v.Conns[0].BytesOut == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := v.Conns[0]
	if got.Service != testHoldSvc || got.Identity != "client-42" || got.Command != "HOLD" ||
		got.Remote != c.LocalAddr().String() || got.BytesIn != 1 || got.BytesOut != 5 || time.Since(got.Since) > time.Minute {
		t.Fatalf("connz entry %+v", got)
	}
	if code, body := get(t, admin+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof on: %d", code)
	}
	cfg2 := testConfig(t)
	d2, err := startWith(t, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Shutdown()
	if code, _ := get(t, "http://"+d2.AdminAddr().String()+"/debug/pprof/"); code != 404 {
		t.Fatalf("pprof off by default, got %d", code)
	}
}
