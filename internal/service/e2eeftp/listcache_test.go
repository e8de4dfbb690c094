package e2eeftp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/blob"
)

// fakeClock is a settable cfg.Now.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time            { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) add(d time.Duration)       { c.ns.Add(int64(d)) }
func (c *fakeClock) setup(cfg *Config, _ *Env) { cfg.Now = c.now }

// walked is LIST's reply computed the way it was before the cache: walk
// the folder, keep the listable names, join them.
func walked(t testing.TB, store blob.Store, folder string) string {
	t.Helper()
	infos, err := store.List(context.Background(), folder)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range infos {
		if n, ok := listed(folder, in.Name); ok {
			names = append(names, n)
		}
	}
	body := strings.Join(names, "\n")
	return StatusOK(int64(len(body))) + body
}

func (f *fixture) listing(folder string) string {
	f.t.Helper()
	b, err := f.srv.listing(context.Background(), folder)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// The cached reply is byte for byte the walked one, odd names included,
// and follows this daemon's SENDs, overwrites and DELETEs at once.
func TestListCacheFollowsOwnWrites(t *testing.T) {
	t.Parallel()
	clock := newFakeClock() // never advances: nothing expires
	f := newFixture(t, clock.setup)
	for _, n := range []string{"b.txt", "café.txt", "日本語.txt", " lead", "Z", "a"} {
		f.put(n, "x")
	}
	// Not listable: a sub-folder's file, a bad name written under the
	// store's feet.
	f.put("sub/inner.txt", "x")
	want := walked(t, f.store, sharedFolder)
	if got := f.listing(sharedFolder); got != want {
		t.Fatalf("first LIST %q, want %q", got, want)
	}
	if got := f.roundTrip("LIST\n", nil); got != want {
		t.Fatalf("LIST on the wire %q, want %q", got, want)
	}
	ctx := context.Background()
	check := func(what string) {
		t.Helper()
		if got, want := f.roundTrip("LIST\n", nil), walked(t, f.store, sharedFolder); got != want {
			t.Fatalf("after %s: LIST %q, want %q", what, got, want)
		}
	}
	if err := f.client.Send(ctx, "new.txt", strings.NewReader("n"), 1); err != nil {
		t.Fatal(err)
	}
	check("SEND")
	if err := f.client.Send(ctx, "new.txt", strings.NewReader("nn"), 2); err != nil {
		t.Fatal(err)
	}
	check("an overwrite")
	if err := f.client.Delete(ctx, "café.txt"); err != nil {
		t.Fatal(err)
	}
	check("DELETE")
	if got := f.roundTrip("SEND|bad.txt|64\n", sealed("x", true)); got != StatusDecryptionFailed {
		t.Fatalf("tampered SEND: %q", got)
	}
	check("a failed SEND")
	if !strings.Contains(f.listing(sharedFolder), "new.txt") {
		t.Fatal("new.txt not listed")
	}
	f.srv.lists.mu.Lock()
	n := len(f.srv.lists.folders)
	f.srv.lists.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d folders cached, want 1", n)
	}
}

// Files written by another daemon sharing the blob store (or by hand) show
// once the entry expires: SharedListTTL on a shared store, LocalListTTL on
// this daemon's own.
func TestListCacheExpiry(t *testing.T) {
	t.Parallel()
	for _, shared := range []bool{true, false} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			clock := newFakeClock()
			f := newFixture(t, clock.setup, func(_ *Config, e *Env) { e.BlobShared = shared })
			f.put("a", "x")
			if got := f.listing(sharedFolder); got != "200|1\na" {
				t.Fatalf("%q", got)
			}
			f.put("b", "x") // another daemon's SEND: this one is not told
			if got := f.listing(sharedFolder); got != "200|1\na" {
				t.Fatalf("before expiry: %q (the entry was not cached)", got)
			}
			clock.add(SharedListTTL)
			want := "200|1\na"
			if shared {
				want = "200|3\na\nb"
			}
			if got := f.listing(sharedFolder); got != want {
				t.Fatalf("after %v: %q, want %q", SharedListTTL, got, want)
			}
			clock.add(LocalListTTL)
			if got := f.listing(sharedFolder); got != "200|3\na\nb" {
				t.Fatalf("after %v: %q", LocalListTTL, got)
			}
		})
	}
}

// Concurrent SENDs, DELETEs and LISTs of the same few names: once they
// are done, the cache says what the store holds.
func TestListCacheConcurrentUpdates(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	f := newFixture(t, clock.setup)
	c := f.srv.lists
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for i := 0; i < 150; i++ {
				name := "n" + strconv.Itoa(r.IntN(4))
				switch r.IntN(4) {
				case 0:
					w, err := f.store.Create(ctx, sharedFolder+name)
					if err != nil {
						t.Error(err)
						return
					}
					w.Write([]byte("x"))
					w.Commit()
					c.note(ctx, sharedFolder, name)
				case 1:
					f.store.Remove(ctx, sharedFolder+name)
					c.note(ctx, sharedFolder, name)
				case 2:
					if r.IntN(8) == 0 {
						c.drop(sharedFolder) // rebuilds race with updates
					}
					if _, err := c.get(ctx, sharedFolder); err != nil {
						t.Error(err)
						return
					}
				default:
					if _, err := c.get(ctx, sharedFolder); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	if got, want := f.listing(sharedFolder), walked(t, f.store, sharedFolder); got != want {
		t.Fatalf("cache %q, store %q", got, want)
	}
}

// The cache holds at most maxFolders folders and maxBytes; a folder too
// big for a quarter of the budget is not cached but still listed.
func TestListCacheBounded(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	f := newFixture(t, clock.setup)
	c := f.srv.lists
	c.maxFolders, c.maxBytes = 4, 4096
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		folder := "clients/" + strconv.Itoa(i) + "/"
		w, _ := f.store.Create(ctx, folder+"f")
		w.Commit()
		if got, err := c.get(ctx, folder); err != nil || string(got) != "200|1\nf" {
			t.Fatalf("%s: %q %v", folder, got, err)
		}
	}
	c.mu.Lock()
	if len(c.folders) > 4 || c.bytes > 4096 {
		t.Errorf("%d folders, %d bytes cached", len(c.folders), c.bytes)
	}
	_, newest := c.folders["clients/9/"]
	c.mu.Unlock()
	if !newest {
		t.Error("the folder just listed was evicted")
	}
	for i := 0; i < 40; i++ { // ~40 × 60 bytes: over a quarter of 4096
		f.put(fmt.Sprintf("big-%02d-%s", i, strings.Repeat("x", 20)), "x")
	}
	want := walked(t, f.store, sharedFolder)
	if got := f.listing(sharedFolder); got != want {
		t.Fatalf("big folder: %q", got)
	}
	c.mu.Lock()
	_, cached := c.folders[sharedFolder]
	c.mu.Unlock()
	if cached {
		t.Error("a folder over the budget was cached")
	}
	// A folder that grows over the budget through SENDs is dropped.
	c.maxBytes = 1 << 20
	f.listing(sharedFolder)
	c.maxBytes = 4096
	if err := f.client.Send(ctx, "one-more", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	_, cached = c.folders[sharedFolder]
	c.mu.Unlock()
	if cached {
		t.Error("a folder grown over the budget stayed cached")
	}
	if got, want := f.listing(sharedFolder), walked(t, f.store, sharedFolder); got != want {
		t.Fatalf("after growing: %q", got)
	}
}

// slowList takes its snapshot, then waits for release before returning it
// (a store read racing with this daemon's writes).
type slowList struct {
	blob.Store
	listed, release chan struct{}
}

func (s *slowList) List(ctx context.Context, prefix string) ([]blob.Info, error) {
	infos, err := s.Store.List(ctx, prefix)
	s.listed <- struct{}{}
	<-s.release
	return infos, err
}

// A SEND and a DELETE that finish while the folder is being read are
// applied on top of the (older) read.
func TestListCacheUpdatesDuringRead(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	f := newFixture(t, clock.setup)
	f.put("old", "x")
	sl := &slowList{Store: f.store, listed: make(chan struct{}), release: make(chan struct{})}
	c := newListCache(sl, false, clock.now)
	ctx := context.Background()
	got := make(chan string, 1)
	go func() {
		b, err := c.get(ctx, sharedFolder)
		if err != nil {
			t.Error(err)
		}
		got <- string(b)
	}()
	<-sl.listed // the snapshot holds "old" only
	f.put("new", "x")
	c.note(ctx, sharedFolder, "new")
	if err := f.store.Remove(ctx, sharedFolder+"old"); err != nil {
		t.Fatal(err)
	}
	c.note(ctx, sharedFolder, "old")
	close(sl.release)
	if b := <-got; b != "200|3\nnew" {
		t.Fatalf("LIST racing with writes: %q", b)
	}
	if b, _ := c.get(ctx, sharedFolder); string(b) != "200|3\nnew" {
		t.Fatalf("cached: %q", b)
	}
}
