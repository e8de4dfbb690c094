package e2eeftp

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/store"
)

// A client hello signs only the client's own ephemeral key, so in the
// original a recorded hello could be replayed at any later time to LIST or
// DELETE (docs/e2eeftp.md, "Replay of a client hello"). Stock clients draw a fresh key per connection, so a
// repeated key is always a replay. The defence records every accepted
// ephemeral key in the store, which all daemons sharing the database see,
// and which is committed before our hello goes out (a crash forgets
// nothing); keys older than the window are pruned.
//
// What the window buys, precisely: a hello is refused if the same ephemeral
// key was accepted by any daemon within the last window (plus up to one
// prune interval). Nothing in a hello says when it was made, so a hello
// recorded and replayed more than a window after its first use is accepted
// again; so is a hello the attacker captured and used first while keeping
// it from the real server. The window therefore bounds how long a captured
// hello stays useless, not how old a usable one can be; that is why it is
// long (default 30 days) and why clock skew between daemons, which only
// moves the prune cutoff by the skew, is irrelevant at that scale.

// DefaultReplayWindow is replay_window's default (DefaultConfig).
const DefaultReplayWindow = 30 * 24 * time.Hour

// replayGuard is the store-backed log with a small in-memory front cache.
// The front cache answers repeats of recent hellos without a round trip and
// is the whole defence when there is no store (tests, embedding).
type replayGuard struct {
	front  *replayCache
	db     ReplayLog
	window time.Duration
	now    func() time.Time
	log    *slog.Logger

	// noSpace is set while the store cannot record keys because its disk
	// is full (see check).
	noSpace atomic.Bool
}

var errReplay = errors.New("replayed client hello")

// replayAhead is the optional side of a ReplayLog that group-commits
// (store.DB): announcing a key before the handshake's public-key work
// lets concurrent handshakes share one commit.
type replayAhead interface {
	E2EEFTPReplayAhead() *store.ReplayAnnouncement
}

// ahead announces a key that check will record once the handshake's
// public-key work is done, or nil where the log does not group-commit;
// Withdraw it (nil-safe, idempotent) when the handshake ends, whether or
// not it got to check.
func (g *replayGuard) ahead() *store.ReplayAnnouncement {
	if g == nil {
		return nil
	}
	if a, ok := g.db.(replayAhead); ok {
		return a.E2EEFTPReplayAhead()
	}
	return nil
}

// check records eph and returns errReplay if it was seen before, or a
// store error (the caller refuses the hello: failing open would turn a
// database outage into a replay window).
// The announcement ends as the key is queued (never before: a lingering
// batch would see it gone and commit without the key) or, where nothing is
// recorded, at once.
func (g *replayGuard) check(ctx context.Context, eph [32]byte, ann *store.ReplayAnnouncement) error {
	if g == nil {
		ann.Withdraw()
		return nil
	}
	if g.front.has(eph) {
		ann.Withdraw()
		return errReplay
	}
	if g.db != nil {
		var fresh bool
		var err error
		if ann != nil {
			fresh, err = ann.Record(ctx, eph[:], g.now())
		} else {
			fresh, err = g.db.E2EEFTPReplayRecord(ctx, eph[:], g.now())
		}
		if err != nil {
			if !store.IsNoSpace(err) || g.front == nil {
				return fmt.Errorf("replay log: %w", err)
			}
			// The store's disk is full: refusing every hello would stop
			// reads (GET, LIST) too. The in-memory front still refuses
			// any hello this daemon saw; only replays across daemons or
			// restarts slip through until space is freed.
			if !g.noSpace.Swap(true) && g.log != nil {
				g.log.Error("replay log: no space left on the store's disk; hellos are checked against memory only until space is freed", "err", err)
			}
			fresh = true
		} else if g.noSpace.Swap(false) && g.log != nil {
			g.log.Info("replay log: recording hellos in the store again")
		}
		if !fresh {
			g.front.fresh(eph)
			return errReplay
		}
	}
	if !g.front.fresh(eph) {
		return errReplay // a concurrent twin won without a store
	}
	return nil
}

// prune deletes the stored keys older than the window.
func (g *replayGuard) prune(ctx context.Context) (int64, error) {
	if g == nil || g.db == nil {
		return 0, nil
	}
	return g.db.E2EEFTPReplayPrune(ctx, g.now().Add(-g.window))
}

// replayCache remembers the last size ephemeral keys (FIFO) as 64-bit
// prefixes of their SHA-256: 8 bytes a slot plus the map. A false alarm
// needs a 64-bit collision among size entries, about size/2^64. Only
// hellos that passed authorisation and signature checks are inserted, so
// an unauthenticated peer cannot flush the cache.
type replayCache struct {
	mu   sync.Mutex
	seen map[uint64]struct{}
	ring []uint64
	next int
	full bool
}

func newReplayCache(size int) *replayCache {
	if size <= 0 {
		return nil
	}
	return &replayCache{seen: make(map[uint64]struct{}, min(size, 1<<16)), ring: make([]uint64, size)}
}

func replayKey(eph [32]byte) uint64 {
	sum := sha256.Sum256(eph[:])
	return binary.LittleEndian.Uint64(sum[:8])
}

// has reports whether eph is remembered.
func (c *replayCache) has(eph [32]byte) bool {
	if c == nil {
		return false
	}
	k := replayKey(eph)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.seen[k]
	return ok
}

// fresh records eph and reports whether it was not seen before. A nil
// cache (disabled) accepts everything.
func (c *replayCache) fresh(eph [32]byte) bool {
	if c == nil {
		return true
	}
	k := replayKey(eph)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.seen[k]; dup {
		return false
	}
	if c.full {
		delete(c.seen, c.ring[c.next])
	}
	c.ring[c.next] = k
	c.seen[k] = struct{}{}
	c.next++
	if c.next == len(c.ring) {
		c.next, c.full = 0, true
	}
	return true
}
