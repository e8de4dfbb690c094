package netsvc

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// Finished connections leave their goroutine waiting for the next one, at
// most maxIdleWorkers of them, and the waiting ones exit at shutdown.
func TestWorkersAreReusedBoundedAndStopped(t *testing.T) {
	t.Parallel()
	release := make(chan struct{}, 2*maxIdleWorkers) // one token per connection to finish
	var started sync.WaitGroup
	h := HandlerFunc(func(ctx context.Context, c *Conn) error {
		started.Done()
		<-release
		return nil
	})
	srv := New(nil, nil)
	if err := srv.Listen(Service{Name: "w", Addr: "127.0.0.1:0", Handler: h,
		Limits: Limits{MaxConns: 256, IdleTimeout: 10 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer srv.Shutdown(context.Background())
	addr := srv.Addr("w").String()
	waitIdle := func(want int32) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); srv.workers.idle.Load() != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d idle workers, want %d", srv.workers.idle.Load(), want)
			}
		}
	}
	dial := func(n int) []net.Conn {
		started.Add(n)
		cs := make([]net.Conn, n)
		for i := range cs {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			cs[i] = c
		}
		started.Wait()
		return cs
	}

	// One connection at a time: one worker serves them all.
	for i := 0; i < 5; i++ {
		release <- struct{}{}
		for _, c := range dial(1) {
			c.Close()
		}
		waitIdle(1)
	}

	// More connections at once than may wait afterwards.
	cs := dial(maxIdleWorkers + 16)
	for _, c := range cs {
		release <- struct{}{}
		c.Close()
	}
	waitIdle(maxIdleWorkers)

	srv.Shutdown(context.Background())
	waitIdle(0)
}
