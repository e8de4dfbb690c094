package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"gatehouse/internal/service/backup"
)

// benchBackup measures reconnect requests (1027: one connection each, as
// the protocol has it) and the upload flow of the run's transfer file
// (1028 streamed, then 1029 after the CRC matched).
func benchBackup(ctx context.Context, e *Env) ([]Figure, error) {
	d, err := e.StartDaemon(ctx, "backup")
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	login := func(ctx context.Context, name string) (*backup.Client, error) {
		c := &backup.Client{Addr: d.Addr, Name: name, Timeout: 30 * time.Second, Attempts: 1}
		if err := c.Register(ctx); err != nil {
			return nil, fmt.Errorf("backup: register: %w", err)
		}
		if err := c.ExchangeKeys(ctx); err != nil {
			return nil, fmt.Errorf("backup: exchange keys: %w", err)
		}
		return c, nil
	}
	// Registration and the RSA key generation happen before the clock runs.
	figs, err := e.MeasureRR(ctx, d, "backup reconnect (1027)", func(ctx context.Context, i int) (Op, func(), error) {
		c, err := login(ctx, fmt.Sprintf("bench-%d-%d", i, time.Now().UnixNano()))
		if err != nil {
			return nil, nil, err
		}
		c.Timeout = clockTimeout
		return func() error { return c.Reconnect(ctx) }, func() {}, nil
	})
	for i := range figs {
		figs[i].Note = joinNote("new connection per request; the client's RSA-1024 unwrap is part of each request", figs[i].Note)
	}
	if err != nil {
		return figs, err
	}

	src, _, err := e.Source()
	if err != nil {
		return figs, err
	}
	size := e.Opts.Size
	c, err := login(ctx, "bench-upload")
	if err != nil {
		return figs, err
	}
	var res backup.UploadResult
	up, err := e.MeasureTransfer(ctx, d, "backup upload", "upload", BaseAES128Enc, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, TransferTimeout(size))
		defer cancel()
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		res, err = c.Upload(ctx, "bench.bin", f, size)
		if err == nil && !res.Verified {
			err = errors.New("backup: upload not verified")
		}
		return err
	})
	if err != nil {
		return figs, err
	}
	if up.Bytes > 0 {
		up.Note = joinNote(up.Note, fmt.Sprintf("CRC verified by the server, %d attempt(s)", res.Attempts))
	}
	return append(figs, up), nil
}
