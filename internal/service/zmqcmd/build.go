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
	env := Env{Log: d.Log, Metrics: d.Registry}
	var auth *AuthorizedKeys
	if c.CurveListen != "" {
		var err error
		if auth, err = loadCurve(d, &env); err != nil {
			return nil, err
		}
	}
	srv, err := New(c, env)
	if err != nil {
		return nil, err
	}
	// The names zmqcmd's handler passes to Conn.Request.
	d.Commands = []string{"compute", "os", "invalid"}
	if missing := srv.MissingPrograms(); len(missing) > 0 {
		d.Log.Warn("allowlisted commands have no program in command_path; clients asking for them get \"Command not available\"",
			"commands", missing, "command_path", c.CommandPath)
	}
	d.Log.Info("zmqcmd service ready", "allow", c.Allow, "command_timeout", c.CommandTimeout,
		"max_output", c.MaxOutput, "fail_on_exit_code", c.FailOnExitCode,
		"max_computations", srv.MaxComputations(), "compute_budget", c.ComputeBudget)
	if c.CurveListen == "" {
		return srv, nil
	}
	d.AddListener("zmqcmd-curve", c.CurveListen, srv.CurveHandler())
	if !c.NullEnabled {
		d.SkipListen()
	}
	d.Log.Info("zmqcmd CURVE port", "curve_listen", c.CurveListen, "server_key", zmtp.KeyText(env.CurveKey.Public),
		"authorized_clients", auth.Len(), "null_port", c.NullEnabled, "os_requires_curve", c.OSRequiresCurve)
	return srv, nil
}

// loadCurve reads the CURVE port's key pair and authorized list
// (docs/zmqcmd.md "CURVE port") into env.
func loadCurve(d *svckit.Deps, env *Env) (*AuthorizedKeys, error) {
	dir, err := d.Dir()
	if err != nil {
		return nil, err
	}
	key, insecure, err := LoadServerCert(dir)
	if err != nil {
		return nil, fmt.Errorf("curve_listen is set but the server key cannot be read (run 'gatehouse keys zmqcmd init'): %w", err)
	}
	// Clients hold the server's public key: every daemon sharing the store
	// must serve the same one.
	if err := d.PinKey(context.Background(), "zmqcmd/curve_server", svckit.Fingerprint("gatehouse zmqcmd CURVE server key", key.Public[:])); err != nil {
		return nil, err
	}
	if insecure {
		d.Log.Warn("zmqcmd CURVE secret key file is readable by others; chmod 600 it",
			"path", filepath.Join(dir, ServerSecretFile))
	}
	auth := NewAuthorizedKeys(filepath.Join(dir, AuthorizedFile), d.Log.Warn)
	env.CurveKey, env.CurveAllowed = &key, auth.Contains
	return auth, nil
}
