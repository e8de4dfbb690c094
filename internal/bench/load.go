package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one request on an open client: it returns when the full reply has
// been read and checked.
type Op func() error

// Opener opens client number i (connect, handshake) and returns its request
// function and a closer. Opening is not timed. The closer must be safe to
// call from another goroutine while an Op is blocked (closing a net.Conn is).
type Opener func(ctx context.Context, i int) (Op, func(), error)

// LoadResult is what a closed-loop run measured.
type LoadResult struct {
	Clients  int
	Ops      int64
	Errors   int64
	Elapsed  time.Duration
	P50, P99 time.Duration
	FirstErr error
}

// ReqPerSec is completed requests per second.
func (r LoadResult) ReqPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// maxSamples bounds the latency samples kept per client (8 MiB each);
// beyond it requests are still counted, just not sampled.
const maxSamples = 1 << 20

// grace is how long a run waits past its duration for requests in flight
// before it closes the clients under them.
const grace = 10 * time.Second

// ClosedLoop opens clients clients, then lets each one send a request,
// wait for its reply and send the next, for dur. A failed request is counted
// and its client reopened once; a client that cannot be reopened stops.
func ClosedLoop(ctx context.Context, clients int, dur time.Duration, open Opener) (LoadResult, error) {
	if clients < 1 {
		return LoadResult{}, errors.New("bench: need at least one client")
	}
	type worker struct {
		op      Op
		closeFn func()
		lat     []time.Duration
		ops     int64
		errs    int64
		err     error
	}
	ws := make([]*worker, clients)
	closeAll := func() {
		for _, w := range ws {
			if w != nil && w.closeFn != nil {
				w.closeFn()
			}
		}
	}
	// Open concurrently but bounded, so 8 handshakes do not run one by one.
	var mu sync.Mutex
	var openErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range ws {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			op, cl, err := open(ctx, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if openErr == nil {
					openErr = fmt.Errorf("client %d: %w", i, err)
				}
				return
			}
			ws[i] = &worker{op: op, closeFn: cl, lat: make([]time.Duration, 0, 4096)}
		}()
	}
	wg.Wait()
	if openErr != nil {
		closeAll()
		return LoadResult{Clients: clients}, openErr
	}

	var stop atomic.Bool
	start := time.Now()
	deadline := start.Add(dur)
	done := make(chan struct{})
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reopened := false
			for !stop.Load() && ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(deadline) {
					return
				}
				if err := w.op(); err != nil {
					w.errs++
					if w.err == nil {
						w.err = err
					}
					if reopened || stop.Load() {
						return
					}
					reopened = true
					w.closeFn()
					op, cl, err := open(ctx, i)
					if err != nil {
						return
					}
					mu.Lock()
					w.op, w.closeFn = op, cl
					mu.Unlock()
					continue
				}
				w.ops++
				if len(w.lat) < maxSamples {
					w.lat = append(w.lat, time.Since(t0))
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		stop.Store(true)
	case <-time.After(dur + grace):
		stop.Store(true)
	}
	stop.Store(true)
	mu.Lock()
	closeAll()
	mu.Unlock()
	<-done
	// Requests that started before the deadline may end after it; their time
	// is counted so the rate stays honest.
	elapsed := max(time.Since(start), time.Millisecond)
	res := LoadResult{Clients: clients, Elapsed: elapsed}
	var all []time.Duration
	for _, w := range ws {
		res.Ops += w.ops
		res.Errors += w.errs
		if res.FirstErr == nil && w.err != nil {
			res.FirstErr = w.err
		}
		all = append(all, w.lat...)
	}
	res.P50, res.P99 = percentiles(all)
	return res, ctx.Err()
}

// percentiles returns the 50th and 99th percentile (nearest rank).
func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.999999) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return rank(0.50), rank(0.99)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// loadFigure turns a closed-loop result into a table line.
func loadFigure(section, name, service string, r LoadResult) Figure {
	f := Figure{
		Section: section, Name: name, Service: service, Clients: r.Clients,
		Ops: r.Ops, Errors: r.Errors, Seconds: r.Elapsed.Seconds(),
		ReqPerSec: r.ReqPerSec(), P50ms: ms(r.P50), P99ms: ms(r.P99),
	}
	if r.FirstErr != nil {
		f.Note = "first error: " + r.FirstErr.Error()
	}
	return f
}
