package e2eeftp

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

// replayCache remembers the ephemeral keys of accepted client hellos. A
// hello signs only the client's own ephemeral key, so in the original a
// recorded hello could be replayed at any later time to LIST or DELETE
// (spec §8.1). Stock clients draw a fresh key per connection, so a repeat
// is always a replay.
//
// It holds the last size keys (FIFO), as 64-bit prefixes of their SHA-256:
// 8 bytes a slot plus the map. A false alarm needs a 64-bit collision among
// size entries, about size/2^64. Only hellos that passed authorisation and
// signature checks are inserted, so an unauthenticated peer cannot flush
// the cache.
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

// fresh records eph and reports whether it was not seen before. A nil
// cache (disabled) accepts everything.
func (c *replayCache) fresh(eph [32]byte) bool {
	if c == nil {
		return true
	}
	sum := sha256.Sum256(eph[:])
	k := binary.LittleEndian.Uint64(sum[:8])
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.insert(k)
}

// insert adds k unless present; c.mu is held.
func (c *replayCache) insert(k uint64) bool {
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

// MarshalBinary returns the remembered keys, oldest first, 8 bytes each,
// so the daemon can keep the cache across a restart.
func (c *replayCache) MarshalBinary() []byte {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []byte
	emit := func(ks []uint64) {
		for _, k := range ks {
			out = binary.LittleEndian.AppendUint64(out, k)
		}
	}
	if c.full {
		emit(c.ring[c.next:])
	}
	emit(c.ring[:c.next])
	return out
}

// load adds keys saved by MarshalBinary (a trailing partial entry is
// ignored; only the newest len(ring) entries are kept).
func (c *replayCache) load(b []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for ; len(b) >= 8; b = b[8:] {
		c.insert(binary.LittleEndian.Uint64(b))
	}
}
