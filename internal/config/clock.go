package config

import "time"

// Clock configures the clock service ([services.clock]).
type Clock struct {
	Common
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
	// AllowWeakClientKeys lets a client public key that forces Caesar shift
	// 0 or 1 (0, 1 or 256 mod 257) through, as the original did. Off by
	// default: such sessions would travel in (near) plaintext.
	AllowWeakClientKeys bool `toml:"allow_weak_client_keys"`
}

func defaultClock() Clock {
	c := Clock{
		Common:        common(7777),
		TempSource:    "random",
		TempFile:      "/sys/class/thermal/thermal_zone0/temp",
		TempFileScale: 0.001,
		TempFixed:     20,
	}
	// A person may leave the menu client idle for a while; the original had
	// no limit at all, so stay generous.
	c.IdleTimeout = D(10 * time.Minute)
	// Idle sessions may last that long, so the common 1024 would let 1024
	// idle connections lock everyone else out for 10 minutes: the original's
	// 32-thread failure, only larger. An idle session costs about 8 KiB
	// (goroutine stack and buffers), so 16384 of them stay near 130 MiB.
	c.MaxConns = 16384
	return c
}
