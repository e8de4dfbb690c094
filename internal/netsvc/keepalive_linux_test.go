package netsvc_test

import (
	"context"
	"testing"
	"time"

	"net"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/netsvc/netsvctest"
)

// Every accepted connection has TCP keepalive on with the documented
// values, so a vanished peer is reaped even under an hours-long idle
// timeout (the clock service's menu sessions).
func TestAcceptedConnsHaveKeepAlive(t *testing.T) {
	t.Parallel()
	got := make(chan netsvctest.KeepAlive, 1)
	errc := make(chan error, 1)
	h := netsvc.HandlerFunc(func(ctx context.Context, c *netsvc.Conn) error {
		ka, err := netsvctest.KeepAliveOf(c.Conn)
		got <- ka
		errc <- err
		return nil
	})
	_, addr := netsvctest.Start(t, "ka", h, netsvctest.DefaultLimits)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case ka := <-got:
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		want := netsvctest.KeepAlive{On: true, Idle: netsvc.KeepAliveIdle, Interval: netsvc.KeepAliveInterval,
			Count: netsvc.KeepAliveCount}
		if ka != want {
			t.Fatalf("accepted connection keepalive %+v, want %+v", ka, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler never ran")
	}
}
