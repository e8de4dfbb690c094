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
// the original's method.
func benchZMQCmd(ctx context.Context, e *Env) ([]Figure, error) {
	d, err := e.StartDaemon(ctx, "zmqcmd")
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	figs, err := e.MeasureRR(ctx, d, "zmqcmd compute", func(ctx context.Context, i int) (Op, func(), error) {
		c, err := zmqcmd.Dial(ctx, d.Addr, clockTimeout)
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
	})
	for i := range figs {
		figs[i].Note = joinNote("persistent ZMTP REQ connection per client, "+zmqExpr, figs[i].Note)
	}
	return figs, err
}
