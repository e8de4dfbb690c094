package netsvc

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func value(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	go func() { c.Collect(ch); close(ch) }()
	var total float64
	for m := range ch {
		var d dto.Metric
		m.Write(&d)
		total += d.GetCounter().GetValue() + d.GetGauge().GetValue()
	}
	return total
}

// lineEcho answers each line with "echo <line>"; "panic" panics, "slow"
// holds the request open until release is closed.
type lineEcho struct {
	release chan struct{}
	started chan struct{}
}

func (h *lineEcho) ServeConn(ctx context.Context, c *Conn) error {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimSpace(line)
		_, done := c.Request(ctx, line)
		switch line {
		case "panic":
			panic("boom")
		case "slow":
			h.started <- struct{}{}
			<-h.release
		}
		if _, err := io.WriteString(c, "echo "+line+"\n"); err != nil {
			done("error")
			return err
		}
		done("ok")
		if c.Draining() {
			return nil
		}
	}
}

func start(t *testing.T, l Limits) (*Server, *lineEcho, string) {
	t.Helper()
	h := &lineEcho{release: make(chan struct{}), started: make(chan struct{}, 4)}
	s := New(nil, nil)
	if err := s.Listen(Service{Name: "echo", Addr: "127.0.0.1:0", Handler: h, Limits: l}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		select {
		case <-h.release:
		default:
			close(h.release)
		}
		s.Shutdown(ctx)
	})
	return s, h, s.Addr("echo").String()
}

type client struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c, bufio.NewReader(c)}
}

func (c *client) roundTrip(line string) (string, error) {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	s, err := c.r.ReadString('\n')
	return strings.TrimSpace(s), err
}

func mustEcho(t *testing.T, c *client, line string) {
	t.Helper()
	got, err := c.roundTrip(line)
	if err != nil || got != "echo "+line {
		t.Fatalf("round trip %q: got %q, %v", line, got, err)
	}
}

// expectClosed waits for the server to close c, failing after limit.
func expectClosed(t *testing.T, c *client, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	_, err := c.r.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", limit)
	}
	if err == nil {
		t.Fatal("server sent data instead of closing")
	}
	return time.Since(start)
}

func TestConnectionLimitRejectsExcessAtOnce(t *testing.T) {
	t.Parallel()
	s, _, addr := start(t, Limits{MaxConns: 2, IdleTimeout: 5 * time.Second})
	a, b := dial(t, addr), dial(t, addr)
	mustEcho(t, a, "a")
	mustEcho(t, b, "b")
	// The excess connection is reset at once: on loopback the reset can
	// even arrive before connect returns.
	if nc, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c := &client{nc, bufio.NewReader(nc)}
		if d := expectClosed(t, c, 2*time.Second); d > time.Second {
			t.Fatalf("excess connection closed only after %v", d)
		}
		nc.Close()
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("excess connection: %v", err)
	}
	mustEcho(t, a, "a2")
	mustEcho(t, b, "b2")
	if got := value(s.m.rejected); got != 1 {
		t.Fatalf("rejected counter = %v, want 1", got)
	}
	a.Close()
	// A slot frees up: a new client is served again.
	deadline := time.Now().Add(2 * time.Second)
	for s.Active("echo") > 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	mustEcho(t, dial(t, addr), "d")
}

func TestPerAddressLimitLeavesOtherAddressesServed(t *testing.T) {
	t.Parallel()
	s, _, addr := start(t, Limits{MaxConns: 10, MaxConnsPerIP: 2, IdleTimeout: 5 * time.Second})
	a, b := dial(t, addr), dial(t, addr)
	mustEcho(t, a, "a")
	mustEcho(t, b, "b")
	// A third connection from 127.0.0.1 is reset at once…
	if nc, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		expectClosed(t, &client{nc, bufio.NewReader(nc)}, 2*time.Second)
		nc.Close()
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	// …while another loopback address is still served.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 2 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	mustEcho(t, &client{nc, bufio.NewReader(nc)}, "other")
	if got := value(s.m.rejected); got != 1 {
		t.Fatalf("rejected = %v", got)
	}
	// Closing one frees its address's slot.
	a.Close()
	deadline := time.Now().Add(2 * time.Second)
	for s.Active("echo") > 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	mustEcho(t, dial(t, addr), "again")
}

func TestIdleConnectionClosedAtDeadline(t *testing.T) {
	t.Parallel()
	_, _, addr := start(t, Limits{IdleTimeout: 150 * time.Millisecond})
	c := dial(t, addr)
	mustEcho(t, c, "hi")
	d := expectClosed(t, c, 3*time.Second)
	if d < 100*time.Millisecond {
		t.Fatalf("closed too early: %v", d)
	}
}

// A peer that trickles one byte at a time, each well inside the idle
// timeout, is still cut off by the absolute bound a handler sets: the
// handshake bound, or the message bound once a request's first byte came.
func TestAbsoluteBoundsCutTricklingPeer(t *testing.T) {
	t.Parallel()
	bounds := map[string]func(c *Conn, buf []byte) error{
		"handshake": func(c *Conn, _ []byte) error { c.StartHandshake(); return nil },
		"message": func(c *Conn, buf []byte) error {
			if _, err := c.Read(buf); err != nil { // the request's first byte
				return err
			}
			c.StartMessage()
			return nil
		},
	}
	for name, bound := range bounds {
		t.Run(name, func(t *testing.T) {
			s := New(nil, nil)
			h := HandlerFunc(func(ctx context.Context, c *Conn) error {
				buf := make([]byte, 1)
				if err := bound(c, buf); err != nil {
					return err
				}
				for {
					if _, err := c.Read(buf); err != nil {
						return err
					}
				}
			})
			l := Limits{IdleTimeout: time.Second, HandshakeTimeout: 300 * time.Millisecond, MessageTimeout: 300 * time.Millisecond}
			if err := s.Listen(Service{Name: name, Addr: "127.0.0.1:0", Handler: h, Limits: l}); err != nil {
				t.Fatal(err)
			}
			s.Start()
			defer s.Shutdown(context.Background())
			c := dial(t, s.Addr(name).String())
			start := time.Now()
			for i := 0; i < 40; i++ {
				if _, err := c.Write([]byte{'x'}); err != nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			expectClosed(t, c, 3*time.Second)
			if el := time.Since(start); el > 2*time.Second {
				t.Fatalf("trickling peer kept the connection open for %v", el)
			}
		})
	}
}

func TestPanicEndsOnlyThatConnection(t *testing.T) {
	t.Parallel()
	s, _, addr := start(t, Limits{IdleTimeout: 5 * time.Second})
	other := dial(t, addr)
	mustEcho(t, other, "before")
	bad := dial(t, addr)
	if _, err := bad.roundTrip("panic"); err == nil {
		t.Fatal("panicking handler answered")
	}
	mustEcho(t, other, "after")
	mustEcho(t, dial(t, addr), "new")
	if got := value(s.m.panics); got != 1 {
		t.Fatalf("panics counter = %v", got)
	}
}

func TestShutdownDrainsInFlightThenRefuses(t *testing.T) {
	t.Parallel()
	s, h, addr := start(t, Limits{IdleTimeout: 30 * time.Second})
	busy, idle := dial(t, addr), dial(t, addr)
	mustEcho(t, idle, "x")
	busy.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(busy, "slow\n")
	<-h.started
	var wg sync.WaitGroup
	var shutErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutErr = s.Shutdown(ctx)
	}()
	// The idle session is closed promptly; new connections are refused.
	if d := expectClosed(t, idle, 2*time.Second); d > time.Second {
		t.Fatalf("idle connection survived %v of drain", d)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("new connections still accepted during shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The in-flight request completes with its full answer.
	close(h.release)
	line, err := busy.r.ReadString('\n')
	if err != nil || line != "echo slow\n" {
		t.Fatalf("in-flight reply: %q, %v", line, err)
	}
	wg.Wait()
	if shutErr != nil {
		t.Fatalf("shutdown: %v", shutErr)
	}
	if s.Healthy()["echo"] {
		t.Fatal("service still reported healthy after shutdown")
	}
}

func TestShutdownCutsSessionsAfterDrainTimeout(t *testing.T) {
	t.Parallel()
	s, h, addr := start(t, Limits{IdleTimeout: 30 * time.Second})
	c := dial(t, addr)
	io.WriteString(c, "slow\n")
	<-h.started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	go func() { time.Sleep(time.Second); close(h.release) }()
	t0 := time.Now()
	err := s.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown err = %v, want deadline exceeded", err)
	}
	if el := time.Since(t0); el > 3*time.Second {
		t.Fatalf("shutdown took %v", el)
	}
	expectClosed(t, c, 2*time.Second)
}

func TestBusyPortFailsCleanlyNamingServiceAndPort(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := New(nil, nil)
	err = s.Listen(
		Service{Name: "first", Addr: "127.0.0.1:0", Handler: &lineEcho{}},
		Service{Name: "second", Addr: taken.Addr().String(), Handler: &lineEcho{}},
	)
	if err == nil {
		t.Fatal("busy port accepted")
	}
	if !strings.Contains(err.Error(), "second") || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Fatalf("error does not name service and address: %v", err)
	}
	if s.Addr("first") != nil {
		t.Fatal("first service half-started")
	}
}

func TestMetricsCountRequestsAndBytes(t *testing.T) {
	t.Parallel()
	s, _, addr := start(t, Limits{IdleTimeout: 5 * time.Second})
	c := dial(t, addr)
	mustEcho(t, c, "one")
	mustEcho(t, c, "two")
	// The handler counts a request after writing its answer: wait for the
	// count rather than race it.
	waitFor(t, func() bool { return value(s.m.requests) == 2 })
	if got := value(s.m.requests); got != 2 {
		t.Fatalf("requests = %v", got)
	}
	if got := value(s.m.bytesIn); got != float64(len("one\ntwo\n")) {
		t.Fatalf("bytes in = %v", got)
	}
	if got := value(s.m.bytesOut); got != float64(len("echo one\necho two\n")) {
		t.Fatalf("bytes out = %v", got)
	}
	if got := value(s.m.accepted); got != 1 {
		t.Fatalf("accepted = %v", got)
	}
}
