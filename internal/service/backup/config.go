package backup

import (
	"fmt"
	"io"
	"time"

	"gatehouse/internal/svckit"
)

// Config is the backup service's configuration, the [services.backup]
// section of the daemon's config.
type Config struct {
	svckit.Common
	// MaxFileSize bounds one upload's ciphertext in bytes. The wire's u32
	// allows 4 GiB; the check runs before a byte of the file is read.
	MaxFileSize int64 `toml:"max_file_size"`
	// MinUploadRate is the slowest an upload may arrive, in bytes/s,
	// checked progressively once rate_grace has passed (bytes received ≥
	// rate × (elapsed − rate_grace) at every moment). The original
	// restarted a 3 s timer on every chunk, so a trickle could hold it
	// forever.
	MinUploadRate int64 `toml:"min_upload_rate"`
	// EncryptAtRest stores the ciphertext as received instead of the
	// plaintext (the original's --encrypt mode). The AES key needed to read
	// it is kept, sealed, with the file's row.
	EncryptAtRest bool `toml:"encrypt_at_rest"`
	// AllowKeyReplace lets a 1026 for a client that already has a public key
	// install a different one (and rotate its AES key), as the original did
	// for anyone who knew the client id. Off by default; re-sending the same
	// key is always accepted.
	AllowKeyReplace bool `toml:"allow_key_replace"`
	// PortInfo reads the port from port.info (<data>/port.info, else
	// ./port.info) when listen is not set, like the original server.
	PortInfo bool `toml:"port_info"`
	// PaddingFailureLimit is how many uploads with bad PKCS#7 padding one
	// client may send per hour before its uploads are refused for the rest
	// of the hour: a distinguishable padding error is a decryption oracle.
	PaddingFailureLimit int `toml:"padding_failure_limit"`
	// RegisterRate is how many 1025 registrations per second one client
	// address earns, up to RegisterBurst at once (0: no limit). A refused
	// registration is closed without an answer and counted in
	// gatehouse_rate_limited_total{what="register"}.
	RegisterRate  float64 `toml:"register_rate"`
	RegisterBurst int     `toml:"register_burst"`
	// TestCRCOffByOne reproduces the original's --debug fault: every 2103
	// carries CRC+1, so every client upload ends in 1031. Fault injection
	// for client tests only; never enable it in production.
	TestCRCOffByOne bool `toml:"test_crc_off_by_one"`
	// KeepVersions is how many verified versions of each file the hourly
	// retention sweep keeps at least (-1: no count limit). Every verified
	// upload is a new version; no client request removes one.
	KeepVersions int `toml:"keep_versions"`
	// KeepDays also keeps every version verified within this many days,
	// beyond KeepVersions (0: no age rule). A version goes only when both
	// rules let it go; a file's newest version always stays.
	KeepDays int `toml:"keep_days"`

	// Rand feeds every random byte the server draws: client ids, AES keys,
	// the nonces sealing them, their RSA wrapping and blob names (nil:
	// crypto/rand); Now is every time it reads: versions, retention,
	// lockouts, last-seen (nil: time.Now). Not in TOML.
	Rand io.Reader        `toml:"-"`
	Now  func() time.Time `toml:"-"`
}

// DefaultConfig is the configuration used when nothing is set.
func DefaultConfig() Config {
	b := Config{
		Common:              svckit.DefaultCommon(),
		MaxFileSize:         2 << 30,
		MinUploadRate:       4 << 10,
		PortInfo:            true,
		PaddingFailureLimit: 5,
		RegisterRate:        DefaultRegisterRate,
		RegisterBurst:       DefaultRegisterBurst,
		KeepVersions:        10,
		KeepDays:            30,
	}
	// One request per connection: the whole exchange apart from a file's
	// body must fit in the handshake deadline; reads inside a body wait at
	// most this long each.
	b.IdleTimeout = 30 * time.Second
	return b
}

// Validate checks the backup section's own keys.
func (b Config) Validate() error {
	if b.RegisterRate < 0 || b.RegisterBurst < 1 {
		return fmt.Errorf("services.backup.register_rate/register_burst: the rate must be 0 (no limit) or more, the burst at least 1")
	}
	return nil
}
