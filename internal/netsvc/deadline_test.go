package netsvc

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// armLog is a socket whose Read and Write return at once and which records
// every deadline set on it.
type armLog struct {
	net.Conn
	mu            sync.Mutex
	reads, writes []time.Time
}

func (a *armLog) Read(p []byte) (int, error)  { return copy(p, "x"), nil }
func (a *armLog) Write(p []byte) (int, error) { return len(p), nil }
func (a *armLog) SetReadDeadline(t time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reads = append(a.reads, t)
	return nil
}
func (a *armLog) SetWriteDeadline(t time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.writes = append(a.writes, t)
	return nil
}

// last returns the number of deadlines set so far and the last one.
func (a *armLog) last(write bool) (int, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.reads
	if write {
		l = a.writes
	}
	if len(l) == 0 {
		return 0, time.Time{}
	}
	return len(l), l[len(l)-1]
}

// testConn is a Conn of a service with limits l over sock, outside any
// accept loop.
func testConn(t *testing.T, l Limits, sock net.Conn, reg prometheus.Registerer) (*Server, *Conn) {
	t.Helper()
	s := New(nil, NewMetrics(reg))
	s.Attach(Service{Name: "t", Handler: HandlerFunc(benchEcho), Limits: l, Commands: []string{"A"}})
	c := s.admit(s.svcs[0], sock, nil)
	t.Cleanup(s.handles.Done)
	return s, c
}

// The idle and write deadlines are coarse: a burst of calls re-arms them
// about once per grain (timeout/16), and the deadline in force for a call
// is never before the call's start + the timeout, nor more than a grain
// after it. The absolute bounds are exact.
func TestCoarseDeadlines(t *testing.T) {
	const timeout = 1600 * time.Millisecond // grain 100 ms
	sock := &armLog{Conn: nopConn{}}
	_, c := testConn(t, Limits{IdleTimeout: timeout, WriteTimeout: timeout, MessageTimeout: 500 * time.Millisecond}, sock, nil)
	buf := make([]byte, 8)
	first := time.Now()
	const calls = 2000
	for range calls {
		start := time.Now()
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(buf[:1]); err != nil {
			t.Fatal(err)
		}
		for _, write := range []bool{false, true} {
			_, dl := sock.last(write)
			if dl.Before(start.Add(timeout)) {
				t.Fatalf("deadline (write %v) %v before the call's start + timeout", write, start.Add(timeout).Sub(dl))
			}
			if over := dl.Sub(time.Now().Add(timeout)); over > timeout/16 {
				t.Fatalf("deadline (write %v) %v beyond the grain", write, over)
			}
		}
	}
	grains := int(time.Since(first)/(timeout/16)) + 2
	for _, write := range []bool{false, true} {
		if n, _ := sock.last(write); n > grains || n >= calls {
			t.Fatalf("%d calls re-armed the deadline (write %v) %d times in %v, want at most %d",
				calls, write, n, time.Since(first), grains)
		}
	}

	// A message bound is set exactly, once, and replaced by the idle
	// deadline after EndMessage.
	n0, _ := sock.last(false)
	before := time.Now()
	c.StartMessage()
	after := time.Now()
	for range 3 {
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	n1, dl := sock.last(false)
	if n1 != n0+1 || dl.Before(before.Add(500*time.Millisecond)) || dl.After(after.Add(500*time.Millisecond)) {
		t.Fatalf("message bound: %d sets, deadline %v after StartMessage; want 1 set, 500ms", n1-n0, dl.Sub(before))
	}
	c.EndMessage()
	start := time.Now()
	c.Read(buf)
	n2, dl := sock.last(false)
	if n2 != n1+1 || dl.Before(start.Add(timeout)) {
		t.Fatalf("after EndMessage: %d sets, deadline %v after the Read; want 1 set, ≥ %v", n2-n1, dl.Sub(start), timeout)
	}
}

// nopConn is a net.Conn that does nothing (armLog overrides what is used).
type nopConn struct{ net.Conn }

func (nopConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (nopConn) Close() error                     { return nil }
func (nopConn) SetReadDeadline(time.Time) error  { return nil }
func (nopConn) SetWriteDeadline(time.Time) error { return nil }

// An idle connection is never cut before idle_timeout after its last
// request was sent (the grain only ever makes the cut later).
func TestIdleCutNotEarly(t *testing.T) {
	const idle = 320 * time.Millisecond
	_, _, addr := start(t, Limits{IdleTimeout: idle})
	c := dial(t, addr)
	for range 5 {
		mustEcho(t, c, "hi")
	}
	sent := time.Now()
	mustEcho(t, c, "last")
	expectClosed(t, c, 5*time.Second)
	el := time.Since(sent)
	if el < idle {
		t.Fatalf("cut %v after the last request, before the idle timeout %v", el, idle)
	}
	// Late by at most the grain (idle/16 here), plus slack for a loaded
	// machine's scheduling.
	if late := idle + idle/16 + 2*time.Second; el > late {
		t.Fatalf("cut %v after the last request, later than %v", el, late)
	}
}

// done ends the connection's request in progress once: a second call is a
// no-op; the detached context follows the ctx passed; a request allocates
// nothing once its command's series exist.
func TestRequestDoneOnceNoAlloc(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, c := testConn(t, Limits{}, nopConn{}, reg)
	ctx := context.WithValue(context.Background(), reqKey{}, "one")
	rctx, done := c.Request(ctx, "A")
	if rctx.Value(reqKey{}) != "one" {
		t.Fatalf("request context lost ctx's value")
	}
	done(StatusOK)
	done(StatusServerError) // no-op
	ctx2, cancel := context.WithCancel(context.WithValue(ctx, reqKey{}, "two"))
	cancel()
	rctx, done = c.Request(ctx2, "B")
	if rctx.Value(reqKey{}) != "two" || rctx.Err() != nil {
		t.Fatalf("second request's context: value %v, err %v", rctx.Value(reqKey{}), rctx.Err())
	}
	if got := c.info().Command; got != "B" {
		t.Fatalf("/connz command %q during the request, want B", got)
	}
	done(StatusRefused)
	if got := c.info().Command; got != "" {
		t.Fatalf("/connz command %q after done", got)
	}
	for _, w := range []struct {
		cmd    string
		status Status
		want   float64
	}{{"A", StatusOK, 1}, {"A", StatusServerError, 0}, {"B", StatusRefused, 1}, {"B", StatusOK, -1}} {
		if got := requestCount(t, reg, w.cmd, w.status); got != w.want {
			t.Errorf("requests{%s,%s} = %v, want %v (-1: no series)", w.cmd, w.status, got, w.want)
		}
	}
	if len(Statuses) != len(cmdSeries{}.byStatus) {
		t.Fatalf("%d statuses, %d cached series per command", len(Statuses), len(cmdSeries{}.byStatus))
	}
	if n := testing.AllocsPerRun(100, func() {
		_, done := c.Request(ctx, "A")
		done(StatusOK)
	}); n != 0 {
		t.Fatalf("a request allocates %v times", n)
	}
	_ = s
}
