package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

func e2eeftpKey(i byte) []byte {
	k := make([]byte, 32)
	k[0], k[31] = i, 0xa5
	return k
}

func TestE2EEFTPReplayRecord(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 4, 12, 10, 0, 0, 0, time.UTC)
		fresh, err := db.E2EEFTPReplayRecord(ctx, e2eeftpKey(1), now)
		if err != nil || !fresh {
			t.Fatalf("first record: fresh=%v err=%v", fresh, err)
		}
		fresh, err = db.E2EEFTPReplayRecord(ctx, e2eeftpKey(1), now.Add(time.Hour))
		if err != nil || fresh {
			t.Fatalf("repeat: fresh=%v err=%v", fresh, err)
		}
		fresh, err = db.E2EEFTPReplayRecord(ctx, e2eeftpKey(2), now)
		if err != nil || !fresh {
			t.Fatalf("other key: fresh=%v err=%v", fresh, err)
		}
		if _, err := db.E2EEFTPReplayRecord(ctx, make([]byte, 31), now); err == nil {
			t.Fatal("31-byte key accepted")
		}
		if n, err := db.E2EEFTPReplayCount(ctx); err != nil || n != 2 {
			t.Fatalf("count %d %v", n, err)
		}
	})
}

func TestE2EEFTPReplayPrune(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		base := time.Date(2026, 4, 12, 10, 0, 0, 0, time.UTC)
		// Whole seconds next to fractions: a layout that drops trailing
		// zeros would sort "…:00Z" after "…:00.5Z" and prune the wrong rows.
		at := []time.Time{base, base.Add(500 * time.Millisecond), base.Add(time.Second), base.Add(48 * time.Hour)}
		for i, ts := range at {
			if fresh, err := db.E2EEFTPReplayRecord(ctx, e2eeftpKey(byte(i)), ts); err != nil || !fresh {
				t.Fatalf("record %d: %v %v", i, fresh, err)
			}
		}
		n, err := db.E2EEFTPReplayPrune(ctx, base.Add(time.Second))
		if err != nil || n != 2 {
			t.Fatalf("pruned %d %v, want the two rows before the cutoff", n, err)
		}
		// The pruned keys are forgotten; the others are still refused.
		for i, want := range []bool{true, true, false, false} {
			fresh, err := db.E2EEFTPReplayRecord(ctx, e2eeftpKey(byte(i)), base.Add(72*time.Hour))
			if err != nil || fresh != want {
				t.Fatalf("key %d after prune: fresh=%v want %v (%v)", i, fresh, want, err)
			}
		}
		// A cutoff in another zone means the same instant: keys 2 (+1 s) and
		// 3 (+48 h) go, keys 0 and 1 (re-recorded at +72 h) stay.
		n, err = db.E2EEFTPReplayPrune(ctx, base.Add(49*time.Hour).In(time.FixedZone("x", 5*3600)))
		if err != nil || n != 2 {
			t.Fatalf("zoned prune: %d %v", n, err)
		}
	})
}

// Two daemons racing on the same key: exactly one wins.
func TestE2EEFTPReplayRace(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fresh, err := db.E2EEFTPReplayRecord(ctx, e2eeftpKey(7), time.Now())
				if err != nil {
					t.Error(err)
				}
				if fresh {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d winners, want 1", wins.Load())
		}
	})
}

// Group commit keeps every caller's answer exact: of many concurrent
// records of one key exactly one is fresh, and distinct keys are all fresh.
func TestE2EEFTPReplayRecordConcurrent(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var fresh atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 40; i++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				f, err := db.E2EEFTPReplayRecord(ctx, e2eeftpKey(200), time.Now())
				if err != nil {
					t.Error(err)
				}
				if f {
					fresh.Add(1)
				}
			}()
			go func(i byte) {
				defer wg.Done()
				if f, err := db.E2EEFTPReplayRecord(ctx, e2eeftpKey(i), time.Now()); err != nil || !f {
					t.Errorf("distinct key %d: fresh=%v err=%v", i, f, err)
				}
			}(byte(i))
		}
		wg.Wait()
		if n := fresh.Load(); n != 1 {
			t.Fatalf("%d of 40 concurrent records of one key were fresh", n)
		}
		if n, err := db.E2EEFTPReplayCount(ctx); err != nil || n != 41 {
			t.Fatalf("stored %d keys, want 41 (%v)", n, err)
		}
	})
}

// An announced key (E2EEFTPReplayAhead) holds the batch open: two
// handshakes announced together share one commit even when the second
// key comes well after the first; a withdrawal without a key releases the
// batch; and the linger bounds the wait for a key that never comes.
func TestE2EEFTPReplayAheadBatches(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		res := make(chan bool, 2)
		record := func(k byte, a *store.ReplayAnnouncement) {
			f, err := a.Record(ctx, e2eeftpKey(k), time.Now())
			if err != nil {
				t.Error(err)
			}
			res <- f
		}
		queued := func(n int) {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); db.ReplayQueued() < n; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d records queued, want %d", db.ReplayQueued(), n)
				}
			}
		}
		db.SetReplayLinger(time.Hour)
		b0, k0 := db.ReplayBatchStats()
		w1, w2 := db.E2EEFTPReplayAhead(), db.E2EEFTPReplayAhead()
		go record(101, w1)
		queued(1)
		select {
		case <-res:
			t.Fatal("the first key was committed while an announced key was still to come")
		case <-time.After(50 * time.Millisecond):
		}
		go record(102, w2)
		for i := 0; i < 2; i++ {
			if !<-res {
				t.Fatal("a fresh key was not fresh")
			}
		}
		if b, k := db.ReplayBatchStats(); b-b0 != 1 || k-k0 != 2 {
			t.Fatalf("%d batches of %d keys, want 1 of 2", b-b0, k-k0)
		}

		w3, w4 := db.E2EEFTPReplayAhead(), db.E2EEFTPReplayAhead()
		go record(103, w3)
		queued(1)
		w4.Withdraw()
		w4.Withdraw() // a second call changes nothing
		if !<-res {
			t.Fatal("key 103 not fresh")
		}

		db.SetReplayLinger(20 * time.Millisecond)
		never := db.E2EEFTPReplayAhead()
		defer never.Withdraw()
		if f, err := db.E2EEFTPReplayRecord(ctx, e2eeftpKey(104), time.Now()); err != nil || !f {
			t.Fatalf("with an announcement outstanding: fresh=%v err=%v", f, err)
		}
	})
}

// Every announcement ends exactly once however handshakes end it, even
// when its Record and its Withdraw race (the deferred Withdraw of a
// handshake whose check is still queueing the key), when Record's context
// is already cancelled, or when Record refuses the key: afterwards none is
// outstanding (a leaked one would hold every later batch open for the
// linger, an extra end would stop batches from waiting at all), and a lone
// key is written at once under a 1 h linger.
func TestE2EEFTPReplayAnnouncementsEndOnce(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		db.SetReplayLinger(20 * time.Millisecond)
		var wg sync.WaitGroup
		for i := 0; i < 60; i++ {
			a := db.E2EEFTPReplayAhead()
			key := e2eeftpKey(byte(i))
			key[1] = 0xee
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch i % 5 {
				case 0: // Record and Withdraw at once
					withdrawn := make(chan struct{})
					go func() { a.Withdraw(); close(withdrawn) }()
					if _, err := a.Record(ctx, key, time.Now()); err != nil {
						t.Error(err)
					}
					<-withdrawn
				case 1: // Withdraw, then Record without the announcement
					a.Withdraw()
					if f, err := a.Record(ctx, key, time.Now()); err != nil || !f {
						t.Errorf("record after withdraw: fresh=%v err=%v", f, err)
					}
				case 2: // Record, then the handshake's deferred Withdraw
					if f, err := a.Record(ctx, key, time.Now()); err != nil || !f {
						t.Errorf("record: fresh=%v err=%v", f, err)
					}
					a.Withdraw()
				case 3: // the handshake gave up before its key was written
					if _, err := a.Record(cancelled, key, time.Now()); !errors.Is(err, context.Canceled) {
						t.Errorf("record under a cancelled context: %v", err)
					}
					a.Withdraw()
				case 4: // a key Record refuses ends the announcement too
					if _, err := a.Record(ctx, key[:31], time.Now()); err == nil {
						t.Error("31-byte key recorded")
					}
				}
			}()
		}
		wg.Wait()
		if n := db.ReplayComing(); n != 0 {
			t.Fatalf("%d announcements outstanding after every handshake ended", n)
		}
		db.SetReplayLinger(time.Hour)
		got := make(chan error, 1)
		go func() {
			_, err := db.E2EEFTPReplayRecord(ctx, e2eeftpKey(250), time.Now())
			got <- err
		}()
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a lone key waited for an announcement that had ended")
		}
	})
}

// One group commit is one multi-row INSERT padded to a power of two with
// the batch's last key: every size up to the bound, with keys stored
// before and keys repeated within the batch, gives each request exactly
// the answer one INSERT per key in order would have.
func TestE2EEFTPReplayBatchExact(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now()
		key := func(batch, i int) []byte {
			k := make([]byte, 32)
			k[0], k[1], k[2], k[31] = byte(batch), byte(i), 0x5a, 0xa5
			return k
		}
		stored := 0
		for n := 1; n <= store.MaxReplayBatch; n++ {
			// Key 0 is recorded before the batch; key 1 appears twice
			// (second and last place, so the padding repeats it too).
			if f, err := db.E2EEFTPReplayRecord(ctx, key(n, 0), now); err != nil || !f {
				t.Fatalf("n=%d: seeding: fresh=%v err=%v", n, f, err)
			}
			stored++
			ephs := make([][]byte, n)
			want := make([]bool, n)
			for i := range ephs {
				ephs[i], want[i] = key(n, i), i != 0
			}
			if n >= 3 {
				ephs[n-1], want[n-1] = key(n, 1), false
			}
			fresh, errs := db.WriteReplayBatch(ephs, now)
			for i := range ephs {
				if errs[i] != nil || fresh[i] != want[i] {
					t.Fatalf("n=%d key %d: fresh=%v err=%v, want fresh=%v", n, i, fresh[i], errs[i], want[i])
				}
				if want[i] {
					stored++
				}
			}
			// The same batch again: all replays.
			fresh, errs = db.WriteReplayBatch(ephs, now)
			for i := range ephs {
				if errs[i] != nil || fresh[i] {
					t.Fatalf("n=%d again, key %d: fresh=%v err=%v", n, i, fresh[i], errs[i])
				}
			}
		}
		if c, err := db.E2EEFTPReplayCount(ctx); err != nil || c != int64(stored) {
			t.Fatalf("stored %d keys, want %d (%v)", c, stored, err)
		}
	})
}
