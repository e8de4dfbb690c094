package e2eeftp

import (
	"fmt"
	"io"
	"time"

	"gatehouse/internal/svckit"
)

// Config is the e2eeftp service's configuration, the [services.e2eeftp]
// section of the daemon's config. Its keys (server_id.key,
// known_server.pub, authorized_clients.pub) live in <data>/e2eeftp/;
// files live in the blob store under e2eeftp/.
type Config struct {
	svckit.Common
	// MaxFileSize bounds one SEND's plaintext, in bytes (0: the default,
	// 4 GiB). A SEND whose declared body is larger is refused unread.
	MaxFileSize int64 `toml:"max_file_size"`
	// PerClientFolders gives every client identity its own folder; false is
	// the original's single shared folder.
	PerClientFolders bool `toml:"per_client_folders"`
	// AllowDelete keeps the DELETE command (false: answered "400|Invalid
	// Command" and left out of HLIST).
	AllowDelete bool `toml:"allow_delete"`
	// ReplayCacheSize is how many client hellos the in-memory front of the
	// replay defence remembers (0 turns the whole defence off).
	ReplayCacheSize int `toml:"replay_cache_size"`
	// ReplayWindow is how long accepted client ephemeral keys stay in the
	// shared store's replay log (at least 1h).
	ReplayWindow time.Duration `toml:"replay_window"`
	// ReplayPruneInterval is how often expired keys are deleted (0: never).
	ReplayPruneInterval time.Duration `toml:"replay_prune_interval"`

	// Rand feeds the ephemeral keys and IVs (nil: crypto/rand); Now is the
	// server's clock: the replay log's times and the LIST cache's expiry
	// (nil: time.Now). Not in TOML.
	Rand io.Reader        `toml:"-"`
	Now  func() time.Time `toml:"-"`
}

// DefaultIdleTimeout is the service's default idle_timeout.
//
// The original client reads and encrypts the whole file after the
// handshake and before it sends "SEND|name|size", and the server waits for
// that line under idle_timeout. Thirty minutes cover a file of
// max_file_size (4 GiB) read and encrypted at 2.4 MB/s or more (an old
// machine with a slow disk); only clients whose hello verified get that
// long (handshake_timeout still bounds everyone else).
const DefaultIdleTimeout = 30 * time.Minute

// DefaultConfig is the configuration used when nothing is set.
func DefaultConfig() Config {
	c := Config{
		Common:              svckit.DefaultCommon(),
		MaxFileSize:         DefaultMaxFileSize,
		AllowDelete:         true,
		ReplayCacheSize:     DefaultReplayCacheSize,
		ReplayWindow:        DefaultReplayWindow,
		ReplayPruneInterval: 10 * time.Minute,
	}
	c.IdleTimeout = DefaultIdleTimeout
	return c
}

// MinReplayWindow is the shortest replay_window: shorter windows would let
// clock skew between daemons sharing the store, or a slow prune, matter
// (see replay.go for what it buys).
const MinReplayWindow = time.Hour

// Validate checks what decoding cannot.
func (c Config) Validate() error {
	if c.ReplayWindow < MinReplayWindow {
		return fmt.Errorf("e2eeftp: replay_window %v is below the 1h minimum", c.ReplayWindow)
	}
	return nil
}
