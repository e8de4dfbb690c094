package all

import (
	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/service/zmqcmd"
)

func init() {
	daemon.Register("zmqcmd", func(d *daemon.Deps) (netsvc.Handler, func(), error) {
		cfg := zmqcmdConfig(d.Config.Services.ZMQCmd)
		srv, err := zmqcmd.New(cfg, d.Log)
		if err != nil {
			return nil, nil, err
		}
		// The names zmqcmd's handler passes to Conn.Request.
		d.Commands = []string{"compute", "os", "invalid"}
		if d.Registry != nil {
			for _, c := range srv.Collectors() {
				if err := d.Registry.Register(c); err != nil {
					return nil, nil, err
				}
			}
		}
		d.Log.Info("zmqcmd service ready", "allow", cfg.Allow, "command_timeout", cfg.CommandTimeout,
			"max_output", cfg.MaxOutput, "fail_on_exit_code", cfg.FailOnExitCode,
			"max_computations", srv.MaxComputations(), "compute_budget", cfg.Compute.Budget)
		return srv, nil, nil
	})
}

// zmqcmdConfig maps the TOML section onto the service's Config.
func zmqcmdConfig(c config.ZMQCmd) zmqcmd.Config {
	cfg := zmqcmd.DefaultConfig()
	cfg.Allow = c.Allow
	cfg.CommandTimeout = c.CommandTimeout.Duration
	cfg.MaxOutput = c.MaxOutput
	cfg.MaxProcs = c.MaxProcs
	cfg.CommandPath = c.CommandPath
	cfg.FailOnExitCode = c.FailOnExitCode
	cfg.PingHosts = c.PingHosts
	cfg.Compute.Timeout = c.ComputeTimeout.Duration
	cfg.Compute.MaxExpression = c.MaxExpression
	cfg.Compute.Budget = c.ComputeBudget
	cfg.MaxComputations = c.MaxComputations
	cfg.ComputeWait = c.ComputeWait.Duration
	cfg.MaxFrame = c.MaxFrame
	return cfg
}
