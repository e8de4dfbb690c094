package netsvc

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// bodyHandler serves one transfer per connection: an 8-byte big-endian
// length then, for "up" sessions, that many bytes from the client (answered
// "ok\n"), for "down" sessions that many bytes to the client.
type bodyHandler struct {
	ended chan string
}

func (h *bodyHandler) ServeConn(_ context.Context, c *Conn) error {
	defer func() {
		h.ended <- c.CutBy()
	}()
	var hdr [10]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return err
	}
	n := int64(binary.BigEndian.Uint64(hdr[2:]))
	c.StartTransfer()
	defer c.EndTransfer()
	switch string(hdr[:2]) {
	case "up":
		if _, err := io.CopyN(io.Discard, c, n); err != nil {
			return err
		}
		_, err := io.WriteString(c, "ok\n")
		return err
	case "dn":
		chunk := make([]byte, 64<<10)
		for n > 0 {
			k := min(n, int64(len(chunk)))
			if _, err := c.Write(chunk[:k]); err != nil {
				return err
			}
			n -= k
		}
	}
	return nil
}

func startBody(t *testing.T, l Limits) (*Server, *bodyHandler, string) {
	t.Helper()
	h := &bodyHandler{ended: make(chan string, 16)}
	s := New(nil, nil)
	if err := s.Listen(Service{Name: "body", Addr: "127.0.0.1:0", Handler: h, Limits: l}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, h, s.Addr("body").String()
}

func header(kind string, n uint64) []byte {
	b := []byte(kind + "\x00\x00\x00\x00\x00\x00\x00\x00")
	binary.BigEndian.PutUint64(b[2:], n)
	return b
}

func waitEnded(t *testing.T, h *bodyHandler) string {
	t.Helper()
	select {
	case cut := <-h.ended:
		return cut
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end")
		return ""
	}
}

// A client that declares a large upload and then trickles is cut as soon as
// it falls behind min_rate after the grace period, long before the idle
// timeout or any deadline derived from the declared size.
func TestTricklingUploadIsCutProgressively(t *testing.T) {
	t.Parallel()
	s, h, addr := startBody(t, Limits{IdleTimeout: 10 * time.Second, MinRate: 10_000, RateGrace: 200 * time.Millisecond})
	c := dial(t, addr)
	c.Write(header("up", 1<<30))
	// One byte every 20 ms is 50 B/s: far under 10 kB/s. The loop is bounded
	// in count (at most 500 bytes, 10 s) and stops when the server cuts.
	start := time.Now()
	for i := 0; i < 500; i++ {
		if _, err := c.Write([]byte{'x'}); err != nil {
			break
		}
		select {
		case cut := <-h.ended:
			if cut != "too_slow" {
				t.Fatalf("session ended by %q, want too_slow", cut)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("trickling upload held its slot %v", d)
			}
			// netsvc counts the cut after the handler returned.
			eventually(t, "closed{too_slow} = 1", 2*time.Second, func() bool {
				return testutil.ToFloat64(s.m.closed.WithLabelValues("body", "too_slow")) == 1
			})
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("trickling upload was never cut")
}

// The same limits let a client that keeps up finish, even one that takes
// longer than the grace period.
func TestUploadAtRateIsServed(t *testing.T) {
	t.Parallel()
	_, h, addr := startBody(t, Limits{IdleTimeout: 10 * time.Second, MinRate: 10_000, RateGrace: 100 * time.Millisecond})
	c := dial(t, addr)
	const total = 60_000
	c.Write(header("up", total))
	// 4 kB every 20 ms (200 kB/s) for 15 writes: about 300 ms, past the grace.
	buf := bytes.Repeat([]byte{'y'}, 4000)
	for i := 0; i < total/len(buf); i++ {
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.r.ReadString('\n')
	if err != nil || line != "ok\n" {
		t.Fatalf("answer %q, %v", line, err)
	}
	if cut := waitEnded(t, h); cut != "" {
		t.Fatalf("served upload marked cut by %q", cut)
	}
}

// A client that asks for a download and never reads is cut once the socket
// buffers are full and it falls behind, not held until write_timeout.
func TestNonReadingDownloaderIsCut(t *testing.T) {
	t.Parallel()
	s, h, addr := startBody(t, Limits{IdleTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		MinRate: 50 << 20, RateGrace: 100 * time.Millisecond})
	c := dial(t, addr)
	c.Write(header("dn", 1<<30))
	if cut := waitEnded(t, h); cut != "too_slow" {
		t.Fatalf("session ended by %q, want too_slow", cut)
	}
	// netsvc counts the cut after the handler returned.
	eventually(t, "closed{too_slow} = 1", 2*time.Second, func() bool {
		return testutil.ToFloat64(s.m.closed.WithLabelValues("body", "too_slow")) == 1
	})
}

// Without StartTransfer, or after EndTransfer, the rate rule does not apply:
// a session idle between requests is bounded by the idle timeout only, and
// that cut is named too.
func TestIdleCutIsNamedAndCounted(t *testing.T) {
	t.Parallel()
	// 1 s, not less: the echo before the cut must fit in it even when
	// the machine descheduled the server between accept and read (at
	// 100 ms it was cut first, once, under load).
	s, _, addr := start(t, Limits{IdleTimeout: time.Second, MinRate: 1 << 30, RateGrace: 0})
	c := dial(t, addr)
	mustEcho(t, c, "hi")
	expectClosed(t, c, 5*time.Second)
	deadline := time.Now().Add(2 * time.Second)
	for testutil.ToFloat64(s.m.closed.WithLabelValues("echo", "idle_timeout")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("closed{idle_timeout} not counted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := testutil.ToFloat64(s.m.closed.WithLabelValues("echo", "too_slow")); got != 0 {
		t.Fatalf("closed{too_slow} = %v outside any transfer", got)
	}
}

// Every fixed series exists at zero as soon as a service listens, so an
// alert on the first panic or rejection has a value to compare with.
func TestSeriesExistAtStart(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := New(nil, NewMetrics(reg))
	if err := s.Listen(Service{Name: "pre", Addr: "127.0.0.1:0", Handler: HandlerFunc(func(context.Context, *Conn) error { return nil }),
		Commands: []string{"PING"}, RateLimited: []string{"register"}}); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				if lp.GetName() != "service" {
					labels = append(labels, lp.GetName()+"="+lp.GetValue())
				}
			}
			have[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = true
		}
	}
	want := []string{
		"gatehouse_connections_accepted_total{}", "gatehouse_connections_active{}",
		"gatehouse_panics_total{}", "gatehouse_handshake_failures_total{}",
		"gatehouse_bytes_received_total{}", "gatehouse_bytes_sent_total{}",
		"gatehouse_requests_total{command=PING,status=ok}", "gatehouse_request_duration_seconds{command=PING}",
		"gatehouse_rate_limited_total{what=register}",
	}
	for _, r := range RejectReasons {
		want = append(want, "gatehouse_connections_rejected_total{reason="+r+"}")
	}
	for _, r := range ClosedReasons {
		want = append(want, "gatehouse_connections_closed_total{reason="+r+"}")
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("series %s missing at start", w)
		}
	}
}

func TestAddrLimiterBurstThenRefill(t *testing.T) {
	t.Parallel()
	l := NewAddrLimiter(10, 3)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if !l.Allow("10.0.0.1") {
			t.Fatalf("event %d of the burst refused", i)
		}
	}
	if l.Allow("10.0.0.1") {
		t.Fatal("event past the burst allowed")
	}
	if !l.Allow("10.0.0.2") {
		t.Fatal("another address shares the first one's bucket")
	}
	now = now.Add(100 * time.Millisecond) // one token at 10/s
	if !l.Allow("10.0.0.1") {
		t.Fatal("token not refilled")
	}
	if l.Allow("10.0.0.1") {
		t.Fatal("more than one token refilled in 100 ms")
	}
	off := NewAddrLimiter(0, 1)
	first, second := off.Allow("x"), off.Allow("x")
	if !first || !second {
		t.Fatal("a zero rate must disable the limit")
	}
}

func TestAddrLimiterTableIsBounded(t *testing.T) {
	t.Parallel()
	l := NewAddrLimiter(1, 5)
	l.max = 100
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := 0; i < 1000; i++ {
		now = now.Add(time.Millisecond)
		l.Allow(net.IPv4(10, 0, byte(i>>8), byte(i)).String())
		if l.Len() > 100 {
			t.Fatalf("table grew to %d entries, bound 100", l.Len())
		}
	}
	// The most recent address survived the evictions with its spent token.
	i := 999
	last := net.IPv4(10, 0, byte(i>>8), byte(i)).String()
	for i := 0; i < 4; i++ {
		if !l.Allow(last) {
			t.Fatalf("recent address lost its bucket early (%d)", i)
		}
	}
	if l.Allow(last) {
		t.Fatal("recent address was forgotten and got a fresh burst")
	}
}

// Keys: an IPv4 address, also 4-in-6, is one bucket; a whole IPv6 /64 is
// one bucket, another /64 its own.
func TestAddrLimiterKeys(t *testing.T) {
	t.Parallel()
	l := NewAddrLimiterSize(10, 3, 4)
	now := time.Unix(1e9, 0)
	l.SetNow(func() time.Time { return now })
	for i := range 3 {
		if !l.Allow("10.0.0.1") {
			t.Fatalf("burst request %d refused", i)
		}
	}
	if l.Allow("10.0.0.1") || l.Allow("::ffff:10.0.0.1") {
		t.Fatal("over the burst allowed (or a 4-in-6 address got its own bucket)")
	}
	for i := range 3 {
		if !l.Allow(fmt.Sprintf("2001:db8::%x", i+1)) {
			t.Fatal("refused inside the /64 burst")
		}
	}
	if l.Allow("2001:db8::ffff") {
		t.Fatal("the /64 got more than its burst")
	}
	if !l.Allow("2001:db8:0:1::1") {
		t.Fatal("another /64 shares the bucket")
	}
	for i := range 1000 {
		l.Allow(fmt.Sprintf("192.0.2.%d", i%250))
		if n := l.Len(); n > 4 {
			t.Fatalf("%d buckets held, bound 4", n)
		}
	}
	if !NewAddrLimiterSize(-1, 1, 1).Allow("x") {
		t.Fatal("a negative rate must allow everything")
	}
}
