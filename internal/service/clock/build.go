package clock

import (
	"gatehouse/internal/netsvc"
	"gatehouse/internal/svckit"
)

// Build is the daemon's entry (internal/services): the server for the
// [services.clock] section c.
func Build(c Config, d *svckit.Deps) (netsvc.Handler, error) {
	srv, err := New(c, Env{Metrics: d.Registry})
	if err != nil {
		return nil, err
	}
	if c.AllowWeakClientKeys {
		d.Log.Warn("allow_weak_client_keys is deprecated and has no effect: weak client keys are served by default; " +
			"remove it (set refuse_weak_client_keys = true to refuse them instead)")
	}
	if c.RefuseWeakClientKeys {
		d.Log.Info("refuse_weak_client_keys is on: about 3 % of original client runs will fail their key exchange")
	}
	// The names the session passes to Conn.Request.
	d.Commands = []string{"KEY", "TIME", "DATE", "TEMP", "UNKNOWN", "INVALID"}
	d.Log.Info("clock service ready", "temp_source", c.TempSource)
	return srv, nil
}
