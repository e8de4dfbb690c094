package netsvctest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/netsvc"
)

// PipeLimits are short limits for in-memory sessions: a handler that
// waits for bytes that never come is cut quickly.
var PipeLimits = netsvc.Limits{MaxConns: 4, IdleTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
	HandshakeTimeout: 2 * time.Second, MessageTimeout: 2 * time.Second, RateGrace: 2 * time.Second}

// Pipe serves one in-memory session of h over net.Pipe, through the same
// netsvc connection path as a TCP one (limits, deadlines, metrics, panic
// recovery, drain), and returns the client's end and a channel closed when
// the session has ended. The server is shut down when t ends; a handler
// panic fails t.
//
// net.Pipe has no buffers: a Write blocks until the other side has read
// it. A test writes and reads from different goroutines, or in the order
// the protocol takes turns.
func Pipe(t testing.TB, h netsvc.Handler, l netsvc.Limits) (client net.Conn, ended <-chan struct{}) {
	t.Helper()
	client, _, ended = pipe(t, h, l)
	return client, ended
}

func pipe(t testing.TB, h netsvc.Handler, l netsvc.Limits) (net.Conn, *watched, <-chan struct{}) {
	p := &panicLog{}
	srv := netsvc.New(slog.New(p), nil)
	srv.Attach(netsvc.Service{Name: "pipe", Handler: h, Limits: l})
	srv.Start()
	client, end := net.Pipe()
	server := &watched{Conn: end, changed: make(chan struct{}, 1)}
	ended, err := srv.Serve("pipe", server)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("pipe session still running after its client closed: %v", err)
		}
		if msg := p.panicked(); msg != "" {
			t.Errorf("handler panicked: %s", msg)
		}
	})
	return client, server, ended
}

// Feed plays in as the client's whole side of one in-memory session of h
// (Pipe) and returns what the server wrote (at most 1 MiB is kept). Once
// the server has read all of in and waits in a Read for more, the client
// end is closed (the server reads EOF), so the session ends as soon as the
// server has answered everything it could. It fails t when the session
// does not end within max, or when the handler panics. Fuzz targets call
// it with the fuzzed bytes.
func Feed(t testing.TB, h netsvc.Handler, l netsvc.Limits, in []byte, max time.Duration) []byte {
	t.Helper()
	client, server, ended := pipe(t, h, l)
	var out bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		io.Copy(&out, io.LimitReader(client, 1<<20))
		io.Copy(io.Discard, client)
	}()
	go client.Write(in) // returns once the server read it all, or gave up
	timeout := time.NewTimer(max)
	defer timeout.Stop()
	for closed := false; ; {
		if !closed && server.waitingAfter(int64(len(in))) {
			client.Close()
			closed = true
		}
		select {
		case <-ended:
			client.Close()
			<-read
			return out.Bytes()
		case <-server.changed:
		case <-timeout.C:
			client.Close()
			t.Fatalf("session on %d input bytes did not end within %v", len(in), max)
		}
	}
}

// watched is the server's end of a pipe: it tells Feed when the server
// waits in a Read having consumed a given number of bytes.
type watched struct {
	net.Conn
	changed chan struct{} // a Read began or ended

	mu       sync.Mutex
	consumed int64 // bytes Reads returned so far
	reading  bool  // a Read is in progress
	since    int64 // consumed when that Read began
}

func (w *watched) Read(p []byte) (int, error) {
	w.mu.Lock()
	w.reading, w.since = true, w.consumed
	w.mu.Unlock()
	w.notify()
	n, err := w.Conn.Read(p)
	w.mu.Lock()
	w.reading = false
	w.consumed += int64(n)
	w.mu.Unlock()
	w.notify()
	return n, err
}

func (w *watched) notify() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// waitingAfter reports whether a Read is in progress that began after
// total bytes were consumed: the server wants more than it was given.
func (w *watched) waitingAfter(total int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reading && w.since >= total
}

// panicLog is the session server's log: it keeps netsvc's report of a
// handler panic and drops the rest.
type panicLog struct {
	mu  sync.Mutex
	msg string
}

func (p *panicLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (p *panicLog) WithAttrs([]slog.Attr) slog.Handler           { return p }
func (p *panicLog) WithGroup(string) slog.Handler                { return p }

func (p *panicLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelError || !strings.HasPrefix(r.Message, "handler panic") {
		return nil
	}
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "panic" || a.Key == "stack" {
			msg += fmt.Sprintf("\n%s: %s", a.Key, a.Value.String())
		}
		return true
	})
	p.mu.Lock()
	if p.msg == "" {
		p.msg = msg
	}
	p.mu.Unlock()
	return nil
}

func (p *panicLog) panicked() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.msg
}
