package cloudreport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gatehouse/internal/store"
)

// The registry cache (docs/cloudreport.md, "Registry cache") answers INFO's
// lookup from memory: what the registry says of an id (its row, or that it
// has none) is kept until the registry changes. Administrative changes
// (gatehouse admin cloudreport add/enable/disable/expire, from any process)
// bump the registry generation in the store; the first lookup at least
// registryCheckInterval (by cfg.Now) after the last check reads it, one
// small read, and a new value drops the whole cache. So a change reaches
// every daemon on the store within registryCheckInterval plus one store
// read. Reload drops the cache at once (the daemon's SIGHUP).
const (
	registryCheckInterval = time.Second
	// maxCachedClients bounds the registered ids held (about 150 bytes
	// each); past it an arbitrary entry makes room.
	maxCachedClients = 65536
	// maxAbsentIDs bounds the ids held as not registered: any client can
	// send any number of them.
	maxAbsentIDs = 8192
)

type registryCache struct {
	mu       sync.Mutex
	disabled bool // every lookup reads the store (benchmarks)
	found    map[string]cachedClient
	absent   map[string]struct{}
	// epoch is bumped by every drop: an entry read from the store under
	// an older epoch is not kept (it may predate the change).
	epoch    uint64
	gen      int64     // registry generation the entries belong to (-1: unknown)
	checked  time.Time // when gen was last read; zero: read on the next lookup
	checking bool      // a lookup is reading gen now
}

// cachedClient is what INFO's answer needs of a registry row.
type cachedClient struct {
	enabled          bool
	expires, created time.Time
}

func (c *registryCache) init() {
	c.gen = -1
	c.found = map[string]cachedClient{}
	c.absent = map[string]struct{}{}
}

// dropLocked forgets every entry.
func (c *registryCache) dropLocked() {
	clear(c.found)
	clear(c.absent)
	c.epoch++
}

// begin returns the epoch to pass to fill for a store read starting now.
func (c *registryCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// fill keeps what a store read begun at epoch said of id: its row, or
// (err is store.ErrNotFound) its absence. Other errors keep nothing.
func (c *registryCache) fill(epoch uint64, id string, cl store.CloudreportClient, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.disabled || c.epoch != epoch {
		return
	}
	switch {
	case err == nil:
		delete(c.absent, id)
		if _, ok := c.found[id]; !ok && len(c.found) >= maxCachedClients {
			evictOne(c.found)
		}
		c.found[id] = cachedClient{enabled: cl.Enabled, expires: cl.Expires, created: cl.Created}
	case isNotFound(err):
		delete(c.found, id)
		if _, ok := c.absent[id]; !ok && len(c.absent) >= maxAbsentIDs {
			evictOne(c.absent)
		}
		c.absent[id] = struct{}{}
	default:
		delete(c.found, id)
		delete(c.absent, id)
	}
}

// evictOne deletes an arbitrary entry of m (Go's map order is randomized).
func evictOne[V any](m map[string]V) {
	for k := range m {
		delete(m, k)
		return
	}
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, store.ErrNotFound) }

// getLocked is the cached answer for id, if any; c.mu is held.
func (c *registryCache) getLocked(id string) (store.CloudreportClient, error, bool) {
	if e, ok := c.found[id]; ok {
		return store.CloudreportClient{ID: id, Enabled: e.enabled, Expires: e.expires, Created: e.created}, nil, true
	}
	if _, ok := c.absent[id]; ok {
		return store.CloudreportClient{}, fmt.Errorf("cloudreport client %q: %w", id, store.ErrNotFound), true
	}
	return store.CloudreportClient{}, nil, false
}

// lookup reads a client from the registry through the cache.
func (s *Server) lookup(ctx context.Context, id string) (store.CloudreportClient, error) {
	return s.lookupAt(ctx, id, s.cfg.Now())
}

// lookupAt is lookup at time now (cfg.Now, read once by the caller).
func (s *Server) lookupAt(ctx context.Context, id string, now time.Time) (store.CloudreportClient, error) {
	c := &s.cache
	c.mu.Lock()
	if c.disabled {
		c.mu.Unlock()
		return s.reg.CloudreportClient(ctx, id)
	}
	check := !c.checking && (c.checked.IsZero() || now.Sub(c.checked) >= registryCheckInterval || now.Before(c.checked))
	if check {
		c.checking = true
		c.mu.Unlock()
		s.checkGeneration(ctx, now)
		c.mu.Lock()
	}
	// The usual case, a warm entry and no check due: one lock.
	cl, err, ok := c.getLocked(id)
	epoch := c.epoch // for a miss: the store read starts now
	c.mu.Unlock()
	if ok {
		return cl, err
	}
	cl, err = s.reg.CloudreportClient(ctx, id)
	c.fill(epoch, id, cl, err)
	return cl, err
}

// checkGeneration reads the registry generation and drops the cache when
// it changed (or cannot be read: then the next check drops it again).
func (s *Server) checkGeneration(ctx context.Context, now time.Time) {
	g, err := s.reg.CloudreportRegistryGeneration(ctx)
	if err != nil {
		s.log.Warn("cloudreport: cannot read the registry generation; registry cache dropped", "err", err)
		g = -1
	}
	c := &s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checking = false
	c.checked = now
	if g != c.gen || g < 0 {
		c.dropLocked()
		c.gen = g
	}
}

// Reload drops the registry cache: the next INFO of every client reads the
// store (and the registry generation) again. The daemon calls it on
// SIGHUP; it never fails.
func (s *Server) Reload(context.Context) error {
	c := &s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked()
	c.checked = time.Time{}
	return nil
}
