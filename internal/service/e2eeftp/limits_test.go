package e2eeftp

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/blob"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/syncbuf"
)

// metered is a fixture whose netsvc server feeds a registry the test reads.
type metered struct {
	*fixture
	ns   *netsvc.Server
	reg  *prometheus.Registry
	logs *syncbuf.Buffer
}

func newMetered(t *testing.T, l netsvc.Limits, setups ...setup) *metered {
	t.Helper()
	return newMeteredOn(t, t.TempDir(), l, setups...)
}

func newMeteredOn(t *testing.T, dir string, l netsvc.Limits, setups ...setup) *metered {
	t.Helper()
	f := &fixture{t: t, dir: dir}
	var err error
	if f.local, err = blob.OpenLocal(f.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.local.Close() })
	f.store = blob.Prefixed(f.local, "e2eeftp")
	f.srvID = ed25519.NewKeyFromSeed(serverSeed)
	f.cliID = ed25519.NewKeyFromSeed(clientSeed)
	f.auth = StaticKeys{pubArray(f.cliID): true}
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	setups = append(setups, func(_ *Config, e *Env) { e.Log = log })
	f.srv = newTestServer(t, f.srvID, f.auth, f.store, setups...)
	m := &metered{fixture: f, reg: prometheus.NewRegistry(), logs: logs}
	m.ns = netsvc.New(log, netsvc.NewMetrics(m.reg))
	if err := m.ns.Listen(netsvc.Service{Name: "e2eeftp", Addr: "127.0.0.1:0", Handler: f.srv, Limits: l}); err != nil {
		t.Fatal(err)
	}
	m.ns.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		m.ns.Shutdown(ctx)
	})
	f.addr = m.ns.Addr("e2eeftp").String()
	f.client = &Client{Addr: f.addr, Identity: f.cliID, ServerKey: f.srvID.Public().(ed25519.PublicKey), Timeout: 20 * time.Second}
	return m
}

// series reads the counter of family name whose labels include want, or 0
// when there is none.
func (m *metered) series(name string, want map[string]string) float64 {
	m.t.Helper()
	return netsvctest.Value(m.t, m.reg, name, want)
}

func waitFor(t *testing.T, max time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(max); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, max)
		}
	}
}

// trickleSend handshakes, announces a 1 GiB SEND and then sends one byte
// every 20 ms (50 B/s) until the server closes or stop is closed; at most
// 500 bytes (10 s).
func (m *metered) trickleSend(stop <-chan struct{}, wg *sync.WaitGroup) {
	t := m.t
	conn, err := net.Dial("tcp", m.addr)
	if err != nil {
		t.Error(err)
		wg.Done()
		return
	}
	hello, _ := freshHello(t, m.cliID)
	conn.Write(hello)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, make([]byte, HelloLen)); err != nil {
		t.Errorf("no server hello: %v", err)
	}
	fmt.Fprintf(conn, "SEND|huge.bin|%d\n", BlobLen(1<<30))
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

// The slot test of the abuse issue for e2eeftp: SENDs that announce 1 GiB
// and trickle fill every slot, are cut once they fall behind min_rate after
// rate_grace (SEND bodies had no overall deadline at all), and a real
// client then gets in.
// Sequential: it times a deadline or a rate, which parallel tests load
// on a two-core machine would move.
func TestTricklingSendsLoseTheirSlots(t *testing.T) {
	const n = 4
	const grace = 300 * time.Millisecond
	l := netsvc.Limits{MaxConns: n + 1, IdleTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		HandshakeTimeout: 5 * time.Second, MinRate: 10_000, RateGrace: grace}
	m := newMetered(t, l)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	start := time.Now()
	for range n + 1 {
		wg.Add(1)
		m.trickleSend(stop, &wg)
	}
	// Documented bound: rate_grace plus bytes sent / min_rate (here ~0);
	// 2 s of slack for a loaded machine.
	const bound = grace + 2*time.Second
	waitFor(t, 10*time.Second, "trickling SENDs cut", func() bool { return m.ns.Active("e2eeftp") == 0 })
	if el := time.Since(start); el > bound {
		t.Errorf("trickling SENDs held their slots %v, bound %v", el, bound)
	}
	if got := m.series("gatehouse_connections_closed_total", map[string]string{"reason": "too_slow"}); got != n+1 {
		t.Errorf("closed{too_slow} = %v, want %d", got, n+1)
	}
	if m.has("huge.bin") {
		t.Error("a cut SEND left a file")
	}
	data := bytes.Repeat([]byte("real "), 20000)
	if err := m.client.Send(context.Background(), "real.txt", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("real client after the cut: %v", err)
	}
	var got bytes.Buffer
	if _, err := m.client.Get(context.Background(), "real.txt", &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("real GET: %v", err)
	}
}

// A GET whose client never reads is cut by the same rule once the socket
// buffers are full, not held until write_timeout.
func TestNonReadingGetIsCut(t *testing.T) {
	t.Parallel()
	l := netsvc.Limits{MaxConns: 4, IdleTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		HandshakeTimeout: 5 * time.Second, MinRate: 20 << 20, RateGrace: 300 * time.Millisecond}
	m := newMetered(t, l)
	w, err := m.store.Create(context.Background(), sharedFolder+"big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, io.LimitReader(repeatReader('b'), 64<<20)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", m.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hello, _ := freshHello(t, m.cliID)
	conn.Write(hello)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, make([]byte, HelloLen)); err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "GET|big.bin\n")
	// Never read: the server must give up on its own, named too_slow.
	waitFor(t, 10*time.Second, "non-reading GET cut", func() bool {
		return m.series("gatehouse_connections_closed_total", map[string]string{"reason": "too_slow"}) == 1
	})
}

// blockingReplay is a replay log whose record waits for its context: a
// handshake caught recording its key when the daemon shuts down.
type blockingReplay struct{ entered chan struct{} }

func (b *blockingReplay) E2EEFTPReplayRecord(ctx context.Context, _ []byte, _ time.Time) (bool, error) {
	close(b.entered)
	<-ctx.Done()
	return false, ctx.Err()
}

func (b *blockingReplay) E2EEFTPReplayPrune(context.Context, time.Time) (int64, error) { return 0, nil }

// A hello whose key is still being recorded when the daemon shuts down is
// not answered, and the log says why at info: the replay log did not fail,
// so there is no "replay log unavailable" error to page anyone.
func TestShutdownDuringReplayRecordIsNoLogOutage(t *testing.T) {
	t.Parallel()
	rl := &blockingReplay{entered: make(chan struct{})}
	m := newMetered(t, netsvctest.DefaultLimits, withReplay(rl))
	listed := make(chan error, 1)
	go func() { _, err := m.client.List(context.Background()); listed <- err }()
	select {
	case <-rl.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the handshake never reached the replay log")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m.ns.Shutdown(ctx)
	if err := <-listed; err == nil {
		t.Fatal("LIST answered though its hello was never recorded")
	}
	logs := m.logs.String()
	if strings.Contains(logs, "replay log unavailable") || !strings.Contains(logs, "hello not answered: the daemon is shutting down") {
		t.Fatalf("logs:\n%s", logs)
	}
}
