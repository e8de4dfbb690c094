package e2eeftp

import (
	"context"
	"encoding/base64"
	"sync"
	"time"

	"gatehouse/internal/store"
)

// ClientRegistry is what SharedKeys needs of the store: the client keys
// every daemon sharing it serves, with their comments and revocations (keys
// as standard base64 of the raw 32 bytes, as in authorized_clients.pub).
type ClientRegistry interface {
	E2EEFTPClients(ctx context.Context) ([]store.E2EEFTPClient, error)
	E2EEFTPAuthorizeClient(ctx context.Context, key, comment string, now time.Time) (bool, error)
	E2EEFTPImportClient(ctx context.Context, key, comment string, now time.Time) (bool, error)
	E2EEFTPRevokeClient(ctx context.Context, key string, now time.Time) (bool, error)
}

// DefaultKeyRefresh is how often SharedKeys re-reads the store and the
// file: a key added or revoked on any daemon is served or refused by every
// daemon within this interval (plus one store round trip).
const DefaultKeyRefresh = 2 * time.Second

// SharedKeys is the KeySet of a daemon whose authorized clients live in the
// store, so that every daemon sharing it sees the same list.
// authorized_clients.pub stays the import/export format: the file's keys at
// start are imported unless the store already knows them (a revocation made
// on another daemon wins over an older file); later edits of the file are
// applied as the operator's decisions: a key added to it is authorized (also
// a revoked one), a key removed from it is revoked.
//
// Contains answers from memory; Run refreshes it every interval, so no
// handshake waits for the store.
type SharedKeys struct {
	reg      ClientRegistry
	file     *AuthorizedKeys
	interval time.Duration
	warn     func(msg string, args ...any)
	now      func() time.Time

	missMu sync.Mutex // one refresh on a miss at a time
	minGap time.Duration

	mu       sync.RWMutex
	keys     map[[32]byte]bool
	comments map[[32]byte]string // of the authorized keys that have one
	loadedAt time.Time           // when the refresh that loaded keys began
	fileSeen map[[32]byte]string // the file's keys at the last import, with comments
	fileOK   bool
}

// NewSharedKeys loads the store's keys (importing file's) once; call Run
// to keep them fresh. file may be nil.
func NewSharedKeys(ctx context.Context, reg ClientRegistry, file *AuthorizedKeys, interval time.Duration, warn func(string, ...any)) (*SharedKeys, error) {
	if interval <= 0 {
		interval = DefaultKeyRefresh
	}
	if warn == nil {
		warn = func(string, ...any) {}
	}
	s := &SharedKeys{reg: reg, file: file, interval: interval, warn: warn, now: time.Now, minGap: missRefreshGap}
	if err := s.Refresh(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// missRefreshGap bounds how often an unknown key makes SharedKeys read the
// store at once: often enough that a client added a moment ago is served on
// its first try (the original re-read its file on every connection), rarely
// enough that unknown keys cannot turn into store load.
const missRefreshGap = 250 * time.Millisecond

// Contains reports whether id is authorized. A known key is answered from
// memory. An unknown one waits for a refresh that began after it asked
// (shared by every caller waiting meanwhile, at most one per
// missRefreshGap), so a key just authorized on any daemon is served at once.
func (s *SharedKeys) Contains(id [32]byte) bool {
	asked := s.now()
	if ok, _ := s.lookup(id); ok {
		return true
	}
	s.missMu.Lock()
	defer s.missMu.Unlock()
	ok, at := s.lookup(id)
	if ok || at.After(asked) {
		return ok
	}
	if wait := s.minGap - s.now().Sub(at); wait > 0 {
		time.Sleep(wait)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Refresh(ctx); err != nil {
		s.warn("reading the authorized e2eeftp clients from the store failed; keeping the last list", "err", err)
	}
	ok, _ = s.lookup(id)
	return ok
}

func (s *SharedKeys) lookup(id [32]byte) (bool, time.Time) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keys[id], s.loadedAt
}

// Comment is the comment recorded with an authorized key ("" if none).
func (s *SharedKeys) Comment(id [32]byte) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.comments[id]
}

// Len is the number of keys authorized as of the last refresh.
func (s *SharedKeys) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.keys)
}

// Run refreshes every interval until ctx ends. A failed refresh keeps the
// last list (the store may be down for a moment) and is logged.
func (s *SharedKeys) Run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := s.Refresh(rctx); err != nil && ctx.Err() == nil {
			s.warn("refreshing the authorized e2eeftp clients from the store failed; keeping the last list", "err", err)
		}
		cancel()
	}
}

// Refresh applies the file's changes to the store, then loads the store's
// authorized keys.
func (s *SharedKeys) Refresh(ctx context.Context) error {
	began := s.now()
	if err := s.syncFile(ctx); err != nil {
		return err
	}
	list, err := s.reg.E2EEFTPClients(ctx)
	if err != nil {
		return err
	}
	keys := make(map[[32]byte]bool, len(list))
	comments := make(map[[32]byte]string)
	for _, c := range list {
		if !c.Revoked.IsZero() {
			continue
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(c.PublicKey)
		if err != nil || len(raw) != 32 {
			continue // written by hand into the table; never authorizes anything
		}
		keys[[32]byte(raw)] = true
		if c.Comment != "" {
			comments[[32]byte(raw)] = c.Comment
		}
	}
	s.mu.Lock()
	if began.After(s.loadedAt) {
		s.keys, s.comments, s.loadedAt = keys, comments, began
	}
	s.mu.Unlock()
	return nil
}

func (s *SharedKeys) syncFile(ctx context.Context) error {
	if s.file == nil {
		return nil
	}
	cur, ok := s.file.entries()
	if !ok {
		// Missing or unreadable: nothing to import, and no reason to revoke
		// (a file removed by accident must not lock every client out).
		return nil
	}
	now := s.now()
	s.mu.RLock()
	prev, hadPrev := s.fileSeen, s.fileOK
	s.mu.RUnlock()
	for k, comment := range cur {
		key := base64.StdEncoding.EncodeToString(k[:])
		if !hadPrev {
			if _, err := s.reg.E2EEFTPImportClient(ctx, key, comment, now); err != nil {
				return err
			}
		} else if _, seen := prev[k]; !seen {
			if _, err := s.reg.E2EEFTPAuthorizeClient(ctx, key, comment, now); err != nil {
				return err
			}
		}
	}
	if hadPrev {
		for k := range prev {
			if _, still := cur[k]; !still {
				if _, err := s.reg.E2EEFTPRevokeClient(ctx, base64.StdEncoding.EncodeToString(k[:]), now); err != nil {
					return err
				}
			}
		}
	}
	s.mu.Lock()
	s.fileSeen, s.fileOK = cur, true
	s.mu.Unlock()
	return nil
}
