package netsvc

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"gatehouse/internal/cputime"
)

// benchLimits are a request service's usual limits: every Read and Write
// has a deadline, as in the daemon.
var benchLimits = Limits{IdleTimeout: 5 * time.Minute, WriteTimeout: 30 * time.Second,
	HandshakeTimeout: 30 * time.Second, MessageTimeout: 30 * time.Second}

// benchEcho answers each line with itself, as one request ("ECHO") each:
// the shared per-request path of every request service (Read, Request,
// Write, done) and nothing else.
func benchEcho(ctx context.Context, c *Conn) error {
	r := bufio.NewReaderSize(c, 4096)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		_, done := c.Request(ctx, "ECHO")
		if _, err := c.Write(line); err != nil {
			done(StatusClosed)
			return err
		}
		done(StatusOK)
	}
}

// benchRoundTrips runs b.N lock-step 64-byte line round trips on client.
func benchRoundTrips(b *testing.B, client net.Conn) {
	line := make([]byte, 64)
	for i := range line {
		line[i] = 'a' + byte(i%26)
	}
	line[63] = '\n'
	reply := make([]byte, len(line))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Process()
	for range b.N {
		if _, err := client.Write(line); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(client, reply); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cputime.Report(b, cpu, 1, "cpu-ns/op")
}

// BenchmarkRequestRoundTrip: one client's lock-step request round trips
// through netsvc's connection path, over loopback TCP (the daemon's path)
// and over net.Pipe (the tests' path; no kernel, so netsvc's share is
// larger). Client and server run in this process: allocs/op and
// cpu-ns/op are both sides'.
func BenchmarkRequestRoundTrip(b *testing.B) {
	b.Run("tcp", func(b *testing.B) {
		s := New(nil, nil)
		if err := s.Listen(Service{Name: "bench", Addr: "127.0.0.1:0", Handler: HandlerFunc(benchEcho),
			Limits: benchLimits, Commands: []string{"ECHO"}}); err != nil {
			b.Fatal(err)
		}
		s.Start()
		defer s.Shutdown(context.Background())
		c, err := net.Dial("tcp", s.Addr("bench").String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		benchRoundTrips(b, c)
	})
	b.Run("pipe", func(b *testing.B) {
		s := New(nil, nil)
		s.Attach(Service{Name: "bench", Handler: HandlerFunc(benchEcho), Limits: benchLimits, Commands: []string{"ECHO"}})
		s.Start()
		defer s.Shutdown(context.Background())
		client, server := net.Pipe()
		defer client.Close()
		if _, err := s.Serve("bench", server); err != nil {
			b.Fatal(err)
		}
		benchRoundTrips(b, client)
	})
}

// nopIO is a real loopback socket whose Read and Write return at once:
// the deadlines netsvc sets cost what they cost on a socket, the I/O
// nothing, so BenchmarkConnOverhead measures netsvc's own share.
type nopIO struct {
	*net.TCPConn
	line []byte
}

func (n *nopIO) Read(p []byte) (int, error)  { return copy(p, n.line), nil }
func (n *nopIO) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkConnOverhead: one request's worth of netsvc calls (a Read, a
// Request, a Write, its done) on a Conn over a socket that does no I/O.
func BenchmarkConnOverhead(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	nc := &nopIO{TCPConn: raw.(*net.TCPConn), line: []byte("PING\n")}
	s := New(nil, nil)
	s.Attach(Service{Name: "bench", Handler: HandlerFunc(benchEcho), Limits: benchLimits, Commands: []string{"PING"}})
	c := s.admit(s.svcs[0], nc, nil)
	defer s.handles.Done()
	ctx := context.WithValue(s.ctx, ctxKey{}, c)
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n, _ := c.Read(buf)
		_, done := c.Request(ctx, "PING")
		c.Write(buf[:n])
		done(StatusOK)
	}
}
