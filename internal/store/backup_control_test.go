package store_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

// The one-statement 1026 and 1027: a first key is installed, the same key
// again keeps the AES key and touches last_seen, another key changes
// nothing, a wrong name or id is ErrNotFound; a reconnect needs id, name
// and keys.
func TestBackupOfferKeyAndReconnect(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		const a = "1f93925f-86d8-432a-ad42-d24db9eb1a27"
		if err := db.BackupRegister(ctx, a, "alice", t0); err != nil {
			t.Fatal(err)
		}
		if _, err := db.BackupReconnect(ctx, a, "alice", t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("reconnect before keys: %v", err)
		}
		pub, sealed := []byte{1, 2, 3}, []byte("sealed-1")
		if _, _, err := db.BackupOfferKey(ctx, a, "mallory", pub, sealed, t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("wrong name: %v", err)
		}
		if _, _, err := db.BackupOfferKey(ctx, "nope", "alice", pub, sealed, t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
		c, installed, err := db.BackupOfferKey(ctx, a, "alice", pub, sealed, t0.Add(time.Minute))
		if err != nil || !installed || !bytes.Equal(c.PublicKey, pub) || string(c.AESKey) != "sealed-1" ||
			!c.LastSeen.Equal(t0.Add(time.Minute)) || c.ID != a || c.Name != "alice" || !c.CreatedAt.Equal(t0) {
			t.Fatalf("first key: %+v %v %v", c, installed, err)
		}
		// The same key again: the AES key stays, last_seen moves.
		c, installed, err = db.BackupOfferKey(ctx, a, "alice", pub, []byte("sealed-2"), t0.Add(2*time.Minute))
		if err != nil || installed || string(c.AESKey) != "sealed-1" || !c.LastSeen.Equal(t0.Add(2*time.Minute)) {
			t.Fatalf("same key: %+v %v %v", c, installed, err)
		}
		// Another key: nothing changes.
		c, installed, err = db.BackupOfferKey(ctx, a, "alice", []byte{9}, []byte("sealed-3"), t0.Add(3*time.Minute))
		if err != nil || installed || !bytes.Equal(c.PublicKey, pub) || string(c.AESKey) != "sealed-1" ||
			!c.LastSeen.Equal(t0.Add(2*time.Minute)) {
			t.Fatalf("other key: %+v %v %v", c, installed, err)
		}
		if _, err := db.BackupReconnect(ctx, a, "bob", t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("reconnect, wrong name: %v", err)
		}
		c, err = db.BackupReconnect(ctx, a, "alice", t0.Add(4*time.Minute))
		if err != nil || !bytes.Equal(c.PublicKey, pub) || string(c.AESKey) != "sealed-1" || !c.LastSeen.Equal(t0.Add(4*time.Minute)) {
			t.Fatalf("reconnect: %+v %v", c, err)
		}
		if got, _ := db.BackupClient(ctx, a); !got.LastSeen.Equal(t0.Add(4 * time.Minute)) {
			t.Fatalf("last_seen %v", got.LastSeen)
		}
	})
}
