package svckit

import (
	"fmt"
	"net"
	"sort"
	"time"
)

// Common holds what every service has: whether it runs, where, and its
// limits. It is embedded in each service's Config, flattened into its
// [services.<name>] section.
type Common struct {
	Enabled          bool          `toml:"enabled"`
	Listen           string        `toml:"listen"` // host:port; empty means <host>:<default port>
	MaxConns         int           `toml:"max_conns"`
	MaxConnsPerIP    int           `toml:"max_conns_per_ip"` // 0: no per-address limit
	IdleTimeout      time.Duration `toml:"idle_timeout"`
	WriteTimeout     time.Duration `toml:"write_timeout"`
	HandshakeTimeout time.Duration `toml:"handshake_timeout"`
	// MessageTimeout bounds one request's arrival once its first byte came
	// (services with multi-read requests use it).
	MessageTimeout time.Duration `toml:"message_timeout"`
	// MinRate is the slowest a file body (upload or download) may move, in
	// bytes/s, once RateGrace has passed; checked progressively as data
	// moves. 0 turns the rule off.
	MinRate   int64         `toml:"min_rate"`
	RateGrace time.Duration `toml:"rate_grace"`

	// TLSListen, when set (host:port), is a second listener serving the
	// same protocol inside TLS 1.3; the legacy listener is unchanged.
	// zmqcmd has no TLS listener (it offers CURVE instead), so the key
	// must stay empty there.
	TLSListen string `toml:"tls_listen"`
	// TLSCert and TLSKey are the PEM certificate (chain) and key files,
	// relative to the data directory or absolute. Both empty: a
	// self-signed certificate generated into <data>/tls/.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// TLSClientCA, when set, is a PEM file of CA certificates: every TLS
	// client must present a certificate they issued (mutual TLS).
	TLSClientCA string `toml:"tls_client_ca"`
}

// DefaultCommon is the common keys' defaults (a service changes what it
// needs in its DefaultConfig).
func DefaultCommon() Common {
	return Common{
		Enabled:          true,
		Listen:           "",
		MaxConns:         1024,
		IdleTimeout:      2 * time.Minute,
		WriteTimeout:     30 * time.Second,
		HandshakeTimeout: 10 * time.Second,
		MessageTimeout:   30 * time.Second,
		MinRate:          1024,
		RateGrace:        30 * time.Second,
	}
}

// Validate checks the common keys of the section of service name, which
// binds listen; noTLS, when set, says why the service has no TLS listener.
func (sc *Common) Validate(name, listen, noTLS string) []error {
	var errs []error
	if _, _, err := net.SplitHostPort(listen); sc.Enabled && err != nil {
		errs = append(errs, fmt.Errorf("services.%s.listen: %w", name, err))
	}
	if sc.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("services.%s.max_conns: must be 0 (no limit) or more", name))
	}
	if sc.MaxConnsPerIP < 0 {
		errs = append(errs, fmt.Errorf("services.%s.max_conns_per_ip: must be 0 (no limit) or more", name))
	}
	if sc.MinRate < 0 {
		errs = append(errs, fmt.Errorf("services.%s.min_rate: must be 0 (no rule) or more bytes/s", name))
	}
	errs = append(errs, sc.validateTLS(name, noTLS)...)
	if sc.RateGrace < time.Second {
		// Below that a transfer is behind before its first read
		// returns (with 0, every file body would be cut at once).
		errs = append(errs, fmt.Errorf("services.%s.rate_grace: must be at least 1s", name))
	}
	return errs
}

func (sc *Common) validateTLS(name, why string) []error {
	var errs []error
	if why != "" {
		for k, v := range map[string]string{"tls_listen": sc.TLSListen, "tls_cert": sc.TLSCert, "tls_key": sc.TLSKey, "tls_client_ca": sc.TLSClientCA} {
			if v != "" {
				errs = append(errs, fmt.Errorf("services.%s.%s: %s", name, k, why))
			}
		}
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return errs
	}
	if sc.TLSListen != "" {
		if _, _, err := net.SplitHostPort(sc.TLSListen); err != nil {
			errs = append(errs, fmt.Errorf("services.%s.tls_listen: %w", name, err))
		}
	}
	if (sc.TLSCert == "") != (sc.TLSKey == "") {
		errs = append(errs, fmt.Errorf("services.%s.tls_cert/tls_key: give both (or neither, for the self-signed certificate)", name))
	}
	return errs
}
