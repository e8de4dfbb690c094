package cloudreport

import (
	"fmt"
	"io"
	"time"

	lcrypto "gatehouse/internal/legacycrypto"
	"gatehouse/internal/svckit"
)

// Config is the cloudreport service's configuration, the
// [services.cloudreport] section of the daemon's config.
type Config struct {
	svckit.Common
	// Dialect is "seed" (the Python port's wire, the contract) or "delphi"
	// (experimental: Indy replies, HST host part, DCPcrypt CFB-8).
	Dialect string `toml:"dialect"`
	// ServerKey is the KEY announced in INIT.
	ServerKey string `toml:"server_key"`
	// DelphiHash is the digest the delphi dialect keys Rijndael with: sha1 or md5.
	DelphiHash string `toml:"delphi_hash"`
	// DelphiZlib compresses delphi payloads before encryption.
	DelphiZlib bool `toml:"delphi_zlib"`
	// MaxLine bounds a request line (bytes, without LF).
	MaxLine int `toml:"max_line"`
	// MaxInflate bounds what one DATA payload may inflate to.
	MaxInflate int `toml:"max_inflate"`
	// MaxAuthFailures closes a connection after this many failed decrypts
	// or unknown/disabled clients.
	MaxAuthFailures int `toml:"max_auth_failures"`
	// MaxErrorReports is how many ERRL reports one connection may store.
	MaxErrorReports int `toml:"max_error_reports"`
	// MaxStoredReports caps the stored ERRL reports; older ones are pruned.
	MaxStoredReports int `toml:"max_stored_reports"`
	// MaxDownload is the largest update file DWNL serves.
	MaxDownload int64 `toml:"max_download"`
	// MaxConcurrentDownloads bounds the DWNL replies in memory at once.
	MaxConcurrentDownloads int `toml:"max_concurrent_downloads"`
	// UpdateVersion and UpdateBuild are the VER and BUILD VERS reports.
	UpdateVersion string `toml:"update_version"`
	UpdateBuild   int    `toml:"update_build"`
	// CompatInitDuplicate restores the seed's "Client ID n already
	// connected" rejection keyed by INIT ID (off: it rejects at random).
	CompatInitDuplicate bool `toml:"compat_init_duplicate"`
	// Registration is "open" (answer every client, record unknown ids on
	// their first INFO) or "known" (only registered ids).
	Registration string `toml:"registration"`
	// FirstSeenRate and FirstSeenBurst bound, per client address, the ids
	// open registration records (per second; burst). A negative rate
	// disables the limit.
	FirstSeenRate  float64 `toml:"first_seen_rate"`
	FirstSeenBurst int     `toml:"first_seen_burst"`
	// SeenFlushInterval is how often last-seen times are written.
	SeenFlushInterval time.Duration `toml:"seen_flush_interval"`
	// DownloadMinRate is the bytes/s a DWNL reader must keep, progressively,
	// after rate_grace (negative: none).
	DownloadMinRate int64 `toml:"download_min_rate"`
	// Updates is where VERS and DWNL find the update files: "folder"
	// (<data>/cloudreport/updates of this daemon), "blob" (the blob store,
	// shared by every daemon on it) or "auto" (blob when blob.url is set,
	// folder otherwise).
	Updates string `toml:"updates"`

	// Rand is unused (the protocol draws no random numbers); Now is the
	// clock of the dates sent (nil: time.Now). Not in TOML.
	Rand io.Reader        `toml:"-"`
	Now  func() time.Time `toml:"-"`
}

// DefaultConfig is the configuration used when nothing is set.
func DefaultConfig() Config {
	c := svckit.DefaultCommon()
	// The seed dropped a connection after 300 s without a request; clients
	// that ping less often than the common 2 min must keep working.
	c.IdleTimeout = 5 * time.Minute
	return Config{
		Common:                 c,
		Dialect:                "seed",
		ServerKey:              "D5F2",
		DelphiHash:             "sha1",
		DelphiZlib:             true,
		MaxLine:                64 << 10,
		MaxInflate:             1 << 20,
		MaxAuthFailures:        3,
		MaxErrorReports:        32,
		MaxStoredReports:       100000,
		MaxDownload:            16 << 20,
		MaxConcurrentDownloads: 4,
		UpdateVersion:          "1.0.0",
		UpdateBuild:            100,
		Registration:           "open",
		Updates:                "auto",
		FirstSeenRate:          10,
		FirstSeenBurst:         1000,
		SeenFlushInterval:      time.Minute,
		DownloadMinRate:        4096,
	}
}

// Validate checks the names decoding cannot.
func (c Config) Validate() error {
	if _, err := ParseDialect(c.Dialect); err != nil {
		return err
	}
	if _, err := ParseRegistration(c.Registration); err != nil {
		return err
	}
	if _, err := lcrypto.ParseHash(c.DelphiHash); err != nil {
		return err
	}
	switch c.Updates {
	case "auto", "folder", "blob":
	default:
		return fmt.Errorf("cloudreport: updates = %q: want auto, folder or blob", c.Updates)
	}
	return nil
}
