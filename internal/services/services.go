// Package services is the one list of the services built into Gatehouse.
// The daemon starts what it lists, the CLI and bench take their service
// names from it, and a test checks it against the config's sections.
//
// The import graph: services imports config, svckit and each service's
// package; the daemon imports services. A service package imports neither
// the daemon nor this package (svckit holds what Build gets), so no cycle.
package services

import (
	"errors"
	"net"
	"strconv"

	"gatehouse/internal/config"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/service/backup"
	"gatehouse/internal/service/clock"
	"gatehouse/internal/service/cloudreport"
	"gatehouse/internal/service/e2eeftp"
	"gatehouse/internal/service/zmqcmd"
	"gatehouse/internal/svckit"
)

// Service is one entry of the list.
type Service struct {
	// Name is the service's name: its [services.<name>] section, its
	// folder in the data directory and blob store, its metrics label.
	Name string
	// DefaultPort is the historical port, bound on the config's host when
	// the section's listen is empty.
	DefaultPort int
	// Common returns the service's section's common keys in cfg.
	Common func(cfg *config.Config) *config.Common
	// Validate checks the service's own keys in cfg when the service is
	// enabled (nil: nothing to check).
	Validate func(cfg *config.Config) error
	// Build makes the service's handler from its section of cfg and the
	// daemon's shared parts. The handler may also implement svckit.Runner
	// (background work) and io.Closer (released after the drain).
	Build func(cfg *config.Config, d *svckit.Deps) (netsvc.Handler, error)
	// NoTLS, when set, says why the service has no tls_listen (the
	// tls_* keys are then refused).
	NoTLS string
}

// All lists the built-in services in the daemon's canonical order.
var All = []Service{
	{Name: "cloudreport", DefaultPort: 8080,
		Common:   func(c *config.Config) *config.Common { return &c.Services.Cloudreport.Common },
		Validate: func(c *config.Config) error { return c.Services.Cloudreport.Validate() },
		Build: func(c *config.Config, d *svckit.Deps) (netsvc.Handler, error) {
			return cloudreport.Build(c.Services.Cloudreport, d)
		}},
	{Name: "backup", DefaultPort: backup.DefaultPort,
		Common:   func(c *config.Config) *config.Common { return &c.Services.Backup.Common },
		Validate: func(c *config.Config) error { return c.Services.Backup.Validate() },
		Build: func(c *config.Config, d *svckit.Deps) (netsvc.Handler, error) {
			return backup.Build(c.Services.Backup, d)
		}},
	{Name: "clock", DefaultPort: 7777,
		Common:   func(c *config.Config) *config.Common { return &c.Services.Clock.Common },
		Validate: func(c *config.Config) error { return c.Services.Clock.Validate() },
		Build: func(c *config.Config, d *svckit.Deps) (netsvc.Handler, error) {
			return clock.Build(c.Services.Clock, d)
		}},
	{Name: "e2eeftp", DefaultPort: 5001,
		Common:   func(c *config.Config) *config.Common { return &c.Services.E2EEFTP.Common },
		Validate: func(c *config.Config) error { return c.Services.E2EEFTP.Validate() },
		Build: func(c *config.Config, d *svckit.Deps) (netsvc.Handler, error) {
			return e2eeftp.Build(c.Services.E2EEFTP, d)
		}},
	{Name: "zmqcmd", DefaultPort: 5555,
		NoTLS:    "zmqcmd has no TLS listener; it secures its wire with CURVE instead",
		Common:   func(c *config.Config) *config.Common { return &c.Services.ZMQCmd.Common },
		Validate: func(c *config.Config) error { return c.Services.ZMQCmd.Validate() },
		Build: func(c *config.Config, d *svckit.Deps) (netsvc.Handler, error) {
			return zmqcmd.Build(c.Services.ZMQCmd, d)
		}},
}

// Names lists the services' names in canonical order.
func Names() []string {
	out := make([]string, len(All))
	for i, s := range All {
		out[i] = s.Name
	}
	return out
}

// Lookup finds a service of the list by name.
func Lookup(name string) (Service, bool) {
	for _, s := range All {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Common returns the common keys of the named service's section in cfg.
func Common(cfg *config.Config, name string) (*config.Common, bool) {
	s, ok := Lookup(name)
	if !ok {
		return nil, false
	}
	return s.Common(cfg), true
}

// ListenAddr is the address the service binds: its listen key, else the
// config's host at its default port.
func (s Service) ListenAddr(cfg *config.Config) string {
	if sc := s.Common(cfg); sc.Listen != "" {
		return sc.Listen
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(s.DefaultPort))
}

// ListenAddr is the address the named service binds ("" for no such service).
func ListenAddr(cfg *config.Config, name string) string {
	s, ok := Lookup(name)
	if !ok {
		return ""
	}
	return s.ListenAddr(cfg)
}

// Validate checks cfg: the daemon-wide keys, every listed service's common
// keys and its own.
func Validate(cfg *config.Config) error { return ValidateList(cfg, All) }

// ValidateList is Validate for another list (tests add services to All).
func ValidateList(cfg *config.Config, list []Service) error {
	errs := []error{cfg.Validate()}
	for _, s := range list {
		errs = append(errs, s.Common(cfg).Validate(s.Name, s.ListenAddr(cfg), s.NoTLS)...)
		if s.Validate != nil && s.Common(cfg).Enabled {
			errs = append(errs, s.Validate(cfg))
		}
	}
	return errors.Join(errs...)
}
