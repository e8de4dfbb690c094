package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"time"

	"gatehouse/internal/service/cloudreport"
	"gatehouse/internal/store"
)

// benchCloudreport measures PING and INFO (decrypt, registry lookup,
// encrypt) on sessions that did INIT first, one registered client id per
// session, as a fleet of report clients would.
func benchCloudreport(ctx context.Context, e *Env) ([]Figure, error) {
	dir, err := e.NewDataDir()
	if err != nil {
		return nil, err
	}
	// Register the client ids in the daemon's store before it starts, as
	// `gatehouse admin cloudreport add` would.
	maxC := 1
	for _, n := range e.Opts.Clients {
		maxC = max(maxC, n)
	}
	db, err := store.Open(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		return nil, err
	}
	for i := range maxC {
		err := db.CloudreportAddClient(ctx, store.CloudreportClient{ID: crID(i), Name: "bench",
			Expires: time.Now().AddDate(1, 0, 0), Enabled: true})
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("cloudreport: register %s: %w", crID(i), err)
		}
	}
	db.Close()
	d, tlsCfg, err := e.startService(ctx, "cloudreport", dir, true,
		fmt.Sprintf("services.cloudreport.max_conns=%d", maxC+16))
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	openOn := func(addr string, cfg *tls.Config, info bool) Opener {
		return func(ctx context.Context, i int) (Op, func(), error) {
			c, err := cloudreport.Dial(ctx, addr, cloudreport.ClientOptions{Timeout: clockTimeout, TLS: cfg})
			if err != nil {
				return nil, nil, err
			}
			if _, err := c.Init(1 + i%10); err != nil {
				c.Close()
				return nil, nil, err
			}
			id := crID(i)
			if info {
				return func() error {
					f, err := c.Info(cloudreport.Fields{{Key: "ID", Value: id}})
					if err != nil {
						return err
					}
					if got, _ := f.Get("ID"); got != id {
						return fmt.Errorf("cloudreport: INFO answered for %q, want %q", got, id)
					}
					return nil
				}, func() { c.Close() }, nil
			}
			return c.Ping, func() { c.Close() }, nil
		}
	}
	open := func(info bool) Opener { return openOn(d.Addr, nil, info) }
	figs, err := e.MeasureRR(ctx, d, "cloudreport PING", open(false))
	if err != nil {
		return figs, err
	}
	const info = "cloudreport INFO"
	more, err := e.MeasureRR(ctx, d, info, open(true))
	for i := range more {
		more[i].Note = joinNote("decrypt, registry lookup, encrypt per request", more[i].Note)
	}
	figs = append(figs, more...)
	if err != nil || tlsCfg == nil {
		return figs, err
	}
	sec, err := e.measureSecure(ctx, d, TransportTLS, info, openOn(d.TLSAddr, tlsCfg, true), false, nil,
		"TLS 1.3 session opened before the clock starts")
	return append(figs, sec...), err
}

func crID(i int) string { return fmt.Sprintf("bench-%03d", i) }
