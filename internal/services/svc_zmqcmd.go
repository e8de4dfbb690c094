package services

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"gatehouse/internal/config"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/service/zmqcmd"
	"gatehouse/internal/svckit"
	"gatehouse/internal/zmtp"
)

func buildZMQCmd(conf *config.Config, d *svckit.Deps) (netsvc.Handler, error) {
	c := conf.Services.ZMQCmd
	cfg := zmqcmdConfig(c)
	srv, err := zmqcmd.New(cfg, d.Log)
	if err != nil {
		return nil, err
	}
	// The names zmqcmd's handler passes to Conn.Request.
	d.Commands = []string{"compute", "os", "invalid"}
	if d.Registry != nil {
		for _, c := range srv.Collectors() {
			if err := d.Registry.Register(c); err != nil {
				return nil, err
			}
		}
	}
	d.Log.Info("zmqcmd service ready", "allow", cfg.Allow, "command_timeout", cfg.CommandTimeout,
		"max_output", cfg.MaxOutput, "fail_on_exit_code", cfg.FailOnExitCode,
		"max_computations", srv.MaxComputations(), "compute_budget", cfg.Compute.Budget)
	if c.CurveListen == "" {
		if !c.NullEnabled {
			return nil, errors.New("null_enabled = false needs curve_listen (no port would be left)")
		}
		return srv, nil
	}
	if err := zmqcmdCurve(d, srv, c); err != nil {
		return nil, err
	}
	return srv, nil
}

// zmqcmdCurve adds the CURVE port (docs/zmqcmd.md "CURVE port") as a
// second listener named zmqcmd-curve.
func zmqcmdCurve(d *svckit.Deps, srv *zmqcmd.Server, c config.ZMQCmd) error {
	if _, _, err := net.SplitHostPort(c.CurveListen); err != nil {
		return fmt.Errorf("curve_listen: %w", err)
	}
	dir, err := d.Dir()
	if err != nil {
		return err
	}
	key, insecure, err := zmqcmd.LoadServerCert(dir)
	if err != nil {
		return fmt.Errorf("curve_listen is set but the server key cannot be read (run 'gatehouse keys zmqcmd init'): %w", err)
	}
	// Clients hold the server's public key: every daemon sharing the store
	// must serve the same one.
	if err := d.PinKey(context.Background(), "zmqcmd/curve_server", svckit.Fingerprint("gatehouse zmqcmd CURVE server key", key.Public[:])); err != nil {
		return err
	}
	if insecure {
		d.Log.Warn("zmqcmd CURVE secret key file is readable by others; chmod 600 it",
			"path", filepath.Join(dir, zmqcmd.ServerSecretFile))
	}
	auth := zmqcmd.NewAuthorizedKeys(filepath.Join(dir, zmqcmd.AuthorizedFile), d.Log.Warn)
	h, err := srv.Curve(key, auth.Contains)
	if err != nil {
		return err
	}
	d.AddListener("zmqcmd-curve", c.CurveListen, h)
	if !c.NullEnabled {
		d.SkipListen()
	}
	d.Log.Info("zmqcmd CURVE port", "curve_listen", c.CurveListen, "server_key", zmtp.KeyText(key.Public),
		"authorized_clients", auth.Len(), "null_port", c.NullEnabled, "os_requires_curve", c.OSRequiresCurve)
	return nil
}

// zmqcmdConfig maps the TOML section onto the service's Config.
func zmqcmdConfig(c config.ZMQCmd) zmqcmd.Config {
	cfg := zmqcmd.DefaultConfig()
	cfg.Allow = c.Allow
	cfg.CommandTimeout = c.CommandTimeout
	cfg.MaxOutput = c.MaxOutput
	cfg.MaxProcs = c.MaxProcs
	cfg.CommandPath = c.CommandPath
	cfg.FailOnExitCode = c.FailOnExitCode
	cfg.PingHosts = c.PingHosts
	cfg.Compute.Timeout = c.ComputeTimeout
	cfg.Compute.MaxExpression = c.MaxExpression
	cfg.Compute.Budget = c.ComputeBudget
	cfg.MaxComputations = c.MaxComputations
	cfg.ComputeWait = c.ComputeWait
	cfg.MaxFrame = c.MaxFrame
	cfg.OSRequiresCurve = c.OSRequiresCurve
	return cfg
}
