package zmqcmd

import (
	"context"
	"fmt"
	"path/filepath"

	"gatehouse/internal/netsvc"
	"gatehouse/internal/svckit"
	"gatehouse/internal/zmtp"
)

// Build is the daemon's entry (internal/services): the server for the
// [services.zmqcmd] section c, with its CURVE port when curve_listen is set.
func Build(c Config, d *svckit.Deps) (netsvc.Handler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	cfg := c.Options()
	srv, err := New(cfg, d.Log)
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
	if missing := srv.MissingPrograms(); len(missing) > 0 {
		d.Log.Warn("allowlisted commands have no program in command_path; clients asking for them get \"Command not available\"",
			"commands", missing, "command_path", cfg.CommandPath)
	}
	d.Log.Info("zmqcmd service ready", "allow", cfg.Allow, "command_timeout", cfg.CommandTimeout,
		"max_output", cfg.MaxOutput, "fail_on_exit_code", cfg.FailOnExitCode,
		"max_computations", srv.MaxComputations(), "compute_budget", cfg.Compute.Budget)
	if c.CurveListen == "" {
		return srv, nil
	}
	if err := addCurve(d, srv, c); err != nil {
		return nil, err
	}
	return srv, nil
}

// addCurve adds the CURVE port (docs/zmqcmd.md "CURVE port") as a
// second listener named zmqcmd-curve.
func addCurve(d *svckit.Deps, srv *Server, c Config) error {
	dir, err := d.Dir()
	if err != nil {
		return err
	}
	key, insecure, err := LoadServerCert(dir)
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
			"path", filepath.Join(dir, ServerSecretFile))
	}
	auth := NewAuthorizedKeys(filepath.Join(dir, AuthorizedFile), d.Log.Warn)
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
