package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

func TestBackupStore(t *testing.T) {
	t.Parallel()
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

		f := store.BackupFile{ClientID: a, FileName: "hello.txt", Path: a + "/hello.txt/1", Size: 22, CRC: 0xffffffff,
			UploadedAt: now.Add(time.Minute)}
		if d, err := db.BackupPutFile(ctx, f); err != nil || d != "" {
			t.Fatal(d, err)
		}
		got, err := db.BackupFile(ctx, a, "hello.txt")
		if err != nil || got.CRC != 0xffffffff || got.Status != store.BackupReceived || got.Verified || got.Attempts != 1 ||
			got.Size != 22 || got.Pending != nil {
			t.Fatalf("file %+v %v", got, err)
		}
		c, _ = db.BackupClient(ctx, a)
		if !c.LastSeen.Equal(now.Add(time.Minute)) {
			t.Fatalf("last_seen not updated: %v", c.LastSeen)
		}
		// The other client cannot touch a's file.
		if ok, _, _ := db.BackupFailFile(ctx, b, "hello.txt", now); ok {
			t.Fatal("client b changed client a's file")
		}
		v, err := db.BackupConfirmFile(ctx, a, "hello.txt", now)
		if err != nil || v != 1 {
			t.Fatalf("verify: %v %v", v, err)
		}
		got, _ = db.BackupFile(ctx, a, "hello.txt")
		if !got.Verified || got.Status != store.BackupVerified {
			t.Fatalf("after verify %+v", got)
		}
		// A second 1029 has nothing left to confirm.
		if v, _ := db.BackupConfirmFile(ctx, a, "hello.txt", now); v != 0 {
			t.Fatal("verified twice")
		}
		// A re-upload of a verified file waits beside the verified copy.
		f2 := f
		f2.Path, f2.Size, f2.CRC, f2.AtRestKey, f2.UploadedAt = a+"/hello.txt/2", 40, 7, []byte("k"), now.Add(2*time.Minute)
		if d, err := db.BackupPutFile(ctx, f2); err != nil || d != "" {
			t.Fatal(d, err)
		}
		if refs, err := db.BackupBlobPaths(ctx); err != nil || len(refs) != 2 || !refs[f.Path] || !refs[f2.Path] {
			t.Fatalf("referenced blobs %v %v", refs, err)
		}
		got, _ = db.BackupFile(ctx, a, "hello.txt")
		if !got.Verified || got.Path != f.Path || got.Size != 22 || got.Attempts != 2 || got.Pending == nil ||
			got.Pending.Path != f2.Path || got.Pending.Size != 40 || got.Pending.CRC != 7 ||
			string(got.Pending.AtRestKey) != "k" || !got.Pending.UploadedAt.Equal(f2.UploadedAt) {
			t.Fatalf("after re-upload %+v %+v", got, got.Pending)
		}
		// A newer re-upload displaces the pending one, not the verified copy.
		f3 := f2
		f3.Path, f3.CRC = a+"/hello.txt/3", 9
		if d, err := db.BackupPutFile(ctx, f3); err != nil || d != f2.Path {
			t.Fatalf("displaced %q %v", d, err)
		}
		// 1031 drops the pending upload; the verified copy stays.
		ok, d, err := db.BackupFailFile(ctx, a, "hello.txt", now)
		if err != nil || !ok || d != f3.Path {
			t.Fatalf("fail: %v %q %v", ok, d, err)
		}
		got, _ = db.BackupFile(ctx, a, "hello.txt")
		if !got.Verified || got.Status != store.BackupVerified || got.Path != f.Path || got.Pending != nil {
			t.Fatalf("after failed re-upload %+v", got)
		}
		// 1029 swaps a pending upload in as version 2; version 1 stays.
		if _, err := db.BackupPutFile(ctx, f2); err != nil {
			t.Fatal(err)
		}
		v, err = db.BackupConfirmFile(ctx, a, "hello.txt", now.Add(time.Hour))
		if err != nil || v != 2 {
			t.Fatalf("confirm re-upload: %v %v", v, err)
		}
		vs, err := db.BackupVersions(ctx, a, "hello.txt")
		if err != nil || len(vs) != 2 || vs[0].Version != 1 || vs[0].Path != f.Path || vs[0].CRC != 0xffffffff ||
			vs[1].Version != 2 || vs[1].Path != f2.Path || vs[1].Size != 40 || string(vs[1].AtRestKey) != "k" ||
			!vs[1].VerifiedAt.Equal(now.Add(time.Hour)) || !vs[1].UploadedAt.Equal(f2.UploadedAt) {
			t.Fatalf("versions %+v %v", vs, err)
		}
		if refs, _ := db.BackupBlobPaths(ctx); !refs[f.Path] || !refs[f2.Path] {
			t.Fatalf("version blobs not referenced: %v", refs)
		}
		got, _ = db.BackupFile(ctx, a, "hello.txt")
		if !got.Verified || got.Path != f2.Path || got.Size != 40 || got.CRC != 7 || string(got.AtRestKey) != "k" ||
			!got.UploadedAt.Equal(f2.UploadedAt) || got.Pending != nil || got.Attempts != 4 {
			t.Fatalf("after confirmed re-upload %+v", got)
		}
		if _, err := db.BackupPutFile(ctx, store.BackupFile{ClientID: b, FileName: "hello.txt", Path: b + "/hello.txt", UploadedAt: now}); err != nil {
			t.Fatal(err)
		}
		// An unverified upload is replaced by the next one, which returns it.
		if d, err := db.BackupPutFile(ctx, store.BackupFile{ClientID: b, FileName: "hello.txt", Path: b + "/hello.txt/2", UploadedAt: now}); err != nil || d != b+"/hello.txt" {
			t.Fatalf("displaced %q %v", d, err)
		}
		ok, d, err = db.BackupFailFile(ctx, b, "hello.txt", now)
		if err != nil || !ok || d != b+"/hello.txt/2" {
			t.Fatalf("fail: %v %q %v", ok, d, err)
		}
		if got, _ := db.BackupFile(ctx, b, "hello.txt"); got.Status != store.BackupFailed || got.Verified {
			t.Fatalf("after 1031 %+v", got)
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

// Uploads of one name racing each other (one client, or several daemons on
// PostgreSQL): every blob but the one the row names is handed back exactly
// once, so the row and the blobs kept always describe the same upload.
func TestBackupPutFileRace(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		const a = "1f93925f-86d8-432a-ad42-d24db9eb1a27"
		if err := db.BackupRegister(ctx, a, "racer", now); err != nil {
			t.Fatal(err)
		}
		for _, verifiedFirst := range []bool{false, true} {
			name := fmt.Sprintf("f-%v", verifiedFirst)
			created, displaced := map[string]bool{}, map[string]bool{}
			if verifiedFirst {
				if _, err := db.BackupPutFile(ctx, store.BackupFile{ClientID: a, FileName: name, Path: name + "/v", UploadedAt: now}); err != nil {
					t.Fatal(err)
				}
				if v, err := db.BackupConfirmFile(ctx, a, name, now); v != 1 || err != nil {
					t.Fatal(v, err)
				}
			}
			const n = 8
			var mu sync.Mutex
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p := fmt.Sprintf("%s/%d", name, i)
					d, err := db.BackupPutFile(ctx, store.BackupFile{ClientID: a, FileName: name, Path: p, Size: int64(i), CRC: uint32(i), UploadedAt: now})
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						t.Error(err)
						return
					}
					created[p] = true
					if d != "" {
						if displaced[d] {
							t.Errorf("%s handed back twice", d)
						}
						displaced[d] = true
					}
				}()
			}
			wg.Wait()
			got, err := db.BackupFile(ctx, a, name)
			if err != nil {
				t.Fatal(err)
			}
			live := got.Path
			if verifiedFirst {
				if got.Path != name+"/v" || got.Pending == nil {
					t.Fatalf("verified copy not kept: %+v", got)
				}
				live = got.Pending.Path
			}
			var kept []string
			for p := range created {
				if !displaced[p] {
					kept = append(kept, p)
				}
			}
			if len(kept) != 1 || kept[0] != live {
				t.Fatalf("blobs not handed back: %v, row names %q", kept, live)
			}
			want := live[len(name)+1:]
			size := got.Size
			if verifiedFirst {
				size = got.Pending.Size
			}
			if fmt.Sprint(size) != want || got.Attempts != n+btoi(verifiedFirst) {
				t.Fatalf("row mixes uploads: %+v (path %q)", got, live)
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The bad-padding count is kept in the store, so daemons sharing it agree;
// it restarts after the window.
func TestBackupPaddingFailures(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		const a, b = "1f93925f-86d8-432a-ad42-d24db9eb1a27", "00000000-0000-4000-8000-000000000001"
		for _, id := range []string{a, b} {
			if err := db.BackupRegister(ctx, id, "x", now); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := db.BackupPaddingFailures(ctx, a, now, time.Hour); n != 0 || err != nil {
			t.Fatal(n, err)
		}
		for i := 1; i <= 3; i++ {
			n, err := db.BackupPaddingFailure(ctx, a, now.Add(time.Duration(i)*time.Minute), time.Hour)
			if err != nil || n != i {
				t.Fatalf("failure %d: %d %v", i, n, err)
			}
		}
		// A clock slightly behind counts in the window instead of resetting it.
		if n, err := db.BackupPaddingFailure(ctx, a, now.Add(-time.Second), time.Hour); n != 4 || err != nil {
			t.Fatal(n, err)
		}
		if n, _ := db.BackupPaddingFailures(ctx, a, now.Add(30*time.Minute), time.Hour); n != 4 {
			t.Fatalf("count %d", n)
		}
		if n, _ := db.BackupPaddingFailures(ctx, b, now, time.Hour); n != 0 {
			t.Fatalf("other client %d", n)
		}
		if n, _ := db.BackupPaddingFailures(ctx, a, now.Add(62*time.Minute), time.Hour); n != 0 {
			t.Fatalf("after the window %d", n)
		}
		if n, err := db.BackupPaddingFailure(ctx, a, now.Add(2*time.Hour), time.Hour); n != 1 || err != nil {
			t.Fatalf("new window %d %v", n, err)
		}
		// Concurrent failures (several daemons) are all counted.
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := db.BackupPaddingFailure(ctx, b, now, time.Hour); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n, _ := db.BackupPaddingFailures(ctx, b, now, time.Hour); n != 10 {
			t.Fatalf("concurrent failures counted %d, want 10", n)
		}
	})
}

// Versions: numbered per file, kept by every upload and status request,
// removed only by the retention policy (never the newest), usage summed.
func TestBackupVersionsAndRetention(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		const a, b = "1f93925f-86d8-432a-ad42-d24db9eb1a27", "00000000-0000-4000-8000-000000000001"
		for _, id := range []string{a, b} {
			if err := db.BackupRegister(ctx, id, "v", t0); err != nil {
				t.Fatal(err)
			}
		}
		// Five verified versions of a/doc, one a day; one of b/doc.
		for i := range 5 {
			at := t0.Add(time.Duration(i) * 24 * time.Hour)
			if _, err := db.BackupPutFile(ctx, store.BackupFile{ClientID: a, FileName: "doc", Path: fmt.Sprintf("a/%d", i+1),
				Size: int64(100 * (i + 1)), PlainSize: int64(90 * (i + 1)), CRC: uint32(i), UploadKey: []byte("k"), UploadedAt: at}); err != nil {
				t.Fatal(err)
			}
			if v, err := db.BackupConfirmFile(ctx, a, "doc", at); err != nil || v != int64(i+1) {
				t.Fatalf("version %d: %v %v", i+1, v, err)
			}
		}
		if _, err := db.BackupPutFile(ctx, store.BackupFile{ClientID: b, FileName: "doc", Path: "b/1", Size: 7, PlainSize: -1, UploadedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if v, err := db.BackupConfirmFile(ctx, b, "doc", t0); err != nil || v != 1 {
			t.Fatal(v, err)
		}
		// A failed re-upload and a pending one add no version.
		if _, err := db.BackupPutFile(ctx, store.BackupFile{ClientID: a, FileName: "doc", Path: "a/x", Size: 3, UploadedAt: t0}); err != nil {
			t.Fatal(err)
		}
		vs, err := db.BackupVersions(ctx, a, "")
		if err != nil || len(vs) != 5 || vs[4].Version != 5 || vs[4].PlainSize != 450 || string(vs[4].UploadKey) != "k" {
			t.Fatalf("versions %+v %v", vs, err)
		}
		if vb, _ := db.BackupVersions(ctx, b, "doc"); len(vb) != 1 || vb[0].PlainSize != -1 {
			t.Fatalf("b's versions %+v", vb)
		}
		u, err := db.BackupUsage(ctx)
		if err != nil || u[a] != (store.BackupUsage{Files: 1, Versions: 5, VersionBytes: 1500, OtherBytes: 3}) ||
			u[b] != (store.BackupUsage{Files: 1, Versions: 1, VersionBytes: 7}) {
			t.Fatalf("usage %+v %v", u, err)
		}

		now := t0.Add(10 * 24 * time.Hour)
		// Keep 4, or anything verified within 8 days: only version 1 (10
		// days old, fifth newest) is beyond both.
		gone, err := db.BackupPruneVersions(ctx, store.BackupRetention{Keep: 4, MaxAge: 8 * 24 * time.Hour}, now)
		if err != nil || len(gone) != 1 || gone[0].Version != 1 {
			t.Fatalf("pruned %+v %v", gone, err)
		}
		// Count only: keep the newest 2.
		gone, err = db.BackupPruneVersions(ctx, store.BackupRetention{Keep: 2}, now)
		if err != nil || len(gone) != 2 || gone[0].Version != 3 || gone[1].Version != 2 {
			t.Fatalf("pruned %+v %v", gone, err)
		}
		// Age only, everything old: the newest of each file stays.
		gone, err = db.BackupPruneVersions(ctx, store.BackupRetention{MaxAge: time.Hour}, now)
		if err != nil || len(gone) != 1 || gone[0].Version != 4 {
			t.Fatalf("pruned %+v %v", gone, err)
		}
		if vs, _ := db.BackupVersions(ctx, "", ""); len(vs) != 2 || vs[0].ClientID != b || vs[1].Version != 5 {
			t.Fatalf("left %+v", vs)
		}
		// Numbering continues past pruned versions.
		if _, _, err := db.BackupFailFile(ctx, a, "doc", now); err != nil {
			t.Fatal(err)
		}
		if _, err := db.BackupPutFile(ctx, store.BackupFile{ClientID: a, FileName: "doc", Path: "a/6", UploadedAt: now}); err != nil {
			t.Fatal(err)
		}
		if v, err := db.BackupConfirmFile(ctx, a, "doc", now); err != nil || v != 6 {
			t.Fatalf("after pruning: version %v %v", v, err)
		}
	})
}
