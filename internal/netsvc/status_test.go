package netsvc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/syncbuf"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPeerGone(t *testing.T) {
	t.Parallel()
	for _, err := range []error{io.EOF, io.ErrUnexpectedEOF, net.ErrClosed,
		fmt.Errorf("reading body: %w", syscall.ECONNRESET),
		&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}} {
		if !PeerGone(err) {
			t.Errorf("PeerGone(%v) = false", err)
		}
	}
	for _, err := range []error{nil, errors.New("disk full"), os.ErrDeadlineExceeded, syscall.ENOSPC} {
		if PeerGone(err) {
			t.Errorf("PeerGone(%v) = true", err)
		}
	}
}

// A request whose client goes away ends with status closed: counted under
// that status and logged once at info, never as an error; every command of
// the service has all statuses at zero from start-up.
func TestClientAbortIsInfo(t *testing.T) {
	t.Parallel()
	var logs syncbuf.Buffer
	reg := prometheus.NewRegistry()
	ended := make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, c *Conn) error {
		defer close(ended)
		r := bufio.NewReader(c)
		if _, err := r.ReadString('\n'); err != nil {
			return err
		}
		_, done := c.Request(ctx, "GET")
		_, err := r.ReadString('\n') // the client hangs up instead
		if PeerGone(err) {
			done(StatusClosed)
		} else {
			done(StatusServerError)
		}
		return err
	})
	s := New(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), NewMetrics(reg))
	if err := s.Listen(Service{Name: "abort", Addr: "127.0.0.1:0", Handler: h, Commands: []string{"GET", "PUT"},
		Limits: Limits{IdleTimeout: 5 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Shutdown(context.Background())
	if n := testutil.CollectAndCount(reg, "gatehouse_requests_total"); n != 2*len(Statuses) {
		t.Fatalf("gatehouse_requests_total has %d series at start, want %d (2 commands × every status)", n, 2*len(Statuses))
	}
	c := dial(t, s.Addr("abort").String())
	io.WriteString(c, "GET x\n")
	c.Close()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not end")
	}
	eventually(t, "closed request counted", 5*time.Second, func() bool {
		return requestCount(t, reg, "GET", StatusClosed) == 1
	})
	out := logs.String()
	if !strings.Contains(out, "level=INFO msg=\"request ended: the client went away\"") || !strings.Contains(out, "command=GET") {
		t.Fatalf("no info line for the abort:\n%s", out)
	}
	if strings.Contains(out, "level=ERROR") || strings.Contains(out, "level=WARN") {
		t.Fatalf("a client abort was logged above info:\n%s", out)
	}
}

// requestCount reads gatehouse_requests_total{command, status} from reg.
func requestCount(t *testing.T, reg *prometheus.Registry, cmd string, status Status) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gatehouse_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["command"] == cmd && l["status"] == string(status) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}
