package clock

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer runs handle for every connection on a loopback port.
func fakeServer(t *testing.T, handle func(c net.Conn)) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int32)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				handle(c)
			})
		}
	})
	return ln.Addr().String(), conns
}

// pipeServer runs handle on the server end of an in-memory connection and
// returns the client end. Over net.Pipe each Write reaches the reader as
// its own Read(s) (nothing coalesces), so a response written in two Writes
// is certainly split, with no sleep between them.
func pipeServer(t *testing.T, handle func(c net.Conn)) net.Conn {
	t.Helper()
	cli, srv := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer srv.Close()
		srv.SetDeadline(time.Now().Add(5 * time.Second))
		handle(srv)
	}()
	t.Cleanup(func() { cli.Close(); <-done })
	return cli
}

// The Go client speaks the original's bytes (worked example B, a=5) and
// reassembles responses that the network split, even inside "°".
func TestClientWorkedExampleBWithSplitResponses(t *testing.T) {
	t.Parallel()
	got := make(chan string, 8)
	conn := pipeServer(t, func(c net.Conn) {
		buf := make([]byte, MaxMessage)
		n, _ := c.Read(buf)
		got <- string(buf[:n])
		c.Write([]byte("146"))
		for _, resp := range [][2]string{
			{"03 03 0d 03 05 0d 04", "0c 01 04 0c 0b 04 03 0c"},
			{"05 03 05 07 00", "04 03 00 05 06"},
			{"09 95", "83 16"},
		} {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
			c.Write(unhex(t, resp[0]))
			c.Write(unhex(t, resp[1]))
		}
	})
	d := Dialer{Rand: newExponents(5)}
	s, err := d.Handshake(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if k := <-got; k != "169" {
		t.Fatalf("client key %q", k)
	}
	if s.Key() != 211 {
		t.Fatalf("K = %d", s.Key())
	}
	for _, v := range []struct {
		do       func() (string, error)
		req, out string
	}{
		{s.Time, "27 1c 20 18", "00:02:19.198109"},
		{s.Date, "17 14 27 18", "2024-10-23"},
		{s.Temp, "27 18 20 23", "6°C"},
	} {
		r, err := v.do()
		if err != nil || r != v.out {
			t.Fatalf("got %q, %v; want %q", r, err, v.out)
		}
		if req := <-got; !bytes.Equal([]byte(req), unhex(t, v.req)) {
			t.Fatalf("request % x, want %s", req, v.req)
		}
	}
}

// A server key of 1 (or 256) would force shift 1 (or 0): the original
// client accepted it from any fake server; ours gives up after Attempts.
func TestClientRefusesWeakServerKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"1", "256", "0"} {
		addr, conns := fakeServer(t, func(c net.Conn) {
			buf := make([]byte, MaxMessage)
			c.Read(buf)
			c.Write([]byte(key))
			c.Read(buf)
		})
		d := Dialer{Attempts: 3, Rand: newExponents(5)}
		if _, err := d.Dial(context.Background(), addr); !errors.Is(err, ErrWeakKey) {
			t.Fatalf("server key %s: err = %v", key, err)
		}
		if n := conns.Load(); n != 3 {
			t.Fatalf("server key %s: %d attempts, want 3", key, n)
		}
		d.AllowWeakShift = true
		s, err := d.Dial(context.Background(), addr)
		if err != nil {
			t.Fatalf("AllowWeakShift: %v", err)
		}
		if !IsWeakShift(s.Key()) {
			t.Fatalf("key %d", s.Key())
		}
		s.Close()
	}
}

// With an original-style server that picks exponents blindly, a weak key is
// retried on a new connection and the session that results is strong.
func TestClientRetriesUntilStrong(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	exps := []int{0, 32, 7} // with a=5: K = 1, 256, 211
	addr, conns := fakeServer(t, func(c net.Conn) {
		buf := make([]byte, MaxMessage)
		n, _ := c.Read(buf)
		a, err := ParseKey(buf[:n])
		if err != nil {
			return
		}
		mu.Lock()
		b := exps[0]
		exps = exps[1:]
		mu.Unlock()
		c.Write(FormatKey(PublicKey(b)))
		k := SharedKey(a, b)
		if n, err := c.Read(buf); err == nil && string(Decrypt(nil, buf[:n], k)) == "DATE" {
			c.Write(Encrypt(nil, []byte("2026-11-22"), k))
		}
	})
	d := Dialer{Rand: newExponents(5)}
	s, err := d.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Key() != 211 || conns.Load() != 3 {
		t.Fatalf("K = %d after %d connections", s.Key(), conns.Load())
	}
	if r, err := s.Date(); err != nil || r != "2026-11-22" {
		t.Fatalf("DATE = %q, %v", r, err)
	}
}

func TestClientRejectsBadResponses(t *testing.T) {
	t.Parallel()
	for name, resp := range map[string]string{
		"overlong date": "2026-11-22-and-more",
		"bad time":      "11:51:06:090880",
		"long temp":     "123456789012345678°C",
		"invalid utf8":  "2026-11-2\xff",
		"bad date":      "2026/11/22",
		// The tail of a TIME split after its 8th byte, then the TEMP.
		"stray temp": ".090880-44°C",
	} {
		t.Run(name, func(t *testing.T) {
			addr, _ := fakeServer(t, func(c net.Conn) {
				buf := make([]byte, MaxMessage)
				n, _ := c.Read(buf)
				a, _ := ParseKey(buf[:n])
				c.Write([]byte("146"))
				k := SharedKey(a, 7)
				c.Read(buf)
				c.Write(Encrypt(nil, []byte(resp), k))
				c.Read(buf)
			})
			s, err := Dial(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var do func() (string, error)
			switch name {
			case "bad time":
				do = s.Time
			case "long temp", "stray temp":
				do = s.Temp
			default:
				do = s.Date
			}
			if r, err := do(); err == nil {
				t.Fatalf("accepted %q", r)
			}
		})
	}
}

// The original client waited forever on a stalled server; ours gives up.
func TestClientTimeouts(t *testing.T) {
	t.Parallel()
	keyRead := make(chan struct{}, 2)
	addr, _ := fakeServer(t, func(c net.Conn) {
		buf := make([]byte, MaxMessage)
		c.Read(buf)
		keyRead <- struct{}{}
		// A stalled server, the thing the client must give up on: it
		// answers nothing until the client hangs up.
		io.Copy(io.Discard, c)
	})
	d := Dialer{Timeout: 200 * time.Millisecond}
	t0 := time.Now()
	if _, err := d.Dial(context.Background(), addr); err == nil {
		t.Fatal("no error from a silent server")
	}
	if el := time.Since(t0); el > 900*time.Millisecond {
		t.Fatalf("gave up after %v", el)
	}
	<-keyRead // the first Dial's
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once the client waits for the server's key.
	go func() { <-keyRead; cancel() }()
	t0 = time.Now()
	if _, err := Dial(ctx, addr); err == nil {
		t.Fatal("no error after cancel")
	}
	if el := time.Since(t0); el > 900*time.Millisecond {
		t.Fatalf("cancel took %v", el)
	}
}

func TestClientExponentNeverWeak(t *testing.T) {
	t.Parallel()
	e, err := clientExponent(newExponents(0, 32, 64, 96, 5))
	if err != nil || e != 5 {
		t.Fatalf("exponent %d, %v", e, err)
	}
	for range 200 {
		e, err := clientExponent(nil2rand())
		if err != nil || IsWeakPeerKey(PublicKey(e)) || e < 0 || e > 1000 {
			t.Fatalf("exponent %d, %v", e, err)
		}
	}
}
