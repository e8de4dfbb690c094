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

// The 1026 install statement: a first key is installed, the same key
// again keeps the AES key and touches last_seen, another key changes
// nothing, a wrong name or id is ErrNotFound. BackupSeen, the stale
// last_seen write of a 1026 retry and a 1027, moves last_seen forward
// only past its staleBefore, and a missing client is no error.
func TestBackupOfferKeyAndSeen(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		const a = "1f93925f-86d8-432a-ad42-d24db9eb1a27"
		if err := db.BackupRegister(ctx, a, "alice", t0); err != nil {
			t.Fatal(err)
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
		t2 := t0.Add(2 * time.Minute)
		seen := func(now, staleBefore time.Time, want bool, wantSeen time.Time) {
			t.Helper()
			wrote, err := db.BackupSeen(ctx, a, now, staleBefore)
			if err != nil || wrote != want {
				t.Fatalf("seen(%v, %v) = %v %v, want %v", now, staleBefore, wrote, err, want)
			}
			if got, _ := db.BackupClient(ctx, a); !got.LastSeen.Equal(wantSeen) || !bytes.Equal(got.PublicKey, pub) || string(got.AESKey) != "sealed-1" {
				t.Fatalf("after seen(%v, %v): %+v, want last_seen %v", now, staleBefore, got, wantSeen)
			}
		}
		// Not stale (stored after staleBefore): nothing written.
		seen(t2.Add(30*time.Second), t2.Add(-time.Nanosecond), false, t2)
		// Stored exactly at staleBefore, then before it: written.
		seen(t2.Add(60*time.Second), t2, true, t2.Add(60*time.Second))
		seen(t2.Add(150*time.Second), t2.Add(90*time.Second), true, t2.Add(150*time.Second))
		// Another daemon with an older clock: not moved back.
		seen(t2.Add(120*time.Second), t2.Add(60*time.Second), false, t2.Add(150*time.Second))
		if wrote, err := db.BackupSeen(ctx, "nope", t2, t2); wrote || err != nil {
			t.Fatalf("seen of an unknown client: %v %v", wrote, err)
		}
	})
}
