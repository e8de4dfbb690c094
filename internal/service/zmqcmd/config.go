package zmqcmd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
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

	// Rand is the source of the CURVE handshakes' ephemeral keys, nonces
	// and cookie keys (nil: crypto/rand); Now the clock compute_timeout is
	// checked against and logged durations are measured with (nil:
	// time.Now). Not in TOML. The waits (command_timeout, compute_wait)
	// are runtime timers, which a Now function cannot drive.
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

// Validate checks what decoding cannot: the ports left open, the
// allowlist (each command needs an argument validator) and the bounds.
func (c Config) Validate() error {
	for _, name := range c.Allow {
		if _, ok := commandSpecs[name]; !ok {
			return fmt.Errorf("zmqcmd: allow: command %q has no argument validator (supported: %s)",
				name, strings.Join(SupportedCommands(), ", "))
		}
	}
	switch {
	case c.CommandTimeout <= 0:
		return errors.New("zmqcmd: command_timeout must be positive")
	case c.MaxOutput <= 0:
		return errors.New("zmqcmd: max_output must be positive")
	case c.MaxProcs <= 0:
		return errors.New("zmqcmd: max_procs must be positive")
	case c.MaxFrame < 1024:
		return errors.New("zmqcmd: max_frame must be at least 1024")
	case c.MaxExpression <= 0:
		return errors.New("zmqcmd: max_expression must be positive")
	case c.ComputeTimeout <= 0:
		// The evaluator treats 0 as "no deadline": never let configuration do that.
		return errors.New("zmqcmd: compute_timeout must be positive")
	case c.ComputeBudget <= 0:
		// Likewise 0 would turn the CPU budget off.
		return errors.New("zmqcmd: compute_budget must be positive")
	case c.MaxComputations < 0:
		return errors.New("zmqcmd: max_computations must not be negative (0: half the CPUs)")
	case c.ComputeWait <= 0:
		return errors.New("zmqcmd: compute_wait must be positive")
	}
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

// computeLimits are the evaluator's limits: the section's compute keys on
// top of pyexpr's fixed ones (tree size, depth, integer size, items).
func (c Config) computeLimits() Limits {
	lim := DefaultLimits
	lim.MaxExpression = c.MaxExpression
	lim.Timeout = c.ComputeTimeout
	lim.Budget = c.ComputeBudget
	lim.Now = c.Now
	return lim
}
