package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"gatehouse/internal/service/backup"
)

// benchBackup measures the three handshake requests, each on a connection
// of its own as the protocol has it: register (1025), key exchange (1026,
// the same key again: the server's retry path, its SELECT, touch and RSA
// wrap) and reconnect (1027); then the upload flow of the run's transfer
// file (1028 streamed, then 1029 after the CRC matched). Registration is
// unlimited on the bench daemon (register_rate=0), or 1025 would measure
// the per-address limiter.
func benchBackup(ctx context.Context, e *Env) ([]Figure, error) {
	d, err := e.StartDaemon(ctx, "backup", "services.backup.register_rate=0")
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
	run := unique()
	var figs []Figure
	reg, err := e.MeasureRR(ctx, d, "backup register (1025)", func(ctx context.Context, i int) (Op, func(), error) {
		c := &backup.Client{Addr: d.Addr, Name: fmt.Sprintf("bench-r%d-%s", i, run), Timeout: clockTimeout, Attempts: 1}
		return func() error { return c.Register(ctx) }, func() {}, nil
	})
	for i := range reg {
		reg[i].Note = joinNote("new connection per request; no public-key work", reg[i].Note)
	}
	figs = append(figs, reg...)
	if err != nil {
		return figs, err
	}
	// Registration and the RSA key generation happen before the clock runs.
	key, err := e.MeasureRR(ctx, d, "backup key (1026)", func(ctx context.Context, i int) (Op, func(), error) {
		c, err := login(ctx, fmt.Sprintf("bench-k%d-%s", i, run))
		if err != nil {
			return nil, nil, err
		}
		c.Timeout = clockTimeout
		return func() error { return c.ExchangeKeys(ctx) }, func() {}, nil
	})
	for i := range key {
		key[i].Primitives = PrimsBackupKey
		key[i].Note = joinNote("new connection per request, same key each time (the retry path); the client's RSA-1024 unwrap is part of each request", key[i].Note)
	}
	figs = append(figs, key...)
	if err != nil {
		return figs, err
	}
	rec, err := e.MeasureRR(ctx, d, "backup reconnect (1027)", func(ctx context.Context, i int) (Op, func(), error) {
		c, err := login(ctx, fmt.Sprintf("bench-%d-%s", i, run))
		if err != nil {
			return nil, nil, err
		}
		c.Timeout = clockTimeout
		return func() error { return c.Reconnect(ctx) }, func() {}, nil
	})
	for i := range rec {
		rec[i].Primitives = PrimsBackupKey
		rec[i].Note = joinNote("new connection per request; the client's RSA-1024 unwrap is part of each request", rec[i].Note)
	}
	figs = append(figs, rec...)
	if err != nil {
		return figs, err
	}

	src, _, err := e.Source()
	if err != nil {
		return figs, err
	}
	size := e.Opts.Size
	c, err := login(ctx, "bench-upload-"+run)
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

// unique is a short token that keeps this run's client names apart from
// earlier runs' in a store that outlives the run (PostgreSQL).
func unique() string { return fmt.Sprintf("%x", time.Now().UnixNano()) }
