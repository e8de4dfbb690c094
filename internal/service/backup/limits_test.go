package backup

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
)

// labelled reads the series of a family whose labels include want (0 when
// there is none: every family read here is pre-created at zero).
func (e *env) labelled(name string, want map[string]string) float64 {
	e.t.Helper()
	return netsvctest.Value(e.t, e.reg, name, want)
}

// waitFor polls cond every 5 ms for at most max.
func waitFor(t *testing.T, max time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(max); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, max)
		}
	}
}

// trickle opens a 1028 that declares a huge file, then sends one byte
// every 20 ms (50 B/s) until the server closes or stop is closed; at most
// 500 bytes (10 s).
func trickle(t *testing.T, addr string, id ClientID, declared uint32, stop <-chan struct{}, wg *sync.WaitGroup) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		wg.Done()
		return
	}
	msg := AppendRequestHeader(nil, RequestHeader{ClientID: id, Version: 3, Code: CodeFile, PayloadSize: FileHeaderSize + declared})
	msg = binary.LittleEndian.AppendUint32(msg, declared)
	name, _ := NameField("huge.bin")
	msg = append(msg, name[:]...)
	if _, err := conn.Write(msg); err != nil {
		t.Error(err)
	}
	go func() {
		defer wg.Done()
		defer conn.Close()
		for i := 0; i < 500; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := conn.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
}

// The slot test of the abuse issue: uploads that declare 1 GiB and
// trickle a byte every 20 ms fill every slot of a max_conns service, are
// cut once they fall behind min_upload_rate after rate_grace (a deadline
// derived from the declared size would have held them for hours), and a
// real client then registers and uploads.
// Sequential: it times a deadline or a rate, which parallel tests load
// on a two-core machine would move.
func TestTricklingUploadsLoseTheirSlots(t *testing.T) {
	// The grace is the window in which every slot is held and the probe
	// must be refused. A machine too loaded to dial the tricklers and the
	// probe within most of that window cannot tell a refusal from a slot
	// freed by the cut, so such an attempt is run again with a longer
	// grace; what each attempt asserts does not change.
	for _, grace := range []time.Duration{time.Second, 3 * time.Second, 8 * time.Second} {
		if trickleAttempt(t, grace) {
			return
		}
		t.Logf("rate_grace %v: the machine took most of the grace to dial; again with a longer one", grace)
	}
	t.Fatal("the probe never reached a full server before rate_grace ran out")
}

// trickleAttempt runs the slot test with the given rate_grace; false when
// the probe could not be dialed early enough in the grace for its answer
// to mean anything.
func trickleAttempt(t *testing.T, grace time.Duration) bool {
	const n = 4
	lim := netsvc.Limits{MaxConns: n + 1, IdleTimeout: 20 * time.Second, WriteTimeout: 20 * time.Second,
		HandshakeTimeout: 20 * time.Second, RateGrace: grace}
	e := newEnvLimits(t, lim, func(c *Config) { c.MinUploadRate = 10_000 })
	attacker := e.newClient("attacker") // registration is open: anyone is a client
	// The registration's connection holds a slot until its handler has
	// returned, a moment after the client saw the answer.
	waitFor(t, 5*time.Second, "registration's slot freed", func() bool { return e.ns.Active("backup") == 0 })

	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	start := time.Now()
	for range n + 1 {
		wg.Add(1)
		trickle(t, e.addr, attacker.ID, 1<<30, stop, &wg)
	}
	waitFor(t, 5*time.Second+grace, "tricklers holding every slot", func() bool { return e.ns.Active("backup") == n+1 })
	// Every slot is taken now: another connection is refused at once.
	before := e.labelled("gatehouse_connections_rejected_total", map[string]string{"reason": "limit"})
	if time.Since(start) > grace/2 {
		return false
	}
	// A refused probe is reset at once (its dial may already see the
	// reset on a loaded machine); an accepted one would wait here for the
	// full read deadline.
	var rerr error
	if probe, err := net.Dial("tcp", e.addr); err == nil {
		probe.SetReadDeadline(time.Now().Add(grace / 4))
		_, rerr = io.ReadAll(probe)
		probe.Close()
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	if el := time.Since(start); el > grace*3/4 {
		return false
	}
	if ne, ok := rerr.(net.Error); ok && ne.Timeout() {
		t.Fatalf("probe on a full server: %v (want closed at once)", rerr)
	}
	waitFor(t, 5*time.Second, "probe refused", func() bool {
		return e.labelled("gatehouse_connections_rejected_total", map[string]string{"reason": "limit"}) == before+1
	})

	// Documented bound: rate_grace plus what was sent divided by the rate
	// (here a few bytes: ~0 s); 2 s of slack for a loaded machine.
	bound := grace + 2*time.Second
	waitFor(t, 10*time.Second+grace, "tricklers cut", func() bool { return e.ns.Active("backup") == 0 })
	if el := time.Since(start); el > bound {
		t.Errorf("trickling uploads held their slots %v, bound %v", el, bound)
	}
	if got := e.labelled("gatehouse_connections_closed_total", map[string]string{"reason": "too_slow"}); got != n+1 {
		t.Errorf("closed{too_slow} = %v, want %d", got, n+1)
		for _, r := range netsvc.ClosedReasons {
			t.Logf("closed{%s} = %v", r, e.labelled("gatehouse_connections_closed_total", map[string]string{"reason": r}))
		}
	}

	real := e.newClient("real")
	data := bytes.Repeat([]byte("payload "), 1000)
	res, err := real.Upload(context.Background(), "real.txt", bytes.NewReader(data), int64(len(data)))
	if err != nil || !res.Verified {
		t.Fatalf("real client after the cut: %+v %v", res, err)
	}
	return true
}

// An upload that keeps up min_upload_rate is served even when it takes
// longer than rate_grace.
// Sequential: it times a deadline or a rate, which parallel tests load
// on a two-core machine would move.
func TestUploadAtMinRateIsServed(t *testing.T) {
	lim := netsvc.Limits{MaxConns: 4, IdleTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		HandshakeTimeout: 5 * time.Second, RateGrace: 500 * time.Millisecond}
	// The rate is far below the client's pace (~80×) so that a race-built
	// client starved by parallel tests on two cores still keeps it: what is
	// tested is that an upload longer than rate_grace is not cut while it
	// keeps the rate, not how close to the rate it may run.
	e := newEnvLimits(t, lim, func(c *Config) { c.MinUploadRate = 16_000 })
	c := e.newClient("steady")
	// 1.5 MiB at ~1.3 MB/s (the client sends 512 KiB chunks; it reads 128
	// KiB every 100 ms): about 1.1 s, past the grace.
	data := bytes.Repeat([]byte{'s'}, 3*chunkSize)
	res, err := c.Upload(context.Background(), "steady.bin", &pacedReader{r: bytes.NewReader(data), every: 100 * time.Millisecond, n: 128 << 10}, int64(len(data)))
	if err != nil || !res.Verified {
		t.Fatalf("steady upload: %+v %v", res, err)
	}
	if got := e.labelled("gatehouse_connections_closed_total", map[string]string{"reason": "too_slow"}); got != 0 {
		t.Fatalf("closed{too_slow} = %v", got)
	}
}

// pacedReader yields at most n bytes per Read, waiting every between reads.
type pacedReader struct {
	r     io.Reader
	every time.Duration
	n     int
	began bool
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.began {
		time.Sleep(p.every)
	}
	p.began = true
	return p.r.Read(b[:min(len(b), p.n)])
}

// registerFrom sends a 1025 from the loopback address local and reports
// whether it was answered 2100.
func registerFrom(t *testing.T, local, addr, name string) bool {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(request(ClientID{}, CodeRegister, nameField(t, name))); err != nil {
		t.Fatal(err)
	}
	h, _, err := readResponse(conn)
	if err != nil {
		return false
	}
	if h.Code != RespRegistered {
		t.Fatalf("registration answered %d", h.Code)
	}
	return true
}

// A registration flood from one address is held to the burst (then the
// refill rate); refusals are closed unanswered and counted; another
// address keeps its own bucket.
func TestRegistrationFloodIsLimitedPerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.RegisterRate = 0.001; c.RegisterBurst = 20 })
	if got := e.labelled("gatehouse_rate_limited_total", map[string]string{"what": "register"}); got > 0 {
		t.Fatalf("rate_limited before any refusal: %v", got)
	}
	served := 0
	for i := 0; i < 30; i++ {
		if registerFrom(t, "127.0.0.1", e.addr, "flood") {
			served++
		}
	}
	if served != 20 {
		t.Fatalf("%d of 30 registrations served, want the burst of 20", served)
	}
	if got := e.labelled("gatehouse_rate_limited_total", map[string]string{"what": "register"}); got != 10 {
		t.Fatalf("rate_limited{register} = %v, want 10", got)
	}
	if n, err := e.db.BackupClients(context.Background()); err != nil || len(n) != 20 {
		t.Fatalf("%d clients stored, want 20 (%v)", len(n), err)
	}
	// Another address (still loopback) has its own full bucket.
	if !registerFrom(t, "127.0.0.2", e.addr, "neighbour") {
		t.Fatal("another address refused")
	}
	// The defaults let a fleet of a thousand register from one NAT.
	if d := DefaultConfig(); registerLimiter(d) == nil || d.RegisterBurst != 1000 || d.RegisterRate != 10 {
		t.Fatalf("defaults %+v", d)
	}
}
