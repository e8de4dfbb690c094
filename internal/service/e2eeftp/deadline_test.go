package e2eeftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
)

// The original client reads and encrypts the whole file after the
// handshake and before it sends SEND (minutes for a big file on a slow
// machine). The handshake deadline must end with the hellos: here a
// pause several times the handshake deadline, shorter than the idle one,
// between the server hello and the SEND line is served. The bytes after
// the hellos are the worked example's SEND (docs/e2eeftp.md, "Worked
// example": hello.txt, IV 55…).
func TestPauseBetweenHelloAndSendServed(t *testing.T) {
	t.Parallel()
	l := netsvctest.DefaultLimits
	l.HandshakeTimeout = 200 * time.Millisecond
	l.IdleTimeout = 10 * time.Second
	f := newFixtureLimits(t, l)
	for _, pause := range []time.Duration{0, 700 * time.Millisecond} {
		hello, eph := freshHello(t, f.cliID)
		c, err := net.DialTimeout("tcp", f.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(hello)
		sh := make([]byte, HelloLen)
		if _, err := io.ReadFull(c, sh); err != nil {
			t.Fatalf("server hello: %v", err)
		}
		h, err := ParseHello(sh)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := SessionKeys(eph, h.Ephemeral)
		if err != nil {
			t.Fatal(err)
		}
		// The pause is the behaviour under test (the client encrypting
		// its file), not a wait for an event.
		time.Sleep(pause)
		body, _ := keys.SealBytes([]byte("hello world\n"), bytes.Repeat([]byte{0x55}, 16))
		c.Write([]byte(fmt.Sprintf("SEND|hello.txt|%d\n", len(body))))
		c.Write(body)
		resp, err := io.ReadAll(c)
		c.Close()
		if string(resp) != StatusTransferComplete {
			t.Fatalf("pause %v: %q, %v; want %q", pause, resp, err, StatusTransferComplete)
		}
	}
}

// The shipped defaults: the hellos stay under a short handshake deadline,
// and a 60 s (and more) pause before the command line is inside the idle
// deadline, while a command line, once begun, must still end in time.
func TestDefaultDeadlinesAllowSlowClientEncryption(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	if c.IdleTimeout < 5*time.Minute {
		t.Fatalf("e2eeftp idle_timeout %v: the original client's encryption before SEND would be cut", c.IdleTimeout)
	}
	if c.HandshakeTimeout > 10*time.Second || c.MessageTimeout > time.Minute {
		t.Fatalf("handshake_timeout %v / message_timeout %v: want short bounds on the hellos and the line",
			c.HandshakeTimeout, c.MessageTimeout)
	}
}

// Every deadline that closes a session is visible to netsvc: the handler
// returns the timeout error itself (wrapped), for the hellos, the wait for
// the command line, the line and a SEND body.
func TestDeadlineErrorsReturned(t *testing.T) {
	t.Parallel()
	l := netsvctest.DefaultLimits
	l.HandshakeTimeout = 200 * time.Millisecond
	l.IdleTimeout = 400 * time.Millisecond
	l.MessageTimeout = 200 * time.Millisecond
	f := newFixtureLimits(t, l)
	errc := make(chan error, 1)
	h := netsvc.HandlerFunc(func(ctx context.Context, c *netsvc.Conn) error {
		err := f.srv.ServeConn(ctx, c)
		errc <- err
		return err
	})
	_, addr := netsvctest.Start(t, "e2eeftp", h, l)
	for _, tc := range []struct {
		name string
		send func(c net.Conn, k func() Keys)
	}{
		{"silent before hello", func(net.Conn, func() Keys) {}},
		{"half hello", func(c net.Conn, _ func() Keys) { h, _ := freshHello(t, f.cliID); c.Write(h[:60]) }},
		{"silent after hello", func(c net.Conn, k func() Keys) { k() }},
		{"half command line", func(c net.Conn, k func() Keys) { k(); c.Write([]byte("SEND|x|6")) }},
		{"short SEND body", func(c net.Conn, k func() Keys) { k(); c.Write([]byte("SEND|x.txt|64\nabc")) }},
	} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		tc.send(c, func() Keys {
			hello, eph := freshHello(t, f.cliID)
			c.Write(hello)
			sh := make([]byte, HelloLen)
			if _, err := io.ReadFull(c, sh); err != nil {
				t.Fatalf("%s: server hello: %v", tc.name, err)
			}
			h, _ := ParseHello(sh)
			k, _ := SessionKeys(eph, h.Ephemeral)
			return k
		})
		select {
		case err := <-errc:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("%s: handler returned %v, want a deadline error", tc.name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: session not closed", tc.name)
		}
		c.Close()
	}
}
