package clock

import (
	"io"
	"time"

	"gatehouse/internal/svckit"
)

// Config is the clock service's configuration, the [services.clock]
// section of the daemon's config.
type Config struct {
	svckit.Common
	// TempSource chooses where TEMP readings come from: "random" (the
	// original's uniform -50..50, the default), "file" (a sysfs thermal zone
	// or any file holding one number) or "fixed" (TempFixed).
	TempSource string `toml:"temp_source"`
	// TempFile is read on every TEMP when TempSource is "file".
	TempFile string `toml:"temp_file"`
	// TempFileScale multiplies the number in TempFile to get degrees
	// Celsius; 0.001 suits Linux thermal zones, which report millidegrees.
	TempFileScale float64 `toml:"temp_file_scale"`
	// TempFixed is the reading when TempSource is "fixed".
	TempFixed int `toml:"temp_fixed"`
	// RefuseWeakClientKeys closes, without a reply, a connection whose
	// client public key forces Caesar shift 0 or 1 (0, 1 or 256 mod 257).
	// Off by default: the original served such sessions, and its client
	// picks such a key itself in about 3 % of runs (it crashes if refused).
	RefuseWeakClientKeys bool `toml:"refuse_weak_client_keys"`
	// AllowWeakClientKeys is the deprecated opposite switch, from when
	// refusing was the default. It is still accepted so old config files
	// load; true is what the default now does (the daemon logs a warning),
	// and it may not be combined with RefuseWeakClientKeys.
	AllowWeakClientKeys bool `toml:"allow_weak_client_keys,omitempty"`

	// Rand is the source of DH exponents (nil: crypto/rand); Now the clock
	// TIME and DATE read (nil: time.Now, local zone, as the original). Not
	// in TOML.
	Rand io.Reader        `toml:"-"`
	Now  func() time.Time `toml:"-"`
}

// DefaultIdleTimeout is the clock service's default idle_timeout.
const DefaultIdleTimeout = 24 * time.Hour

// DefaultConfig is the configuration used when nothing is set.
func DefaultConfig() Config {
	c := Config{
		Common:        svckit.DefaultCommon(),
		TempSource:    "random",
		TempFile:      "/sys/class/thermal/thermal_zone0/temp",
		TempFileScale: 0.001,
		TempFixed:     20,
	}
	// A person may leave the menu client at its prompt for an hour or more
	// and still expects the next answer (the original had no limit at all);
	// after a server close the original client prints an empty response and
	// fails. Dead peers are reaped by TCP keepalive (netsvc turns it on for
	// every accepted connection), so the idle bound only has to catch live
	// but silent clients: a working day.
	c.IdleTimeout = DefaultIdleTimeout
	// Idle sessions may last that long, so the common 1024 would let 1024
	// idle connections lock everyone else out: the original's 32-thread
	// failure, only larger. An idle session costs about 8 KiB (goroutine
	// stack and buffers), so 16384 of them stay near 130 MiB.
	c.MaxConns = 16384
	return c
}
