package services

import (
	"gatehouse/internal/config"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/service/clock"
	"gatehouse/internal/svckit"
)

func buildClock(c *config.Config, d *svckit.Deps) (netsvc.Handler, error) {
	cfg := c.Services.Clock
	opts, err := clock.OptionsFromConfig(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.AllowWeakClientKeys {
		d.Log.Warn("allow_weak_client_keys is deprecated and has no effect: weak client keys are served by default; " +
			"remove it (set refuse_weak_client_keys = true to refuse them instead)")
	}
	if opts.RefuseWeakClientKeys {
		d.Log.Info("refuse_weak_client_keys is on: about 3 % of original client runs will fail their key exchange")
	}
	opts.Metrics = d.Registry
	// The names clock's session passes to Conn.Request.
	d.Commands = []string{"KEY", "TIME", "DATE", "TEMP", "UNKNOWN", "INVALID"}
	d.Log.Info("clock service ready", "temp_source", cfg.TempSource)
	return clock.NewServer(opts), nil
}
