package zmqcmd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"gatehouse/internal/svckit"
)

// Config is the zmqcmd service's configuration, the [services.zmqcmd]
// section of the daemon's config.
type Config struct {
	svckit.Common
	// Allow lists the os commands clients may run; each needs a built-in
	// argument validator (ping, echo, date, uptime, uname, hostname).
	Allow []string `toml:"allow"`
	// CommandTimeout bounds one os command; its process group is killed.
	CommandTimeout time.Duration `toml:"command_timeout"`
	// MaxOutput is the stdout kept per command, in bytes (then truncated).
	MaxOutput int `toml:"max_output"`
	// MaxProcs is how many os commands run at once across all clients.
	MaxProcs int `toml:"max_procs"`
	// CommandPath are the only directories searched for command binaries.
	CommandPath []string `toml:"command_path"`
	// FailOnExitCode answers a non-zero exit with an error reply; the
	// original always answered "success" (false keeps that).
	FailOnExitCode bool `toml:"fail_on_exit_code"`
	// PingHosts, when not empty, are the only hosts ping may target.
	PingHosts []string `toml:"ping_hosts"`
	// ComputeTimeout bounds one compute evaluation.
	ComputeTimeout time.Duration `toml:"compute_timeout"`
	// MaxExpression is the longest compute expression, in bytes.
	MaxExpression int `toml:"max_expression"`
	// ComputeBudget is the CPU budget of one evaluation in cost units
	// (about one 64-bit multiply-add each; docs/zmqcmd.md).
	ComputeBudget int64 `toml:"compute_budget"`
	// MaxComputations is how many evaluations run at once, daemon-wide;
	// 0 means half the CPUs (at least 1).
	MaxComputations int `toml:"max_computations"`
	// ComputeWait is how long an evaluation waits for a free slot before
	// the busy reply.
	ComputeWait time.Duration `toml:"compute_wait"`
	// MaxFrame is the largest ZMTP frame accepted, in bytes; a larger one
	// closes the connection before anything is allocated.
	MaxFrame int `toml:"max_frame"`
	// CurveListen, when set ("host:port"), opens a second listener that
	// speaks only the ZMTP CURVE mechanism, with the key pair and the
	// authorized client keys in <data>/zmqcmd/ (gatehouse keys zmqcmd).
	CurveListen string `toml:"curve_listen"`
	// NullEnabled keeps the legacy NULL listener (listen) open; false
	// serves only the CURVE port and needs curve_listen.
	NullEnabled bool `toml:"null_enabled"`
	// OSRequiresCurve refuses os commands on the NULL port (an error
	// reply); compute stays open there.
	OSRequiresCurve bool `toml:"os_requires_curve"`

	// Rand is unused (the service draws no random numbers of its own; CURVE
	// keys come from crypto/rand in zmtp) and Now is unused too. Not in
	// TOML; there for the shape every service's Config has.
	Rand io.Reader        `toml:"-"`
	Now  func() time.Time `toml:"-"`
}

// DefaultConfig is the configuration used when nothing is set.
func DefaultConfig() Config {
	return Config{
		Common:         svckit.DefaultCommon(),
		Allow:          []string{"ping", "echo", "date", "uptime"},
		CommandTimeout: 10 * time.Second,
		MaxOutput:      64 << 10,
		MaxProcs:       8,
		CommandPath:    []string{"/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"},
		ComputeTimeout: time.Second,
		MaxExpression:  1024,
		ComputeBudget:  100_000_000,
		ComputeWait:    10 * time.Second,
		MaxFrame:       256 << 10,
		NullEnabled:    true,
	}
}

// Validate checks what decoding cannot: the ports left open.
func (c Config) Validate() error {
	if c.CurveListen == "" {
		if !c.NullEnabled {
			return errors.New("zmqcmd: null_enabled = false needs curve_listen (no port would be left)")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(c.CurveListen); err != nil {
		return fmt.Errorf("zmqcmd: curve_listen: %w", err)
	}
	return nil
}

// Options maps the section onto the server's Options.
func (c Config) Options() Options {
	cfg := DefaultOptions()
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
