package cloudreport

import (
	"context"
	"sync"
	"time"

	"gatehouse/internal/store"
)

// Last-seen times are written coalesced: with open registration every
// INFO would otherwise be a database write. An INFO only notes the time
// and address in memory; a background loop writes what was noted every
// SeenFlushInterval in one transaction (so each client gets at most one
// write per interval), and Close writes the rest. The map is bounded by
// MaxSeenPending: past it, a client not yet in it is skipped until the
// next interval (its last-seen time is then at most one interval older
// than it could be).
type seenTracker struct {
	mu      sync.Mutex
	max     int
	pending map[string]store.CloudreportSeen
	skipped int64
}

// note records that id was seen at t from addr; false when the map is full.
func (t *seenTracker) note(id string, at time.Time, addr string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		t.pending = map[string]store.CloudreportSeen{}
	}
	if _, ok := t.pending[id]; !ok && len(t.pending) >= t.max {
		t.skipped++
		return false
	}
	t.pending[id] = store.CloudreportSeen{ID: id, At: at, Addr: addr}
	return true
}

// take returns and forgets what is pending, and how many notes were
// skipped since the last take.
func (t *seenTracker) take() ([]store.CloudreportSeen, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]store.CloudreportSeen, 0, len(t.pending))
	for _, v := range t.pending {
		out = append(out, v)
	}
	clear(t.pending)
	skipped := t.skipped
	t.skipped = 0
	return out, skipped
}

func (s *Server) noteSeen(id string, at time.Time, addr string) {
	s.seen.note(id, at, addr)
}

// flushLoop writes the noted last-seen times every SeenFlushInterval and
// once more when the server is closed.
func (s *Server) flushLoop() {
	defer close(s.flushed)
	tk := time.NewTicker(s.cfg.SeenFlushInterval)
	defer tk.Stop()
	for {
		select {
		case <-tk.C:
			s.FlushSeen(context.Background())
		case <-s.stop:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			s.FlushSeen(ctx)
			cancel()
			return
		}
	}
}

// FlushSeen writes the noted last-seen times now. A failed write is logged
// and dropped (the next INFO of those clients notes them again).
func (s *Server) FlushSeen(ctx context.Context) error {
	list, skipped := s.seen.take()
	if skipped > 0 {
		s.log.Warn("cloudreport: last-seen updates skipped, pending map full", "skipped", skipped, "max", maxSeenPending)
	}
	if len(list) == 0 {
		return nil
	}
	err := s.reg.CloudreportTouchClients(ctx, list)
	if err != nil {
		s.log.Error("cloudreport: cannot write last-seen times", "clients", len(list), "err", err)
	}
	return err
}
