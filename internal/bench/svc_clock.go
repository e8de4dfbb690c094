package bench

import (
	"context"
	"fmt"
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
