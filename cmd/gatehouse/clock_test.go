package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/service/clock"
)

// clockServer is a clock server whose TEMP reads 6.
func clockServer(t *testing.T) *clock.Server {
	t.Helper()
	s, err := clock.New(clock.DefaultConfig(), clock.Env{Temp: clock.FixedTemp(6)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startClock(t *testing.T) (host, port string) {
	t.Helper()
	_, addr := netsvctest.Start(t, "clock", clockServer(t), netsvctest.DefaultLimits)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// runClock runs the client with a deadline so a hang fails the test.
func runClock(t *testing.T, ctx context.Context, stdin io.Reader, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- runClockClient(ctx, stdinEnv(stdin, &out, &errOut), args) }()
	select {
	case err := <-done:
		return out.String(), errOut.String(), err
	case <-time.After(10 * time.Second):
		t.Fatal("client clock did not return")
		return "", "", nil
	}
}

var (
	timeLine = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d(\.\d{6})?$`)
	dateLine = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d$`)
)

func TestClockClientNonInteractive(t *testing.T) {
	t.Parallel()
	host, port := startClock(t)
	out, _, err := runClock(t, context.Background(), strings.NewReader(""), "--host", host, "--port", port, "time", "DATE", "temp")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || !timeLine.MatchString(lines[0]) || !dateLine.MatchString(lines[1]) || lines[2] != "6°C" {
		t.Fatalf("output %q", out)
	}
	out, _, err = runClock(t, context.Background(), nil, "-host", host, "-port", port, "-rtt", "temp")
	if err != nil || !regexp.MustCompile(`^6°C\t\d+\.\d{4} ms\n$`).MatchString(out) {
		t.Fatalf("-rtt output %q, %v", out, err)
	}
}

func TestClockClientMenu(t *testing.T) {
	t.Parallel()
	host, port := startClock(t)
	out, _, err := runClock(t, context.Background(), strings.NewReader("1\n 2 \n3\n9\nabc\n4\n1\n"), "--host", host, "--port", port)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "Response: "); n != 3 {
		t.Fatalf("%d responses (4 must stop the loop):\n%s", n, out)
	}
	if !regexp.MustCompile(`Response: 6°C with RTT \d+\.\d{4} ms`).MatchString(out) {
		t.Fatalf("no TEMP line:\n%s", out)
	}
	if n := strings.Count(out, "The option is not a valid one, please try again."); n != 2 {
		t.Fatalf("%d invalid-option lines:\n%s", n, out)
	}
	if !strings.Contains(out, "1. Request time from the server.") || !strings.Contains(out, " connected to the server with "+host+" address on port "+port+". Sum: ") {
		t.Fatalf("menu or banner missing:\n%s", out)
	}
	if !strings.HasSuffix(out, "Connection closed\n") {
		t.Fatalf("no clean close:\n%s", out)
	}
}

// End of input without "4" ends the client (the original spun forever).
func TestClockClientEOF(t *testing.T) {
	t.Parallel()
	host, port := startClock(t)
	out, _, err := runClock(t, context.Background(), strings.NewReader("2\n"), "--host", host, "--port", port)
	if err != nil || strings.Count(out, "Response: ") != 1 || !strings.HasSuffix(out, "Connection closed\n") {
		t.Fatalf("EOF: %v\n%s", err, out)
	}
}

// Ctrl+C at the menu ends the client cleanly (the original swallowed it).
func TestClockClientInterrupt(t *testing.T) {
	t.Parallel()
	host, port := startClock(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	// Interrupt once the client is at the menu, waiting for a choice.
	menu := &firstRead{r: pr, reading: make(chan struct{})}
	go func() { <-menu.reading; cancel() }()
	t0 := time.Now()
	out, _, err := runClock(t, ctx, menu, "--host", host, "--port", port)
	if err != nil || !strings.HasSuffix(out, "Connection closed\n") {
		t.Fatalf("interrupt: %v\n%s", err, out)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("interrupt took %v", d)
	}
}

// firstRead closes reading when its first Read begins.
type firstRead struct {
	r       io.Reader
	once    sync.Once
	reading chan struct{}
}

func (f *firstRead) Read(p []byte) (int, error) {
	f.once.Do(func() { close(f.reading) })
	return f.r.Read(p)
}

func TestClockClientErrors(t *testing.T) {
	t.Parallel()
	host, port := startClock(t)
	if _, _, err := runClock(t, context.Background(), nil, "--host", host, "--port", port, "weather"); err == nil {
		t.Fatal("unknown request accepted")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closedPort, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	if _, _, err := runClock(t, context.Background(), nil, "--host", "127.0.0.1", "--port", closedPort, "time"); err == nil {
		t.Fatal("no error with nothing listening")
	}
	if _, _, err := runClock(t, context.Background(), nil, "--port", "1", "--addr", "127.0.0.1:2", "time"); err == nil ||
		!strings.Contains(err.Error(), "--addr and the older --host/--port") {
		t.Fatalf("--port with --addr: %v, want a conflict error", err)
	}
	usage, _, err := runClock(t, context.Background(), nil, "-h")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(usage, "examples:") || !strings.Contains(usage, "gatehouse client clock time") {
		t.Fatalf("-h: %v\n%s", err, usage)
	}
}
