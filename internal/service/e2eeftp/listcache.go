package e2eeftp

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gatehouse/internal/blob"
)

// The LIST cache (docs/e2eeftp.md, "LIST cache"). Every LIST used to walk
// its folder and stat every file. Now a folder's names are read from the
// blob store once and then kept up to date by this daemon's own SENDs
// (after the commit) and DELETEs, so a LIST is one write of a reply that is
// already rendered.
//
// Correctness within one daemon: after a SEND commit or a DELETE, the
// request stats the name in the blob store and applies what it saw, with
// the folder's updates serialised (updateMu) in the order of those stats.
// Each update's stat comes after its own store operation, so the last
// update applied to a name reflects every operation on it, whatever order
// concurrent requests finish in. Updates that arrive while the folder is
// being read from the store are kept and applied on top of what the read
// returned.
//
// Other writers: daemons sharing the blob store (blob.url) and hand edits
// of a local folder are not seen by those updates, so an entry expires:
// SharedListTTL after it was read when the blob store is shared,
// LocalListTTL when it is this daemon's own folder.
//
// Memory is bounded: at most maxListFolders folders and maxListBytes of
// names and replies in all; a folder that alone would take more than a
// quarter of that is not cached (its LISTs walk the store as before), and
// the least recently listed folders are dropped first.

// SharedListTTL is how long a LIST cache entry lives when the blob store is
// shared by several daemons: a file another daemon stored or deleted shows
// in this daemon's LIST at most this long afterwards.
const SharedListTTL = time.Second

// LocalListTTL is how long a LIST cache entry lives on this daemon's own
// blob store, whose every change through the protocol updates the cache:
// it only bounds how long a file added or removed by hand goes unseen.
const LocalListTTL = time.Minute

const (
	maxListFolders = 1024
	maxListBytes   = 32 << 20
	// nameCost is a name's accounted size beyond its bytes: the string
	// header in the slice, its share of the reply and of the allocator.
	nameCost = 32
)

type listCache struct {
	store blob.Store
	ttl   time.Duration
	now   func() time.Time
	// maxFolders and maxBytes are maxListFolders and maxListBytes (tests
	// lower them).
	maxFolders int
	maxBytes   int64

	mu      sync.Mutex
	folders map[string]*folderList
	bytes   int64  // sum of the ready entries' cost
	tick    uint64 // LRU clock
}

// folderList is one folder's cached listing. Its fields other than
// updateMu are guarded by listCache.mu.
type folderList struct {
	// updateMu serialises this folder's updates (stat + apply).
	updateMu sync.Mutex

	gen      uint64          // bumped by every (re)build
	building bool            // a store read is in flight; names not valid
	pending  map[string]bool // updates seen while building: name -> present
	names    []string        // sorted, valid names
	reply    []byte          // rendered reply, nil after a change
	built    time.Time
	lastUse  uint64
	cost     int64
}

func newListCache(store blob.Store, shared bool, now func() time.Time) *listCache {
	ttl := LocalListTTL
	if shared {
		ttl = SharedListTTL
	}
	return &listCache{store: store, ttl: ttl, now: now, maxFolders: maxListFolders, maxBytes: maxListBytes,
		folders: make(map[string]*folderList)}
}

// listed returns the LIST-visible name of blob name in folder, or false.
func listed(folder, name string) (string, bool) {
	n, ok := strings.CutPrefix(name, folder)
	if !ok || !ValidName(n) || !utf8.ValidString(n) {
		return "", false
	}
	return n, true
}

// render is LIST's reply for names: "200|<bytes>\n" and the names joined
// by '\n'.
func render(names []string) []byte {
	n := 0
	for _, s := range names {
		n += len(s) + 1
	}
	body := max(n-1, 0)
	out := make([]byte, 0, len("200|\n")+20+body)
	out = append(out, "200|"...)
	out = strconv.AppendInt(out, int64(body), 10)
	out = append(out, '\n')
	for i, s := range names {
		if i > 0 {
			out = append(out, '\n')
		}
		out = append(out, s...)
	}
	return out
}

func listCost(names []string) int64 {
	var c int64
	for _, s := range names {
		c += int64(2*len(s)+1) + nameCost // the name, its copy in the reply
	}
	return c + 64
}

// listing is LIST's whole reply for folder: from the cache when it holds
// the folder, else read from the store (and cached when it fits).
func (s *Server) listing(ctx context.Context, folder string) ([]byte, error) {
	c := s.lists
	if c == nil {
		names, err := readFolder(ctx, s.store, folder)
		if err != nil {
			return nil, err
		}
		return render(names), nil
	}
	return c.get(ctx, folder)
}

func readFolder(ctx context.Context, store blob.Store, folder string) ([]string, error) {
	infos, err := store.List(ctx, folder)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(infos))
	for _, in := range infos {
		if n, ok := listed(folder, in.Name); ok {
			names = append(names, n)
		}
	}
	return names, nil
}

func (c *listCache) get(ctx context.Context, folder string) ([]byte, error) {
	now := c.now()
	c.mu.Lock()
	c.tick++
	e := c.folders[folder]
	if e != nil && !e.building && now.Sub(e.built) < c.ttl && !now.Before(e.built) {
		e.lastUse = c.tick
		if e.reply == nil {
			e.reply = render(e.names)
		}
		out := e.reply
		c.mu.Unlock()
		return out, nil
	}
	// Missing or expired: read the store. Only one reader installs its
	// result; LISTs meanwhile read the store for themselves.
	var gen uint64
	mine := false
	if e == nil || !e.building {
		if e == nil {
			if len(c.folders) >= c.maxFolders {
				c.evictLocked(1)
			}
			e = &folderList{}
			c.folders[folder] = e
		} else {
			c.bytes -= e.cost
		}
		e.gen++
		e.building, e.pending, e.names, e.reply, e.cost = true, nil, nil, nil, 0
		e.lastUse = c.tick
		gen, mine = e.gen, true
	}
	c.mu.Unlock()

	names, err := readFolder(ctx, c.store, folder)
	if !mine {
		if err != nil {
			return nil, err
		}
		return render(names), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.folders[folder] != e || e.gen != gen {
		// Dropped meanwhile (evicted, or an update could not be checked).
		if err != nil {
			return nil, err
		}
		return render(names), nil
	}
	if err != nil {
		delete(c.folders, folder)
		return nil, err
	}
	for n, present := range e.pending {
		names = setName(names, n, present)
	}
	e.building, e.pending, e.names, e.built = false, nil, names, now
	e.reply = render(names)
	e.cost = listCost(names)
	if e.cost > c.maxBytes/4 {
		delete(c.folders, folder) // too big to keep: this folder walks
		return e.reply, nil
	}
	c.bytes += e.cost
	if c.bytes > c.maxBytes {
		c.evictLocked(0)
	}
	return e.reply, nil
}

// setName inserts or removes n in the sorted names.
func setName(names []string, n string, present bool) []string {
	i, found := slices.BinarySearch(names, n)
	switch {
	case present && !found:
		return slices.Insert(names, i, n)
	case !present && found:
		return slices.Delete(names, i, i+1)
	}
	return names
}

// evictLocked drops least recently listed ready folders until the byte
// budget holds and, with room > 0, until room more folders fit.
func (c *listCache) evictLocked(room int) {
	for c.bytes > c.maxBytes || (room > 0 && len(c.folders)+room > c.maxFolders) {
		var victim string
		var ve *folderList
		for k, e := range c.folders {
			if !e.building && (ve == nil || e.lastUse < ve.lastUse) {
				victim, ve = k, e
			}
		}
		if ve == nil {
			return // only builds in flight; they check the budget themselves
		}
		c.bytes -= ve.cost
		delete(c.folders, victim)
	}
}

// note brings folder's entry up to date with the store for one name that
// a SEND or DELETE of this daemon just changed (or tried to): it stats the
// name and applies what it sees. A folder that is not cached costs nothing.
func (c *listCache) note(ctx context.Context, folder, name string) {
	if c == nil {
		return
	}
	n, ok := listed(folder, folder+name)
	c.mu.Lock()
	e := c.folders[folder]
	c.mu.Unlock()
	if e == nil || !ok {
		return
	}
	e.updateMu.Lock()
	defer e.updateMu.Unlock()
	_, err := c.store.Stat(ctx, folder+name)
	present := err == nil
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.folders[folder] != e {
		return // dropped or replaced meanwhile: the next read sees the store
	}
	if err != nil && !errors.Is(err, blob.ErrNotExist) {
		// Cannot tell: forget the folder; the next LIST reads the store.
		c.dropLocked(folder)
		return
	}
	if e.building {
		if e.pending == nil {
			e.pending = make(map[string]bool)
		}
		e.pending[n] = present
		return
	}
	before := len(e.names)
	e.names = setName(e.names, n, present)
	if len(e.names) == before {
		return
	}
	e.reply = nil
	c.bytes -= e.cost
	e.cost = listCost(e.names)
	if e.cost > c.maxBytes/4 {
		delete(c.folders, folder)
		return
	}
	c.bytes += e.cost
	if c.bytes > c.maxBytes {
		c.evictLocked(0)
	}
}

// drop forgets folder (tests and benchmarks: the uncached path).
func (c *listCache) drop(folder string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(folder)
}

func (c *listCache) dropLocked(folder string) {
	if e := c.folders[folder]; e != nil {
		if !e.building {
			c.bytes -= e.cost
		}
		delete(c.folders, folder)
	}
}
