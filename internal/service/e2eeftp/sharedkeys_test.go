package e2eeftp

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

func newPub(t *testing.T) ([32]byte, ed25519.PublicKey) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(pub), pub
}

// waitUntil polls cond every 10 ms for at most limit.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two daemons (two SharedKeys) on one store, each with its own
// authorized_clients.pub, agree on the authorized clients.
func TestSharedKeysAcrossDaemons(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		k1, p1 := newPub(t)
		k2, p2 := newPub(t)
		k3, p3 := newPub(t)
		dirA, dirB := KeyDir(t.TempDir()), KeyDir(t.TempDir())
		if _, err := dirA.Authorize(p1, "one"); err != nil {
			t.Fatal(err)
		}
		if _, err := dirA.Authorize(p3, "three"); err != nil {
			t.Fatal(err)
		}
		const interval = 50 * time.Millisecond
		a, err := NewSharedKeys(ctx, db, NewAuthorizedKeys(dirA.Authorized(), nil), interval, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewSharedKeys(ctx, db, NewAuthorizedKeys(dirB.Authorized(), nil), interval, nil)
		if err != nil {
			t.Fatal(err)
		}
		go a.Run(ctx)
		go b.Run(ctx)
		// A's file was imported: B, which has no file, serves its keys.
		if !b.Contains(k1) || !b.Contains(k3) || b.Contains(k2) {
			t.Fatal("B does not serve the keys imported from A's file")
		}
		// Authorized through the store (what 'keys e2eeftp add-client'
		// does): served on both at the first try.
		if _, err := db.E2EEFTPAuthorizeClient(ctx, AuthorizedLine(p2), "two", time.Now()); err != nil {
			t.Fatal(err)
		}
		if !a.Contains(k2) || !b.Contains(k2) {
			t.Fatal("a key just authorized is refused")
		}
		// Revoked through the store: refused on both within the interval.
		if _, err := db.E2EEFTPRevokeClient(ctx, AuthorizedLine(p1), time.Now()); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 40*interval, "revocation seen by A and B", func() bool { return !a.Contains(k1) && !b.Contains(k1) })

		// A third daemon whose file still holds the revoked key does not
		// bring it back.
		dirC := KeyDir(t.TempDir())
		if _, err := dirC.Authorize(p1, "stale copy"); err != nil {
			t.Fatal(err)
		}
		c, err := NewSharedKeys(ctx, db, NewAuthorizedKeys(dirC.Authorized(), nil), interval, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Contains(k1) || a.Contains(k1) {
			t.Fatal("a stale file re-authorized a revoked key")
		}
		// Editing A's file is an operator's decision: removing k3 revokes
		// it everywhere, adding k1 back (after taking it out) authorizes it
		// again.
		if _, err := dirA.Unauthorize(p3); err != nil {
			t.Fatal(err)
		}
		if _, err := dirA.Unauthorize(p1); err != nil {
			t.Fatal(err)
		}
		bumpMtime(t, dirA.Authorized())
		waitUntil(t, 40*interval, "removal from A's file revokes on B", func() bool { return !b.Contains(k3) })
		if a.Contains(k1) {
			t.Fatal("k1 authorized while revoked and out of every file")
		}
		if _, err := dirA.Authorize(p1, "back"); err != nil {
			t.Fatal(err)
		}
		bumpMtime(t, dirA.Authorized())
		waitUntil(t, 40*interval, "re-adding to A's file authorizes on B", func() bool { return b.Contains(k1) })
		// A file that disappears revokes nothing.
		if err := os.Remove(dirA.Authorized()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * interval) // several refreshes of A: none may revoke
		if !b.Contains(k1) || !b.Contains(k2) {
			t.Fatal("a removed file revoked keys")
		}
	})
}

// bumpMtime moves the file's mtime forward so a same-size edit within one
// mtime tick is seen.
func bumpMtime(t *testing.T, path string) {
	t.Helper()
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}

// An unknown key costs at most one store read per missRefreshGap, however
// many connections present unknown keys.
func TestSharedKeysMissesAreCoalesced(t *testing.T) {
	t.Parallel()
	db := storetest.SQLite(t)
	counting := &countingRegistry{ClientRegistry: db}
	ctx := context.Background()
	s, err := NewSharedKeys(ctx, counting, nil, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 6; i++ {
		k, _ := newPub(t)
		if s.Contains(k) {
			t.Fatal("unknown key authorized")
		}
	}
	elapsed := time.Since(start)
	reads := counting.reads
	// One read at construction, then at most one per gap while we asked.
	if max := 2 + int(elapsed/missRefreshGap); reads > max {
		t.Fatalf("%d store reads for 6 unknown keys in %v (bound %d)", reads, elapsed, max)
	}
}

type countingRegistry struct {
	ClientRegistry
	reads int
}

func (c *countingRegistry) E2EEFTPClients(ctx context.Context) ([]store.E2EEFTPClient, error) {
	c.reads++
	return c.ClientRegistry.E2EEFTPClients(ctx)
}
