package bench

import (
	"context"
	"crypto/tls"
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
	d, tlsCfg, err := e.startService(ctx, "backup", "", true, "services.backup.register_rate=0")
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	loginOn := func(ctx context.Context, addr string, cfg *tls.Config, name string) (*backup.Client, error) {
		c := &backup.Client{Addr: addr, Name: name, Timeout: 30 * time.Second, Attempts: 1, TLS: cfg}
		if err := c.Register(ctx); err != nil {
			return nil, fmt.Errorf("backup: register: %w", err)
		}
		if err := c.ExchangeKeys(ctx); err != nil {
			return nil, fmt.Errorf("backup: exchange keys: %w", err)
		}
		return c, nil
	}
	login := func(ctx context.Context, name string) (*backup.Client, error) {
		return loginOn(ctx, d.Addr, nil, name)
	}
	run := unique()
	var figs []Figure
	reg, err := e.MeasureRRPerConn(ctx, d, "backup register (1025)", func(ctx context.Context, i int) (Op, func(), error) {
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
	key, err := e.MeasureRRPerConn(ctx, d, "backup key (1026)", func(ctx context.Context, i int) (Op, func(), error) {
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
	reconnect := func(addr string, cfg *tls.Config, tag string) Opener {
		return func(ctx context.Context, i int) (Op, func(), error) {
			c, err := loginOn(ctx, addr, cfg, fmt.Sprintf("bench-%s%d-%s", tag, i, run))
			if err != nil {
				return nil, nil, err
			}
			c.Timeout = clockTimeout
			return func() error { return c.Reconnect(ctx) }, func() {}, nil
		}
	}
	const recName = "backup reconnect (1027)"
	rec, err := e.MeasureRRPerConn(ctx, d, recName, reconnect(d.Addr, nil, ""))
	for i := range rec {
		rec[i].Primitives = PrimsBackupKey
		rec[i].Note = joinNote("new connection per request; the client's RSA-1024 unwrap is part of each request", rec[i].Note)
	}
	figs = append(figs, rec...)
	if err != nil {
		return figs, err
	}
	if tlsCfg != nil {
		sec, err := e.measureSecure(ctx, d, TransportTLS, recName, reconnect(d.TLSAddr, tlsCfg, "t"), true, PrimsBackupKey,
			"new connection and full TLS 1.3 handshake per request (no session resumption)")
		figs = append(figs, sec...)
		if err != nil {
			return figs, err
		}
	}

	src, _, err := e.Source()
	if err != nil {
		return figs, err
	}
	size := e.Opts.Size
	upload := func(addr string, cfg *tls.Config, name, client string) (Figure, error) {
		c, err := loginOn(ctx, addr, cfg, client)
		if err != nil {
			return Figure{}, err
		}
		var res backup.UploadResult
		up, err := e.MeasureTransfer(ctx, d, name, "upload", BaseAES128Enc, func(ctx context.Context) error {
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
		if err == nil && up.Bytes > 0 {
			up.Note = joinNote(up.Note, fmt.Sprintf("CRC verified by the server, %d attempt(s)", res.Attempts))
		}
		return up, err
	}
	const upName = "backup upload"
	up, err := upload(d.Addr, nil, upName, "bench-upload-"+run)
	if err != nil {
		return figs, err
	}
	figs = append(figs, up)
	if tlsCfg == nil {
		return figs, nil
	}
	sec, err := upload(d.TLSAddr, tlsCfg, upName+secureSuffix(TransportTLS), "bench-uploadt-"+run)
	if err != nil {
		return figs, err
	}
	sec.Transport, sec.Plain = TransportTLS, upName
	if sec.Bytes > 0 {
		sec.Note = joinNote("inside TLS 1.3 (AES-GCM on top of the protocol's AES-CBC)", sec.Note)
	}
	return append(figs, sec), nil
}

// unique is a short token that keeps this run's client names apart from
// earlier runs' in a store that outlives the run (PostgreSQL).
func unique() string { return fmt.Sprintf("%x", time.Now().UnixNano()) }
