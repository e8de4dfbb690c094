package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The connection-per-request echo client opens a new connection for every
// request (the server sees one accept per request), closes it after the
// reply, and rejects a wrong reply.
func TestEchoConnOpenerConnectsPerRequest(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepts, eofs atomic.Int32
	var corrupt atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				var buf [echoSize]byte
				if _, err := io.ReadFull(c, buf[:]); err != nil {
					return
				}
				if corrupt.Load() {
					buf[0] ^= 1
				}
				if _, err := c.Write(buf[:]); err != nil {
					return
				}
				// The client closes after one round trip: the next read
				// sees EOF, not a second request.
				if n, err := c.Read(buf[:]); n == 0 && errors.Is(err, io.EOF) {
					eofs.Add(1)
				}
			}()
		}
	}()
	op, closeFn, err := EchoConnOpener(ln.Addr().String())(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := op(); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	corrupt.Store(true)
	if err := op(); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("wrong reply: err = %v", err)
	}
	closeFn()
	if err := op(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("request after close: err = %v, want net.ErrClosed", err)
	}
	ln.Close()
	wg.Wait()
	// The request after close still connects (then gives up): 7 accepts.
	if a, e := accepts.Load(), eofs.Load(); a != 7 || e != 6 {
		t.Fatalf("%d connections accepted, %d closed by the client after one reply; want 7 and 6", a, e)
	}
}

// The connection echo server answers one request and closes first (its
// side keeps the TIME_WAIT, as the daemon's does); the round-trip server
// keeps the connection for the next request.
func TestConnEchoServerClosesAfterReply(t *testing.T) {
	t.Parallel()
	for _, once := range []bool{true, false} {
		s, err := startEcho(once)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := bytes.Repeat([]byte{'x'}, echoSize)
		var buf [echoSize]byte
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:]); err != nil || !bytes.Equal(buf[:], msg) {
			t.Fatalf("once=%v: reply %q, %v", once, buf, err)
		}
		c.Write(msg)
		_, err = io.ReadFull(c, buf[:])
		if once && !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("connection echo answered a second request (err %v)", err)
		}
		if !once && err != nil {
			t.Fatalf("round-trip echo: second request: %v", err)
		}
		c.Close()
		s.Close()
	}
}

// One round of the echo limits runs both loops against one echo child
// process (this test binary as `bench -serve-echo`, its two ports) and
// reads that child's CPU for each: the connection-per-request figure has
// its own request count and server CPU per request.
func TestEchoLimitsInChild(t *testing.T) {
	t.Setenv(serveEchoEnv, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	echo, conn, err := echoLimits(context.Background(), exe, 2, 300*time.Millisecond, true)
	if err != nil {
		t.Fatal(err)
	}
	// The child's CPU is read in clock ticks: on a busy machine a short
	// loop may read 0, so the CPU is checked for consistency, and the
	// peak RSS (read from the child after the loop) shows it was read.
	for _, f := range []Figure{echo, conn} {
		if f.Ops == 0 || f.Errors != 0 || f.Clients != 2 || f.ServerCPUSec < 0 || f.PeakRSSMiB <= 0 ||
			f.Section != SectionBaseline || math.Abs(f.CPUPerReqUs*float64(f.Ops)/1e6-f.ServerCPUSec) > 1e-3 {
			t.Fatalf("%s: %+v", f.Name, f)
		}
	}
	if echo.Name != EchoName(2) || conn.Name != EchoConnName(2) ||
		!strings.Contains(conn.Note, "same Go server child") || !strings.Contains(conn.Note, "closes after the reply") {
		t.Fatalf("names/notes: %q %q %q", echo.Name, conn.Name, conn.Note)
	}
	// Without perConn only the round trip runs.
	echo, conn, err = echoLimits(context.Background(), exe, 1, 100*time.Millisecond, false)
	if err != nil || echo.Ops == 0 || conn.Ops != 0 || conn.Name != "" {
		t.Fatalf("round trip only: %+v, %+v, %v", echo, conn, err)
	}
	// An echo child that prints only its round-trip port (a binary from
	// before the connection echo, run with --exe) still gives the
	// connection figure, on that port, and says so.
	t.Setenv(serveEchoEnv, "old")
	_, conn, err = echoLimits(context.Background(), exe, 1, 100*time.Millisecond, true)
	if err != nil || conn.Ops == 0 || conn.Errors != 0 || !strings.Contains(conn.Note, "predates the connection echo") {
		t.Fatalf("old echo child: %+v, %v", conn, err)
	}
	if tr := Tree(os.Getpid()); len(tr) != 1 {
		t.Fatalf("echo children left behind: %v", tr)
	}
}

// A connection-per-request figure gets its connection limit from exactly
// the echo rounds interleaved with it (totals over those rounds, not the
// baseline section's nor another figure's), each round echo first, then
// the service; a persistent figure gets no connection limit. The ratio
// columns follow from those numbers and reach the JSON, the table and the
// chart.
func TestConnLimitFromSameRounds(t *testing.T) {
	var mu sync.Mutex
	var events []string
	calls := 0
	// Call i (1-based) measures: round trip 1000·i requests in 1 s at
	// 10 µs each; connection per request 100·i requests in 1 s at 20·i µs
	// each.
	old := measureEchoLimits
	measureEchoLimits = func(ctx context.Context, exe string, n int, dur time.Duration, perConn bool) (Figure, Figure, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		i := float64(calls)
		events = append(events, fmt.Sprintf("echo%d perConn=%v", calls, perConn))
		echo := Figure{Section: SectionBaseline, Name: EchoName(n), Clients: n, Ops: int64(1000 * i), Seconds: 1,
			ReqPerSec: 1000 * i, ServerCPUSec: 1000 * i * 10e-6, CPUPerReqUs: 10}
		if !perConn {
			return echo, Figure{}, nil
		}
		conn := Figure{Section: SectionBaseline, Name: EchoConnName(n), Clients: n, Ops: int64(100 * i), Seconds: 1,
			ReqPerSec: 100 * i, ServerCPUSec: 100 * i * 20 * i * 1e-6, CPUPerReqUs: 20 * i}
		return echo, conn, nil
	}
	t.Cleanup(func() { measureEchoLimits = old })
	const svcCPU = 500.0 // µs per request, set as a daemon's would be
	opener := func(name string) Opener {
		return func(ctx context.Context, i int) (Op, func(), error) {
			mu.Lock()
			events = append(events, "open "+name)
			mu.Unlock()
			return func() error { time.Sleep(time.Millisecond); return nil }, func() {}, nil
		}
	}
	drivers["test-conn"] = func(ctx context.Context, e *Env) ([]Figure, error) {
		figs, err := e.MeasureRRPerConn(ctx, nil, "test conn", opener("conn"))
		if err != nil {
			return figs, err
		}
		more, err := e.MeasureRR(ctx, nil, "test persistent", opener("persistent"))
		figs = append(figs, more...)
		for i := range figs {
			figs[i].Primitives = PrimsBackupKey
			figs[i].CPUPerReqUs = svcCPU
		}
		return figs, err
	}
	t.Cleanup(func() { delete(drivers, "test-conn") })
	r, err := Run(context.Background(), Options{Targets: []string{"test-conn"}, Scratch: t.TempDir(),
		Duration: 50 * time.Millisecond, Clients: []int{1}, Size: 1 << 20, IdleConns: 1, Rounds: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"echo1 perConn=true", // the baseline section
		"echo2 perConn=true", "open conn", "echo3 perConn=true", "open conn", "echo4 perConn=true", "open conn",
		"echo5 perConn=false", "open persistent", "echo6 perConn=false", "open persistent", "echo7 perConn=false", "open persistent"}
	if strings.Join(events, "; ") != strings.Join(want, "; ") {
		t.Fatalf("order of the rounds:\n got %q\nwant %q", events, want)
	}
	byName := map[string]Figure{}
	for _, f := range r.Figures {
		byName[f.Name] = f
	}
	if b, ok := byName[EchoConnName(1)]; !ok || b.Section != SectionBaseline || b.Ops != 100 {
		t.Fatalf("baseline section lacks the connection echo of call 1: %+v", b)
	}
	c, p := byName["test conn"], byName["test persistent"]
	// Calls 2, 3 and 4 were this figure's rounds.
	wantRate := (100.0 * (2 + 3 + 4)) / 3
	wantConnCPU := (100*2*40 + 100*3*60 + 100*4*80) / (100.0 * (2 + 3 + 4))
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }
	if c.ConnLimit != EchoConnName(1) || !near(c.ConnLimitRate, wantRate) || !near(c.ConnLimitCPUPerReqUs, wantConnCPU) {
		t.Fatalf("connection limit %q %.3f req/s %.3f µs, want %.3f req/s %.3f µs", c.ConnLimit,
			c.ConnLimitRate, c.ConnLimitCPUPerReqUs, wantRate, wantConnCPU)
	}
	if !near(c.LimitRate, 1000.0*(2+3+4)/3) || !near(c.LimitCPUPerReqUs, 10) {
		t.Fatalf("round-trip limit of the same rounds: %.3f req/s %.3f µs", c.LimitRate, c.LimitCPUPerReqUs)
	}
	if c.ReqPerSec <= 0 || !near(c.ConnRatio, c.ReqPerSec/wantRate) || !near(c.Ratio, c.ReqPerSec/c.LimitRate) {
		t.Fatalf("ratios: conn %v, echo %v at %.1f req/s", c.ConnRatio, c.Ratio, c.ReqPerSec)
	}
	if c.PrimitivesCPUPerReqUs <= 0 || !near(c.CPUxConnLimit, svcCPU/wantConnCPU) ||
		!near(c.CPUxPrimitivesBeyondConn, (svcCPU-wantConnCPU)/c.PrimitivesCPUPerReqUs) ||
		!near(c.CPUxPrimitives, svcCPU/c.PrimitivesCPUPerReqUs) {
		t.Fatalf("CPU ×conn %v, (CPU−conn) ×prim %v, ×prim %v over %.3f µs of primitives", c.CPUxConnLimit,
			c.CPUxPrimitivesBeyondConn, c.CPUxPrimitives, c.PrimitivesCPUPerReqUs)
	}
	if p.ConnLimit != "" || p.ConnLimitRate != 0 || p.ConnRatio != 0 || p.CPUxConnLimit != 0 ||
		p.CPUxPrimitivesBeyondConn != 0 || !near(p.LimitRate, 1000.0*(5+6+7)/3) {
		t.Fatalf("persistent figure: %+v", p)
	}

	var js, tb, svg bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"conn_limit", "conn_limit_rate", "conn_limit_server_cpu_us_per_req",
		"ratio_to_conn_limit", "cpu_x_conn_limit", "cpu_x_primitives_beyond_conn", "cpu_x_primitives"} {
		if !bytes.Contains(js.Bytes(), []byte(`"`+k+`":`)) {
			t.Fatalf("results.json lacks %q", k)
		}
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, f := range back.Figures {
		if f.Name == "test conn" && (f.CPUxConnLimit != c.CPUxConnLimit || f.ConnRatio != c.ConnRatio) {
			t.Fatalf("JSON round trip: %+v", f)
		}
	}
	if err := r.WriteTable(&tb); err != nil {
		t.Fatal(err)
	}
	var connLine string
	for _, l := range strings.Split(tb.String(), "\n") {
		if strings.Contains(l, "test conn") {
			connLine = l
		}
	}
	for _, w := range []string{"CPU ×conn", "(CPU−conn) ×prim", "vs conn echo", EchoConnName(1)} {
		if !strings.Contains(tb.String(), w) {
			t.Fatalf("table lacks %q:\n%s", w, tb.String())
		}
	}
	for _, w := range []string{fmt.Sprintf("%.2f×", c.CPUxConnLimit), fmt.Sprintf("%.2f×", c.CPUxPrimitivesBeyondConn),
		fmt.Sprintf("%.0f%%", c.ConnRatio*100)} {
		if !strings.Contains(connLine, w) {
			t.Fatalf("row lacks %q: %s", w, connLine)
		}
	}
	if err := r.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	rects := countRects(t, svg.Bytes())
	// Background, the two figures' bars, the connection figure's second bar.
	if rects != 4 || !strings.Contains(svg.String(), "test conn ×1 vs conn echo") {
		t.Fatalf("chart has %d rects, want 4:\n%s", rects, svg.String())
	}
}
