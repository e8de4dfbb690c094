package bench

import (
	"context"
	"fmt"

	"gatehouse/internal/service/zmqcmd"
)

// zmqExpr is the original's benchmark request and zmqReply its exact
// reply (docs/zmqcmd.md, "Benchmark method").
const (
	zmqExpr  = "(6 + 4) * 8"
	zmqReply = `{"status": "success", "result": 80}`
)

// benchZMQCmd measures compute requests over persistent REQ connections,
// the original's method, on the NULL port and then on the CURVE port.
func benchZMQCmd(ctx context.Context, e *Env) ([]Figure, error) {
	dir, err := e.NewDataDir()
	if err != nil {
		return nil, err
	}
	var sets []string
	var serverKey [32]byte
	var clientKey zmqcmd.Cert
	curveAddr := ""
	if !e.Opts.SkipSecure {
		if serverKey, clientKey, err = curveKeys(dir); err != nil {
			return nil, fmt.Errorf("zmqcmd: CURVE keys: %w", err)
		}
		if curveAddr, err = FreePort(); err != nil {
			return nil, err
		}
		sets = append(sets, "services.zmqcmd.curve_listen="+curveAddr)
	}
	d, err := e.StartDaemonAt(ctx, "zmqcmd", dir, sets...)
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	open := func(dial func(ctx context.Context) (*zmqcmd.Client, error)) Opener {
		return func(ctx context.Context, i int) (Op, func(), error) {
			c, err := dial(ctx)
			if err != nil {
				return nil, nil, err
			}
			op := func() error {
				r, err := c.Compute(ctx, zmqExpr)
				if err != nil {
					return err
				}
				if err := r.Err(); err != nil {
					return err
				}
				if string(r.Raw) != zmqReply {
					return fmt.Errorf("zmqcmd: %s gave %q, want %q", zmqExpr, r.Raw, zmqReply)
				}
				return nil
			}
			return op, func() { c.Close() }, nil
		}
	}
	const name = "zmqcmd compute"
	figs, err := e.MeasureRR(ctx, d, name, open(func(ctx context.Context) (*zmqcmd.Client, error) {
		return zmqcmd.Dial(ctx, d.Addr, clockTimeout)
	}))
	for i := range figs {
		figs[i].Note = joinNote("persistent ZMTP REQ connection per client, "+zmqExpr, figs[i].Note)
	}
	if err != nil || curveAddr == "" {
		return figs, err
	}
	sec, err := e.measureSecure(ctx, d, TransportCURVE, name, open(func(ctx context.Context) (*zmqcmd.Client, error) {
		return zmqcmd.DialCurve(ctx, curveAddr, clockTimeout, serverKey, clientKey)
	}), false, nil, "persistent ZMTP CURVE connection per client (handshake before the clock starts), "+zmqExpr)
	return append(figs, sec...), err
}
