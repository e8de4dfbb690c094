package netsvc

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"testing"
	"time"
)

type reqKey struct{}

// TestRequestContextOutlivesShutdown: the context Conn.Request returns is
// not cancelled when shutdown cancels the handler's, keeps its values, and
// the request it serves finishes with its answer.
func TestRequestContextOutlivesShutdown(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, c *Conn) error {
		ctx = context.WithValue(ctx, reqKey{}, "v")
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			return err
		}
		rctx, done := c.Request(ctx, "WORK")
		close(started)
		<-ctx.Done() // shutdown has begun: the handler's context is cancelled
		// What a store write would see: the request's context is live.
		ans := fmt.Sprintf("err=%v value=%v conn=%v", rctx.Err(), rctx.Value(reqKey{}), FromContext(rctx) == c)
		_, err := io.WriteString(c, ans+"\n")
		done("ok")
		return err
	})
	s := New(nil, nil)
	if err := s.Listen(Service{Name: "req", Addr: "127.0.0.1:0", Handler: h, Limits: Limits{IdleTimeout: 5 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	c := dial(t, s.Addr("req").String())
	if _, err := io.WriteString(c, "go\n"); err != nil {
		t.Fatal(err)
	}
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.r.ReadString('\n')
	if want := "err=<nil> value=v conn=true\n"; err != nil || line != want {
		t.Fatalf("request during shutdown answered %q, %v; want %q", line, err, want)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// eventually is netsvctest.Eventually for this package's own tests (which
// netsvctest, importing netsvc, cannot serve).
func eventually(t testing.TB, what string, max time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(max)
	for tick := time.Millisecond; !cond(); tick = min(2*tick, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, max)
		}
		time.Sleep(tick)
	}
}
