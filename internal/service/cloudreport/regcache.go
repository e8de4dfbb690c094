package cloudreport

import (
	"context"
	"time"

	"gatehouse/internal/store"
)

type cachedClient struct {
	c       store.CloudreportClient
	expires time.Time
}

const maxCached = 10000

// registryCacheTTL keeps enabled clients in memory this long (by cfg.Now),
// so a disable takes effect within it.
const registryCacheTTL = time.Second

// lookup reads a client from the registry through a short cache of enabled
// clients: a lookup was a third of an INFO round trip.
func (s *Server) lookup(ctx context.Context, id string) (store.CloudreportClient, error) {
	ttl := registryCacheTTL
	if ttl > 0 {
		s.cacheMu.Lock()
		e, ok := s.cache[id]
		s.cacheMu.Unlock()
		if ok && s.cfg.Now().Before(e.expires) {
			return e.c, nil
		}
	}
	c, err := s.reg.CloudreportClient(ctx, id)
	if ttl > 0 {
		s.cacheMu.Lock()
		if err == nil && c.Enabled {
			if len(s.cache) >= maxCached {
				clear(s.cache)
			}
			s.cache[id] = cachedClient{c, s.cfg.Now().Add(ttl)}
		} else {
			delete(s.cache, id)
		}
		s.cacheMu.Unlock()
	}
	return c, err
}
