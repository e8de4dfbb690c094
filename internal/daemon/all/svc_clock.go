package all

import (
	"gatehouse/internal/daemon"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/service/clock"
)

func init() {
	daemon.Register("clock", func(d *daemon.Deps) (netsvc.Handler, func(), error) {
		opts, err := clock.OptionsFromConfig(d.Config.Services.Clock)
		if err != nil {
			return nil, nil, err
		}
		if opts.AllowWeakClientKeys {
			d.Log.Warn("allow_weak_client_keys is on: some sessions may travel in plaintext")
		}
		// The names clock's session passes to Conn.Request.
		d.Commands = []string{"KEY", "TIME", "DATE", "TEMP", "UNKNOWN", "INVALID"}
		d.Log.Info("clock service ready", "temp_source", d.Config.Services.Clock.TempSource)
		return clock.NewServer(opts), nil, nil
	})
}
