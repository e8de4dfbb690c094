package cloudreport

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

// fakeRegistry answers lookups from a map and counts the store reads.
type fakeRegistry struct {
	Registry // unused methods
	mu       sync.Mutex
	clients  map[string]store.CloudreportClient
	gen      int64
	genErr   error
	lookups  int
	genReads int
	// hold, when set, is waited on inside the next lookup, after entered
	// is closed.
	entered, hold chan struct{}
}

func (f *fakeRegistry) CloudreportClient(_ context.Context, id string) (store.CloudreportClient, error) {
	f.mu.Lock()
	f.lookups++
	c, ok := f.clients[id]
	entered, hold := f.entered, f.hold
	f.entered, f.hold = nil, nil
	f.mu.Unlock()
	if hold != nil {
		close(entered)
		<-hold
	}
	if !ok {
		return c, fmt.Errorf("cloudreport client %q: %w", id, store.ErrNotFound)
	}
	return c, nil
}

func (f *fakeRegistry) CloudreportRegistryGeneration(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.genReads++
	return f.gen, f.genErr
}

func (f *fakeRegistry) counts() (lookups, genReads int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups, f.genReads
}

func (f *fakeRegistry) set(id string, enabled bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clients[id] = store.CloudreportClient{ID: id, Enabled: enabled}
	f.gen++
}

func newCacheServer(t *testing.T, reg Registry) (*Server, func(time.Duration)) {
	t.Helper()
	clock, advance := movingClock()
	srv, err := New(conf(func(c *Config) { c.Now = clock }), Env{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, advance
}

func mustLookup(t *testing.T, s *Server, id string) store.CloudreportClient {
	t.Helper()
	c, err := s.lookup(context.Background(), id)
	if err != nil {
		t.Fatalf("lookup %s: %v", id, err)
	}
	return c
}

// Once read, an id (registered or not) is answered from memory until the
// registry generation changes; the generation is read at most once per
// registryCheckInterval of cfg.Now.
func TestRegistryCacheServesFromMemory(t *testing.T) {
	t.Parallel()
	f := &fakeRegistry{clients: map[string]store.CloudreportClient{"aaaa0001": {ID: "aaaa0001", Enabled: true}}}
	s, advance := newCacheServer(t, f)
	for range 100 {
		mustLookup(t, s, "aaaa0001")
		if _, err := s.lookup(context.Background(), "bbbb0002"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("absent id: %v", err)
		}
	}
	if l, g := f.counts(); l != 2 || g != 1 {
		t.Fatalf("%d lookups, %d generation reads; want 2, 1", l, g)
	}
	advance(registryCheckInterval) // generation unchanged: entries kept
	mustLookup(t, s, "aaaa0001")
	if l, g := f.counts(); l != 2 || g != 2 {
		t.Fatalf("%d lookups, %d generation reads; want 2, 2", l, g)
	}
	// An administrative change is seen after the next check, not before.
	f.set("aaaa0001", false)
	f.set("bbbb0002", true)
	if !mustLookup(t, s, "aaaa0001").Enabled {
		t.Fatal("change seen before the check interval passed")
	}
	advance(registryCheckInterval)
	if mustLookup(t, s, "aaaa0001").Enabled || !mustLookup(t, s, "bbbb0002").Enabled {
		t.Fatal("change not seen after the check interval")
	}
	// A clock that goes back checks at once.
	f.set("aaaa0001", true)
	advance(-time.Hour)
	if !mustLookup(t, s, "aaaa0001").Enabled {
		t.Fatal("change not seen after the clock went back")
	}
}

// Reload (the daemon's SIGHUP) drops the cache at once.
func TestRegistryCacheReload(t *testing.T) {
	t.Parallel()
	f := &fakeRegistry{clients: map[string]store.CloudreportClient{"aaaa0001": {ID: "aaaa0001", Enabled: true}}}
	s, _ := newCacheServer(t, f)
	mustLookup(t, s, "aaaa0001")
	f.mu.Lock()
	f.clients["aaaa0001"] = store.CloudreportClient{ID: "aaaa0001"} // changed without a generation bump
	f.mu.Unlock()
	if !mustLookup(t, s, "aaaa0001").Enabled {
		t.Fatal("cache not used")
	}
	if err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if mustLookup(t, s, "aaaa0001").Enabled {
		t.Fatal("Reload did not drop the cache")
	}
}

// A store read that began before a drop is not kept: it may predate the
// change that caused the drop.
func TestRegistryCacheDropsReadsInFlight(t *testing.T) {
	t.Parallel()
	f := &fakeRegistry{clients: map[string]store.CloudreportClient{"aaaa0001": {ID: "aaaa0001", Enabled: true}}}
	s, _ := newCacheServer(t, f)
	s.lookup(context.Background(), "warm0000") // the first generation check
	f.mu.Lock()
	f.entered, f.hold = make(chan struct{}), make(chan struct{})
	entered, hold := f.entered, f.hold
	f.mu.Unlock()
	done := make(chan struct{})
	go func() { defer close(done); s.lookup(context.Background(), "aaaa0001") }()
	<-entered
	s.Reload(context.Background())
	close(hold)
	<-done
	l, _ := f.counts()
	mustLookup(t, s, "aaaa0001")
	if l2, _ := f.counts(); l2 != l+1 {
		t.Fatal("a read from before the drop was kept")
	}
}

// Unknown ids, which any client may send in any number, are held up to
// maxAbsentIDs; registered ones up to maxCachedClients.
func TestRegistryCacheBounded(t *testing.T) {
	t.Parallel()
	f := &fakeRegistry{clients: map[string]store.CloudreportClient{}}
	s, _ := newCacheServer(t, f)
	for i := range maxAbsentIDs + 500 {
		s.lookup(context.Background(), fmt.Sprintf("x%07d", i))
	}
	s.cache.mu.Lock()
	n := len(s.cache.absent)
	s.cache.mu.Unlock()
	if n != maxAbsentIDs {
		t.Fatalf("%d absent ids held, want %d", n, maxAbsentIDs)
	}
	for i := range maxCachedClients + 10 {
		s.cache.fill(s.cache.begin(), fmt.Sprintf("r%07d", i), store.CloudreportClient{Enabled: true}, nil)
	}
	if n := len(s.cache.found); n != maxCachedClients {
		t.Fatalf("%d ids held, want %d", n, maxCachedClients)
	}
}

// When the generation cannot be read the cache is dropped and lookups go
// to the store (they may still work).
func TestRegistryCacheGenerationUnreadable(t *testing.T) {
	t.Parallel()
	f := &fakeRegistry{clients: map[string]store.CloudreportClient{"aaaa0001": {ID: "aaaa0001", Enabled: true}}}
	s, advance := newCacheServer(t, f)
	mustLookup(t, s, "aaaa0001")
	f.mu.Lock()
	f.genErr = errors.New("store down")
	f.mu.Unlock()
	advance(registryCheckInterval)
	l, _ := f.counts()
	mustLookup(t, s, "aaaa0001")
	if l2, _ := f.counts(); l2 != l+1 {
		t.Fatal("cache kept although the generation could not be read")
	}
}

// An admin change written by another process (another store handle on the
// same database, as `gatehouse admin cloudreport disable` is) reaches a
// running server after registryCheckInterval, on both engines.
func TestRegistryCacheSeesOtherProcess(t *testing.T) {
	t.Parallel()
	for _, eng := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "meta.db") }},
		{"postgres", func(t *testing.T) string { return storetest.PGDSN(t) }},
	} {
		t.Run(eng.name, func(t *testing.T) {
			dsn := eng.dsn(t)
			open := func() *store.DB {
				db, err := store.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			daemon, admin := open(), open()
			ctx := context.Background()
			if err := admin.CloudreportAddClient(ctx, store.CloudreportClient{ID: "00003e3b", Enabled: true, Expires: testNow}); err != nil {
				t.Fatal(err)
			}
			s, advance := newCacheServer(t, daemon)
			if !mustLookup(t, s, "00003e3b").Enabled {
				t.Fatal("not enabled")
			}
			if _, err := s.lookup(ctx, "0000beef"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown id: %v", err)
			}
			if err := admin.CloudreportSetEnabled(ctx, "00003e3b", false); err != nil {
				t.Fatal(err)
			}
			if err := admin.CloudreportAddClient(ctx, store.CloudreportClient{ID: "0000beef", Enabled: true, Expires: testNow}); err != nil {
				t.Fatal(err)
			}
			advance(registryCheckInterval)
			if mustLookup(t, s, "00003e3b").Enabled {
				t.Fatal("disable not seen")
			}
			if !mustLookup(t, s, "0000beef").Enabled {
				t.Fatal("add not seen")
			}
		})
	}
}
