package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"gatehouse/internal/service/clock"
)

// clockTimeout bounds each clock dial, key exchange and request.
const clockTimeout = 5 * time.Second

func clockOpener(addr string, cfg *tls.Config) Opener {
	return func(ctx context.Context, i int) (Op, func(), error) {
		d := clock.Dialer{Timeout: clockTimeout, TLS: cfg}
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
// after its key exchange (as the original's load generator did), on the
// plain port and then on the TLS port.
func benchClock(ctx context.Context, e *Env) ([]Figure, error) {
	d, tlsCfg, err := e.startService(ctx, "clock", "", true)
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	const name = "clock TIME"
	figs, err := e.MeasureRR(ctx, d, name, clockOpener(d.Addr, nil))
	if err != nil || tlsCfg == nil {
		return figs, err
	}
	sec, err := e.measureSecure(ctx, d, TransportTLS, name, clockOpener(d.TLSAddr, tlsCfg), false, nil,
		"TLS 1.3 session opened before the clock starts")
	return append(figs, sec...), err
}
