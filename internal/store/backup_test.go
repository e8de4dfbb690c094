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

func TestBackupStore(t *testing.T) {
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		const a, b = "1f93925f-86d8-432a-ad42-d24db9eb1a27", "00000000-0000-4000-8000-000000000001"
		if err := db.BackupRegister(ctx, a, "Michael Jackson", now); err != nil {
			t.Fatal(err)
		}
		if err := db.BackupRegister(ctx, a, "other", now); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate id: %v", err)
		}
		// Duplicate names are allowed: the original accepted them.
		if err := db.BackupRegister(ctx, b, "Michael Jackson", now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		c, err := db.BackupClient(ctx, a)
		if err != nil || c.Name != "Michael Jackson" || c.HasKeys() || !c.LastSeen.Equal(now) {
			t.Fatalf("client %+v %v", c, err)
		}
		if _, err := db.BackupClient(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing client: %v", err)
		}

		pub1, key1 := []byte{1, 2, 3}, []byte("sealed-1")
		if err := db.BackupSetKeys(ctx, a, pub1, key1, nil, now); err != nil {
			t.Fatal(err)
		}
		// A second "first" exchange loses the race.
		if err := db.BackupSetKeys(ctx, a, []byte{9}, []byte("x"), nil, now); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("cas with nil: %v", err)
		}
		if err := db.BackupSetKeys(ctx, a, []byte{4}, []byte("sealed-2"), pub1, now); err != nil {
			t.Fatal(err)
		}
		if err := db.BackupSetKeys(ctx, "nope", pub1, key1, nil, now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("keys for missing client: %v", err)
		}
		c, _ = db.BackupClient(ctx, a)
		if !bytes.Equal(c.PublicKey, []byte{4}) || string(c.AESKey) != "sealed-2" || !c.HasKeys() {
			t.Fatalf("keys %+v", c)
		}

		f := store.BackupFile{ClientID: a, FileName: "hello.txt", Path: a + "/hello.txt", Size: 22, CRC: 0xffffffff,
			UploadedAt: now.Add(time.Minute)}
		if err := db.BackupPutFile(ctx, f); err != nil {
			t.Fatal(err)
		}
		got, err := db.BackupFile(ctx, a, "hello.txt")
		if err != nil || got.CRC != 0xffffffff || got.Status != store.BackupReceived || got.Verified || got.Attempts != 1 || got.Size != 22 {
			t.Fatalf("file %+v %v", got, err)
		}
		c, _ = db.BackupClient(ctx, a)
		if !c.LastSeen.Equal(now.Add(time.Minute)) {
			t.Fatalf("last_seen not updated: %v", c.LastSeen)
		}
		ok, err := db.BackupSetFileStatus(ctx, a, "hello.txt", store.BackupReceived, store.BackupVerified, now)
		if err != nil || !ok {
			t.Fatalf("verify: %v %v", ok, err)
		}
		// The other client cannot touch a's file.
		ok, _ = db.BackupSetFileStatus(ctx, b, "hello.txt", store.BackupReceived, store.BackupFailed, now)
		if ok {
			t.Fatal("client b changed client a's file")
		}
		got, _ = db.BackupFile(ctx, a, "hello.txt")
		if !got.Verified || got.Status != store.BackupVerified {
			t.Fatalf("after verify %+v", got)
		}
		// A re-upload resets verification and counts the attempt.
		f.AtRestKey = []byte("k")
		if err := db.BackupPutFile(ctx, f); err != nil {
			t.Fatal(err)
		}
		got, _ = db.BackupFile(ctx, a, "hello.txt")
		if got.Verified || got.Attempts != 2 || string(got.AtRestKey) != "k" {
			t.Fatalf("after re-upload %+v", got)
		}
		if err := db.BackupPutFile(ctx, store.BackupFile{ClientID: b, FileName: "hello.txt", Path: b + "/hello.txt", UploadedAt: now}); err != nil {
			t.Fatal(err)
		}
		all, err := db.BackupFiles(ctx, "")
		if err != nil || len(all) != 2 {
			t.Fatalf("files %v %v", all, err)
		}
		only, _ := db.BackupFiles(ctx, b)
		if len(only) != 1 || only[0].ClientID != b {
			t.Fatalf("files of b %+v", only)
		}
		cl, err := db.BackupClients(ctx)
		if err != nil || len(cl) != 2 || cl[0].ID != a {
			t.Fatalf("clients %+v %v", cl, err)
		}
		if err := db.BackupTouch(ctx, "nope", now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("touch missing: %v", err)
		}
	})
}
