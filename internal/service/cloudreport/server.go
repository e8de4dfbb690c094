package cloudreport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	lcrypto "gatehouse/internal/legacycrypto"
	"gatehouse/internal/netsvc"
	"gatehouse/internal/store"
)

// Registry is what the server needs from the metadata store; *store.DB
// implements it.
type Registry interface {
	CloudreportClient(ctx context.Context, id string) (store.CloudreportClient, error)
	CloudreportAddError(ctx context.Context, e store.CloudreportError) error
	CloudreportPruneErrors(ctx context.Context, keep int) (int64, error)
	CloudreportRegisterSeen(ctx context.Context, c store.CloudreportClient) (store.CloudreportClient, bool, error)
	CloudreportTouchClients(ctx context.Context, seen []store.CloudreportSeen) error
	// CloudreportRegistryGeneration counts administrative registry
	// changes: the registry cache's invalidation (regcache.go).
	CloudreportRegistryGeneration(ctx context.Context) (int64, error)
}

// Registration says which client ids INFO answers.
type Registration int

const (
	// Open (the default) answers every INIT'd client, like the seed, and
	// records an id it has not seen before on its first INFO.
	Open Registration = iota
	// Known answers only ids registered (and enabled) beforehand.
	Known
)

func (r Registration) String() string {
	if r == Known {
		return "known"
	}
	return "open"
}

// ParseRegistration reads the registration config value.
func ParseRegistration(s string) (Registration, error) {
	switch s {
	case "", "open":
		return Open, nil
	case "known":
		return Known, nil
	}
	return Open, fmt.Errorf("cloudreport: registration %q: want open or known", s)
}

var _ Registry = (*store.DB)(nil)

// Env is what a Server runs on that is not a knob of its Config.
type Env struct {
	// Registry is the client registry and report store (required).
	Registry Registry
	// Updates is where VERS and DWNL find the update files (nil: none).
	// The server closes it in Close.
	Updates UpdateSource
	// Log is for messages that belong to no connection (nil:
	// slog.Default()).
	Log *slog.Logger
	// Metrics, when set, registers the service's own series.
	Metrics prometheus.Registerer
	// Location is the zone of the dates sent (nil: time.Local).
	Location *time.Location
}

// Limits that are not configuration keys.
const (
	maxListed       = 256   // files VERS lists
	maxLimitedAddrs = 65536 // per-address buckets of the first-seen limit
	// maxSeenPending bounds the clients waiting for their last-seen write;
	// past it, updates of further clients wait for a later INFO.
	maxSeenPending = 65536
)

// withDefaults gives the knobs a zero value leaves unset their documented
// defaults, as the configuration always has (a 0 in the TOML means the
// default, not "nothing").
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Dialect == "" {
		c.Dialect = d.Dialect
	}
	if c.Registration == "" {
		c.Registration = d.Registration
	}
	if c.DelphiHash == "" {
		c.DelphiHash = d.DelphiHash
	}
	if c.ServerKey == "" {
		c.ServerKey = DefaultServerKey
	}
	if c.MaxLine <= 0 {
		c.MaxLine = DefaultMaxLine
	}
	if c.MaxInflate <= 0 {
		c.MaxInflate = DefaultMaxInflate
	}
	if c.MaxAuthFailures <= 0 {
		c.MaxAuthFailures = d.MaxAuthFailures
	}
	if c.MaxErrorReports <= 0 {
		c.MaxErrorReports = d.MaxErrorReports
	}
	if c.MaxStoredReports <= 0 {
		c.MaxStoredReports = d.MaxStoredReports
	}
	if c.MaxConcurrentDownloads <= 0 {
		c.MaxConcurrentDownloads = d.MaxConcurrentDownloads
	}
	if c.MaxDownload <= 0 {
		c.MaxDownload = d.MaxDownload
	}
	if c.UpdateVersion == "" {
		c.UpdateVersion = d.UpdateVersion
	}
	if c.UpdateBuild == 0 {
		c.UpdateBuild = d.UpdateBuild
	}
	if c.FirstSeenRate == 0 {
		c.FirstSeenRate = d.FirstSeenRate
	}
	if c.FirstSeenBurst <= 0 {
		c.FirstSeenBurst = d.FirstSeenBurst
	}
	if c.SeenFlushInterval <= 0 {
		c.SeenFlushInterval = d.SeenFlushInterval
	}
	if c.DownloadMinRate == 0 {
		c.DownloadMinRate = d.DownloadMinRate
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Server serves the protocol; it is a netsvc.Handler.
type Server struct {
	cfg Config // with the defaults of zero values filled in
	// What cfg's names parse to.
	dialect      Dialect
	registration Registration
	hash         lcrypto.Hash

	reg     Registry
	updates UpdateSource // nil when there are no updates
	log     *slog.Logger
	loc     *time.Location

	cache registryCache // INFO's registry reads

	stored atomic.Int64  // ERRL reports stored since start, paces pruning
	dlSem  chan struct{} // DWNL replies in flight

	limiter *netsvc.AddrLimiter // first-seen ids per address (open registration)
	seen    seenTracker         // last-seen times waiting to be written
	m       *metrics
	stop    chan struct{}
	flushed chan struct{}
	closed  sync.Once

	mu       sync.Mutex
	byInit   map[string]*session              // compat duplicate check, keyed by INIT ID text
	byClient map[string]map[*session]struct{} // live sessions by registry id (a client may have several)

	dlActive atomic.Int32 // DWNL replies being streamed (tests)
}

var _ netsvc.Handler = (*Server)(nil)

// New returns the server of cfg, answering INFO from env.Registry. Zero
// knobs mean their defaults (DefaultConfig); cfg.Now is the clock of every
// date sent or stored and of the registry cache.
func New(cfg Config, env Env) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !ValidServerKey(cfg.ServerKey) {
		return nil, fmt.Errorf("cloudreport: server key %q must be 1..16 characters of [0-9A-Za-z]", cfg.ServerKey)
	}
	if env.Registry == nil {
		return nil, errors.New("cloudreport: no registry")
	}
	// Validate has checked the names.
	dialect, _ := ParseDialect(cfg.Dialect)
	registration, _ := ParseRegistration(cfg.Registration)
	hash, _ := lcrypto.ParseHash(cfg.DelphiHash)
	s := &Server{cfg: cfg, dialect: dialect, registration: registration, hash: hash,
		reg: env.Registry, updates: env.Updates, log: env.Log, loc: env.Location,
		byInit: map[string]*session{}, byClient: map[string]map[*session]struct{}{},
		dlSem:   make(chan struct{}, cfg.MaxConcurrentDownloads),
		limiter: newAddrLimiter(cfg.FirstSeenRate, cfg.FirstSeenBurst, maxLimitedAddrs),
		seen:    seenTracker{max: maxSeenPending},
		m:       newMetrics(env.Metrics),
		stop:    make(chan struct{}), flushed: make(chan struct{})}
	s.cache.init()
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.loc == nil {
		s.loc = time.Local
	}
	go s.flushLoop()
	return s, nil
}

// ValidServerKey reports whether k can be announced as KEY.
func ValidServerKey(k string) bool {
	if k == "" || len(k) > 16 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// Close writes the pending last-seen times and releases the updates
// folder. Call it after the connections have drained.
func (s *Server) Close() error {
	s.closed.Do(func() { close(s.stop) })
	<-s.flushed
	if s.updates != nil {
		return s.updates.Close()
	}
	return nil
}
