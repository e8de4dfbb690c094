package netsvc

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/tlsutil/tlstest"
)

// whoAmI answers one line per connection: "tls <identity>" or "plain".
var whoAmI = HandlerFunc(func(ctx context.Context, c *Conn) error {
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		return err
	}
	_, done := c.Request(ctx, "WHO")
	ans := "plain"
	if c.TLSState() != nil {
		id, ok := PeerIdentity(c)
		ans = fmt.Sprintf("tls %q %v", id, ok)
	}
	_, err := io.WriteString(c, ans+"\n")
	done("ok")
	return err
})

func startTLS(t *testing.T, h Handler, l Limits, cfg *tls.Config) (*Server, string, string) {
	t.Helper()
	s := New(nil, nil)
	if err := s.Listen(Service{Name: "who", Addr: "127.0.0.1:0", Handler: h, Limits: l,
		TLSAddr: "127.0.0.1:0", TLSConfig: cfg}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, s.Addr("who").String(), s.TLSAddr("who").String()
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) *client {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c, bufio.NewReader(c)}
}

var tlsLimits = Limits{IdleTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second}

// The TLS listener serves the same handler; only TLSState tells it apart,
// and the metrics carry the one service label for both.
func TestTLSListenerServesSameHandler(t *testing.T) {
	t.Parallel()
	p := tlstest.New(t)
	s, plain, tlsAddr := startTLS(t, whoAmI, tlsLimits, p.ServerConfig(t, false))
	if got, err := dial(t, plain).roundTrip("x"); err != nil || got != "plain" {
		t.Fatalf("plain: %q %v", got, err)
	}
	if got, err := dialTLS(t, tlsAddr, p.ClientConfig(t, "")).roundTrip("x"); err != nil || got != `tls "" false` {
		t.Fatalf("tls: %q %v", got, err)
	}
	// The request is counted after its answer is written.
	waitFor(t, func() bool { return value(s.m.requests) == 2 })
	if got := value(s.m.handshakeFailures); got != 0 {
		t.Fatalf("handshake failures = %v", got)
	}
	// Plaintext bytes are counted on the TLS listener: "x\n" in, the answer out.
	if got := value(s.m.bytesIn); got != 4 {
		t.Fatalf("bytes in = %v, want 4", got)
	}
}

// A peer that never completes its TLS handshake is closed at the
// handshake timeout, counted, and holds up nobody: another client is
// served meanwhile (the handshake runs in the connection's goroutine).
func TestTLSHandshakeTimeoutCountedAndNotBlockingAccept(t *testing.T) {
	t.Parallel()
	p := tlstest.New(t)
	l := Limits{IdleTimeout: 5 * time.Second, HandshakeTimeout: 300 * time.Millisecond}
	s, _, tlsAddr := startTLS(t, whoAmI, l, p.ServerConfig(t, false))
	silent := dial(t, tlsAddr)
	if got, err := dialTLS(t, tlsAddr, p.ClientConfig(t, "")).roundTrip("x"); err != nil || !strings.HasPrefix(got, "tls") {
		t.Fatalf("second client while the first is silent: %q %v", got, err)
	}
	expectClosed(t, silent, 3*time.Second)
	garbage := dial(t, tlsAddr)
	io.WriteString(garbage, "INIT ID=2\r\n")
	expectClosed(t, garbage, 3*time.Second)
	waitFor(t, func() bool { return value(s.m.handshakeFailures) == 2 })
	waitFor(t, func() bool { return value(s.m.closed.WithLabelValues("who", "handshake_timeout")) == 1 })
}

// Shared limits: max_conns counts both listeners together.
func TestTLSListenerSharesConnectionLimit(t *testing.T) {
	t.Parallel()
	p := tlstest.New(t)
	hold := make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, c *Conn) error {
		io.WriteString(c, "hi\n")
		<-hold
		return nil
	})
	defer close(hold)
	s, plain, tlsAddr := startTLS(t, h, Limits{MaxConns: 1, IdleTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second}, p.ServerConfig(t, false))
	c := dial(t, plain)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if line, err := c.r.ReadString('\n'); err != nil || line != "hi\n" {
		t.Fatalf("plain: %q %v", line, err)
	}
	d := &tls.Dialer{Config: p.ClientConfig(t, "")}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if tc, err := d.DialContext(ctx, "tcp", tlsAddr); err == nil {
		tc.Close()
		t.Fatal("TLS connection served beyond max_conns 1")
	}
	if got := value(s.m.rejected); got != 1 {
		t.Fatalf("rejected = %v", got)
	}
}

// Mutual TLS: the verified certificate's common name is the peer
// identity; no certificate or one of another CA ends the connection
// before the handler runs.
func TestTLSClientCertificates(t *testing.T) {
	t.Parallel()
	p, other := tlstest.New(t), tlstest.New(t)
	s, _, tlsAddr := startTLS(t, whoAmI, tlsLimits, p.ServerConfig(t, true))
	if got, err := dialTLS(t, tlsAddr, p.ClientConfig(t, "client-7")).roundTrip("x"); err != nil || got != `tls "client-7" true` {
		t.Fatalf("good client certificate: %q %v", got, err)
	}
	noCert := p.ClientConfig(t, "")
	wrongCA := p.ClientConfig(t, "")
	cf, kf := other.Client(t, "client-7")
	wc, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	wrongCA.Certificates = []tls.Certificate{wc}
	for name, cfg := range map[string]*tls.Config{"no certificate": noCert, "certificate of another CA": wrongCA} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", tlsAddr, cfg)
		if err != nil {
			continue // refused during the handshake
		}
		got, err := (&client{c, bufio.NewReader(c)}).roundTrip("x")
		c.Close()
		if err == nil {
			t.Fatalf("%s: served: %q", name, got)
		}
	}
	waitFor(t, func() bool { return value(s.m.handshakeFailures) == 2 })
	waitFor(t, func() bool { return value(s.m.requests) == 1 })
	if got := value(s.m.requests); got != 1 {
		t.Fatalf("requests = %v, want only the good client's", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 300 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached in 3 s")
}

// Conns (the admin /connz view) describes a TLS connection whose
// handshake is still under way without waiting for it, and names the
// verified client certificate once it is done. tls.Conn's ConnectionState
// takes the handshake's lock, which a peer that sends its hello slowly (or
// not at all) keeps held for up to handshake_timeout, and Conns holds the
// service's lock while it describes the connections: the accept loop
// (admit), every ending connection and the byte counters' scrape need that
// lock too.
func TestConnsDoesNotWaitForATLSHandshake(t *testing.T) {
	t.Parallel()
	p := tlstest.New(t)
	cfg := p.ServerConfig(t, true)
	inHandshake, release, hold := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var entered, released sync.Once
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		// Runs inside the server's handshake, under its lock.
		entered.Do(func() { close(inHandshake) })
		<-release
		return nil, nil
	}
	h := HandlerFunc(func(ctx context.Context, c *Conn) error {
		if err := whoAmI(ctx, c); err != nil {
			return err
		}
		select { // stay listed until the test has looked
		case <-hold:
		case <-ctx.Done():
		}
		return nil
	})
	s, _, tlsAddr := startTLS(t, h, Limits{IdleTimeout: 5 * time.Second, HandshakeTimeout: time.Minute}, cfg)
	free := func() { released.Do(func() { close(release) }) }
	t.Cleanup(free) // before startTLS's shutdown, which waits for the handshake

	answer := make(chan string, 1)
	go func() {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: p.ClientConfig(t, "client-7")}
		nc, err := d.DialContext(context.Background(), "tcp", tlsAddr)
		if err != nil {
			answer <- err.Error()
			return
		}
		defer nc.Close()
		got, err := (&client{nc, bufio.NewReader(nc)}).roundTrip("x")
		answer <- fmt.Sprint(got, err)
		<-hold
	}()
	defer close(hold)
	<-inHandshake

	listed := make(chan []ConnInfo, 1)
	go func() { listed <- s.Conns() }()
	select {
	case conns := <-listed:
		if len(conns) != 1 || !conns[0].TLS || conns[0].Identity != "" {
			t.Errorf("during the handshake Conns = %+v, want the one TLS connection without an identity", conns)
		}
	case <-time.After(10 * time.Second):
		free()
		<-listed
		t.Fatal("Conns waited for a TLS handshake in progress (the service's lock held meanwhile)")
	}
	free()
	if got := <-answer; got != `tls "client-7" true<nil>` {
		t.Fatalf("client after the handshake: %q", got)
	}
	if conns := s.Conns(); len(conns) != 1 || conns[0].Identity != "client-7" {
		t.Fatalf("after the handshake Conns = %+v, want the client certificate's name", conns)
	}
}
