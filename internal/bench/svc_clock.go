package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/service/clock"
)

// clockTimeout bounds each clock dial, key exchange and request.
const clockTimeout = 5 * time.Second

func clockOpener(addr string) Opener {
	return func(ctx context.Context, i int) (Op, func(), error) {
		d := clock.Dialer{Timeout: clockTimeout}
		s, err := d.Dial(ctx, addr)
		if err != nil {
			return nil, nil, err
		}
		op := func() error {
			t, err := s.Time()
			if err != nil {
				return err
			}
			if len(t) < 8 { // "HH:MM:SS"
				return fmt.Errorf("clock: short TIME reply %q", t)
			}
			return nil
		}
		return op, func() { s.Close() }, nil
	}
}

// benchClock measures TIME round trips at each client count, each session
// after its key exchange (as the original's load generator did).
func benchClock(ctx context.Context, e *Env) ([]Figure, error) {
	d, err := e.StartDaemon(ctx, "clock")
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	return e.MeasureRR(ctx, d, "clock TIME", clockOpener(d.Addr))
}

// idleOpenWindow bounds how long opening the idle connections may take.
const idleOpenWindow = 90 * time.Second

// benchIdle opens Opts.IdleConns clock sessions (key exchange done, then
// silent), reports the daemon's RSS per connection, and checks that one
// more client is still served while they are all open.
func benchIdle(ctx context.Context, e *Env) ([]Figure, error) {
	want := e.Opts.IdleConns
	// Our sockets plus slack; the daemon child inherits the limit.
	limit, rerr := RaiseNoFile(uint64(want) + 512)
	note := fmt.Sprintf("RLIMIT_NOFILE %d", limit)
	if rerr != nil {
		note += " (raise failed: " + rerr.Error() + ")"
	}
	d, err := e.StartDaemon(ctx, "clock",
		"services.clock.max_conns=0", "services.clock.idle_timeout=10m")
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	// Warm the daemon with one session so the baseline RSS already holds
	// the code paths and buffers every session shares.
	if s, err := clock.Dial(ctx, d.Addr); err == nil {
		s.Time()
		s.Close()
	}
	time.Sleep(200 * time.Millisecond)
	before, err := d.Sample()
	if err != nil {
		return nil, err
	}
	e.Logf("idle: opening %d clock sessions (%s)", want, note)

	var (
		mu       sync.Mutex
		sessions = make([]*clock.Session, 0, want)
		failed   atomic.Int64
		firstErr error
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	octx, cancel := context.WithTimeout(ctx, idleOpenWindow)
	t0 := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dl := clock.Dialer{Timeout: clockTimeout}
			for next.Add(1) <= int64(want) && octx.Err() == nil {
				s, err := dl.Dial(octx, d.Addr)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					// A run of failures means a limit was hit: stop early.
					if failed.Load() > 100 {
						return
					}
					continue
				}
				mu.Lock()
				sessions = append(sessions, s)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	cancel()
	openTime := time.Since(t0)
	defer func() {
		for _, s := range sessions {
			s.Close()
		}
	}()
	reached := len(sessions)
	time.Sleep(time.Second) // let the daemon's goroutines settle
	after, err := d.Sample()
	if err != nil {
		return nil, err
	}
	f := Figure{Section: SectionScale, Name: "clock idle sessions", Service: "clock", Kind: "idle",
		Clients: reached, Ops: int64(reached), Errors: failed.Load(), Seconds: openTime.Seconds(),
		PeakRSSMiB: float64(after.PeakKiB) / 1024}
	if reached > 0 {
		f.RSSPerConnKiB = float64(after.RSSKiB-before.RSSKiB) / float64(reached)
	}
	// One more client, served while all the others stay open.
	t1 := time.Now()
	var served error
	if s, err := (&clock.Dialer{Timeout: clockTimeout}).Dial(ctx, d.Addr); err != nil {
		served = err
	} else {
		_, served = s.Time()
		s.Close()
	}
	lat := time.Since(t1)
	note = fmt.Sprintf("asked %d, reached %d in %.1fs; daemon RSS %.1f → %.1f MiB, %d threads; %s",
		want, reached, openTime.Seconds(), float64(before.RSSKiB)/1024, float64(after.RSSKiB)/1024, after.Threads, note)
	if served == nil {
		note += fmt.Sprintf("; a new client was served in %.1f ms", ms(lat))
	} else {
		f.Errors++
		note += "; a new client was NOT served: " + served.Error()
	}
	if firstErr != nil {
		note += "; first open error: " + firstErr.Error()
	}
	f.Note = note
	e.Logf("idle: %s", note)
	return []Figure{f}, nil
}
