package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// E2EEFTPReplayRecord records a client hello's ephemeral key as seen at
// now. It reports fresh=false when the key is already recorded (by this
// daemon or any other sharing the database): the hello is a replay. The
// row is committed before it returns, so a crash right after cannot
// forget it.
//
// Concurrent calls are group-committed: while one batch is being written,
// the keys that arrive queue up and go in the next statement together, so
// a burst of handshakes costs one multi-row INSERT and one commit (one WAL
// write on SQLite, one round trip on PostgreSQL) rather than one each. A
// lone call is written at once, as before.
func (db *DB) E2EEFTPReplayRecord(ctx context.Context, eph []byte, now time.Time) (fresh bool, err error) {
	if len(eph) != 32 {
		return false, fmt.Errorf("store: e2eeftp replay: key of %d bytes, want 32", len(eph))
	}
	return db.replayRecord(ctx, eph, now, false)
}

// replayRecord queues eph and waits for its batch; announced says the
// caller's announcement (E2EEFTPReplayAhead) ends with this key, under the
// same lock that queues it, so a lingering batch never sees the
// announcement gone before the key is there.
func (db *DB) replayRecord(ctx context.Context, eph []byte, now time.Time, announced bool) (fresh bool, err error) {
	req := &replayReq{eph: eph, now: now, done: make(chan struct{})}
	db.replay.add(db, req, announced)
	select {
	case <-req.done:
		return req.fresh, req.err
	case <-ctx.Done():
		// The key may still be committed by its batch: harmless, the
		// hello is not answered and a client draws a new key anyway.
		return false, ctx.Err()
	}
}

const replayInsert = `INSERT INTO e2eeftp_replay (eph, seen_at) VALUES ($1, $2) ON CONFLICT (eph) DO NOTHING`

// maxReplayBatch bounds one group commit: one statement of at most this
// many rows (a power of two, see replayInserts).
const maxReplayBatch = 64

// replayInserts holds the group commit's statement texts, one per power of
// two from 2 up to maxReplayBatch: a batch of n keys runs the text for the next
// power of two, the last key repeated to fill it (a repeat inserts nothing
// and returns nothing, whatever the engine). So there are only a few texts
// to prepare and cache (stmtcache.go), and a batch is one statement, one
// commit, whatever its size.
var replayInserts = func() map[int]string {
	m := make(map[int]string)
	for n := 2; n <= maxReplayBatch; n *= 2 {
		var b strings.Builder
		b.WriteString("INSERT INTO e2eeftp_replay (eph, seen_at) VALUES ")
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "($%d, $%d)", 2*i+1, 2*i+2)
		}
		b.WriteString(" ON CONFLICT (eph) DO NOTHING RETURNING eph")
		m[n] = b.String()
	}
	return m
}()

type replayReq struct {
	eph    []byte
	now    time.Time
	queued time.Time // when add took it (the linger's clock)
	fresh  bool
	err    error
	done   chan struct{}
}

// replayLinger bounds how long a batch waits for announced keys
// (E2EEFTPReplayAhead) after its first key was queued.
const replayLinger = 2 * time.Millisecond

// replayIdle is how long the batcher's goroutine waits for more keys
// after its queue ran empty.
const replayIdle = 100 * time.Millisecond

// replayBatcher queues replay records; at most one batch is written at a
// time, by a goroutine that runs while keys keep coming (and replayIdle
// after the last).
type replayBatcher struct {
	mu      sync.Mutex
	queue   []*replayReq
	running bool
	// coming counts the announced keys (E2EEFTPReplayAhead) not yet
	// queued or withdrawn; kick wakes a lingering batch when a key is
	// queued or an announcement withdrawn.
	coming int
	kick   chan struct{}
	// linger is replayLinger unless a test set another bound.
	linger time.Duration
	// batches and keys count the written batches and their keys (for
	// the benchmarks' keys-per-batch figure).
	batches, keys int64
}

// E2EEFTPReplayAhead announces that E2EEFTPReplayRecord will be asked
// shortly to record one more key: a handshake whose public-key work (the
// signature check, our key pair, the shared secret: ≈ 100–150 µs of CPU)
// is under way. While announced keys are still to come, the batcher holds
// a batch open for them, at most replayLinger after its first key, so
// that concurrent handshakes share one statement and one commit instead of
// each paying its own (without it, 8 concurrent clients made batches of
// ~1.1 keys: a key's insert is shorter than the gap between handshakes).
// A lone handshake announces nothing that is still to come when its own
// key is queued, so it is written at once as before.
//
// The announcement ends exactly once: with its key (Record) or without
// (Withdraw, also safe after Record and on a nil announcement). Holding a
// batch open only delays the commit: every key is still committed before
// its Record returns.
func (db *DB) E2EEFTPReplayAhead() *ReplayAnnouncement {
	b := &db.replay
	b.mu.Lock()
	b.coming++
	b.mu.Unlock()
	return &ReplayAnnouncement{db: db}
}

// ReplayAnnouncement is one key announced by E2EEFTPReplayAhead.
type ReplayAnnouncement struct {
	db    *DB
	ended atomic.Bool
}

// Record is E2EEFTPReplayRecord for the announced key; the announcement
// ends as the key is queued. After Withdraw it records without one.
func (a *ReplayAnnouncement) Record(ctx context.Context, eph []byte, now time.Time) (fresh bool, err error) {
	if len(eph) != 32 {
		a.Withdraw()
		return false, fmt.Errorf("store: e2eeftp replay: key of %d bytes, want 32", len(eph))
	}
	return a.db.replayRecord(ctx, eph, now, a.ended.CompareAndSwap(false, true))
}

// Withdraw ends the announcement without a key (a no-op once ended).
func (a *ReplayAnnouncement) Withdraw() {
	if a == nil || !a.ended.CompareAndSwap(false, true) {
		return
	}
	b := &a.db.replay
	b.mu.Lock()
	b.coming--
	b.wake()
	b.mu.Unlock()
}

// wake tells a lingering batch to look again; b.mu is held.
func (b *replayBatcher) wake() {
	if b.running {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

// ReplayBatchStats returns how many replay batches were written and how
// many keys they held, since the store was opened.
func (db *DB) ReplayBatchStats() (batches, keys int64) {
	db.replay.mu.Lock()
	defer db.replay.mu.Unlock()
	return db.replay.batches, db.replay.keys
}

func (b *replayBatcher) add(db *DB, r *replayReq, announced bool) {
	r.queued = time.Now()
	b.mu.Lock()
	if announced {
		b.coming--
	}
	if b.kick == nil {
		b.kick = make(chan struct{}, 1)
	}
	b.queue = append(b.queue, r)
	start := !b.running
	b.running = true
	if !start {
		b.wake()
	}
	b.mu.Unlock()
	if start {
		go b.run(db)
	}
}

func (b *replayBatcher) run(db *DB) {
	var linger *time.Timer
	idle := false
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	// sleep waits for d or a kick, whichever comes first; true if d ran out.
	sleep := func(d time.Duration) bool {
		if linger == nil {
			linger = time.NewTimer(d)
		} else {
			linger.Reset(d)
		}
		select {
		case <-b.kick:
			return false
		case <-linger.C:
			return true
		}
	}
	for {
		b.mu.Lock()
		n := min(len(b.queue), maxReplayBatch)
		if n == 0 {
			if idle {
				b.running = false
				b.mu.Unlock()
				return
			}
			// Stay for replayIdle before exiting: a goroutine that
			// runs SQLite grows its stack by several copies, which a
			// new goroutine per burst paid every time.
			b.mu.Unlock()
			idle = sleep(replayIdle)
			continue
		}
		idle = false
		if b.coming > 0 && n < maxReplayBatch {
			// Announced keys are still to come: wait for them (or one
			// more key, or a withdrawal), up to the linger.
			bound := b.linger
			if bound == 0 {
				bound = replayLinger
			}
			if wait := bound - time.Since(b.queue[0].queued); wait > 0 {
				b.mu.Unlock()
				sleep(wait)
				continue
			}
		}
		batch := b.queue[:n:n]
		b.queue = b.queue[n:]
		b.batches++
		b.keys += int64(n)
		b.mu.Unlock()
		db.writeReplayBatch(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

// writeReplayBatch inserts the batch (at most maxReplayBatch keys) in one
// autocommitted statement; every request gets its own freshness, or the
// batch's error. The statement returns the keys it inserted: a key is
// fresh for the first request of the batch that carries it and was not
// stored before. The write outlives the callers' contexts (a caller that
// gave up only stops waiting).
//
// It used to be one INSERT per key inside BEGIN … COMMIT, each INSERT
// parsed anew: on SQLite a batch of four cost 54 µs of CPU per key against
// 63 µs alone, so bursts of handshakes hardly shared anything
// (docs/performance.md, "e2eeftp SEND and LIST").
func (db *DB) writeReplayBatch(batch []*replayReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fail := func(err error) {
		for _, r := range batch {
			r.fresh, r.err = false, fmt.Errorf("store: e2eeftp replay record: %w", err)
		}
	}
	if len(batch) == 1 {
		// Alone: the plain INSERT, whose row count is the answer (a
		// RETURNING query costs a few more µs and allocations).
		r := batch[0]
		res, err := db.ExecContext(ctx, replayInsert, r.eph, TimeText(r.now))
		if err != nil {
			fail(err)
			return
		}
		n, err := res.RowsAffected()
		if err != nil {
			fail(err)
			return
		}
		r.fresh = n == 1
		return
	}
	size := 2
	for size < len(batch) {
		size *= 2
	}
	// Rows in key order: two daemons' batches on one PostgreSQL that hold
	// the same keys then take their row locks in the same order and cannot
	// deadlock (40P01 would refuse those handshakes). Freshness is looked
	// up by key below, so the order costs nothing.
	order := slices.Clone(batch)
	slices.SortFunc(order, func(a, b *replayReq) int { return bytes.Compare(a.eph, b.eph) })
	args := make([]any, 0, 2*size)
	for _, r := range order {
		args = append(args, r.eph, TimeText(r.now))
	}
	for padEph, padAt := args[len(args)-2], args[len(args)-1]; len(args) < 2*size; {
		args = append(args, padEph, padAt)
	}
	rows, err := db.QueryContext(ctx, replayInserts[size], args...)
	if err != nil {
		fail(err)
		return
	}
	defer rows.Close()
	inserted := make(map[[32]byte]bool, len(batch))
	for rows.Next() {
		var eph []byte
		if err := rows.Scan(&eph); err != nil {
			fail(err)
			return
		}
		inserted[[32]byte(eph)] = true
	}
	// On SQLite the statement commits as its last row is stepped past: a
	// failed commit shows here.
	if err := rows.Err(); err != nil {
		fail(err)
		return
	}
	if err := rows.Close(); err != nil {
		fail(err)
		return
	}
	for _, r := range batch {
		k := [32]byte(r.eph)
		r.fresh = inserted[k]
		inserted[k] = false // a repeat within the batch is a replay
	}
}

// E2EEFTPReplayPrune deletes the keys seen before cutoff and returns how
// many went.
func (db *DB) E2EEFTPReplayPrune(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := db.ExecContext(ctx, `DELETE FROM e2eeftp_replay WHERE seen_at < $1`, TimeText(cutoff))
	if err != nil {
		return 0, fmt.Errorf("store: e2eeftp replay prune: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: e2eeftp replay prune: %w", err)
	}
	return n, nil
}

// E2EEFTPReplayCount returns how many keys are recorded.
func (db *DB) E2EEFTPReplayCount(ctx context.Context) (int64, error) {
	var n int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM e2eeftp_replay`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: e2eeftp replay count: %w", err)
	}
	return n, nil
}

// E2EEFTPClient is one authorized (or revoked) e2eeftp client key.
type E2EEFTPClient struct {
	PublicKey string // standard base64 of the raw 32-byte key
	Comment   string
	Added     time.Time
	Revoked   time.Time // zero while authorized
}

// E2EEFTPAuthorizeClient authorizes key, also one revoked before (an
// operator's explicit decision); it reports whether the key was not
// authorized until now.
func (db *DB) E2EEFTPAuthorizeClient(ctx context.Context, key, comment string, now time.Time) (added bool, err error) {
	var was string
	err = db.QueryRowContext(ctx, `SELECT revoked_at FROM e2eeftp_clients WHERE public_key = $1`, key).Scan(&was)
	existed := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("store: e2eeftp authorize: %w", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO e2eeftp_clients (public_key, comment, added_at, revoked_at)
		VALUES ($1, $2, $3, '')
		ON CONFLICT (public_key) DO UPDATE SET revoked_at = '',
			comment = CASE WHEN excluded.comment = '' THEN e2eeftp_clients.comment ELSE excluded.comment END`,
		key, comment, TimeText(now)); err != nil {
		return false, fmt.Errorf("store: e2eeftp authorize: %w", err)
	}
	return !existed || was != "", nil
}

// E2EEFTPImportClient records key as authorized unless the store knows it
// already (authorized or revoked): a daemon's file may be older than a
// revocation made elsewhere. It reports whether a row was added.
func (db *DB) E2EEFTPImportClient(ctx context.Context, key, comment string, now time.Time) (bool, error) {
	res, err := db.ExecContext(ctx, `INSERT INTO e2eeftp_clients (public_key, comment, added_at, revoked_at)
		VALUES ($1, $2, $3, '') ON CONFLICT (public_key) DO NOTHING`, key, comment, TimeText(now))
	if err != nil {
		return false, fmt.Errorf("store: e2eeftp import client: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// E2EEFTPRevokeClient revokes key; it reports whether it was authorized.
func (db *DB) E2EEFTPRevokeClient(ctx context.Context, key string, now time.Time) (bool, error) {
	res, err := db.ExecContext(ctx, `UPDATE e2eeftp_clients SET revoked_at = $2 WHERE public_key = $1 AND revoked_at = ''`,
		key, TimeText(now))
	if err != nil {
		return false, fmt.Errorf("store: e2eeftp revoke client: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// E2EEFTPClients lists every known key, authorized and revoked.
func (db *DB) E2EEFTPClients(ctx context.Context) ([]E2EEFTPClient, error) {
	return queryAll(ctx, db, "e2eeftp clients",
		`SELECT public_key, comment, added_at, revoked_at FROM e2eeftp_clients ORDER BY added_at, public_key`, nil,
		func(r rowScanner) (E2EEFTPClient, error) {
			var c E2EEFTPClient
			var added, revoked string
			if err := r.Scan(&c.PublicKey, &c.Comment, &added, &revoked); err != nil {
				return c, err
			}
			var err error
			if c.Added, err = ParseTime(added); err != nil {
				return c, err
			}
			c.Revoked, err = ParseTime(revoked)
			return c, err
		})
}

// E2EEFTPAuthorizedKeys lists the keys authorized now.
func (db *DB) E2EEFTPAuthorizedKeys(ctx context.Context) ([]string, error) {
	return queryAll(ctx, db, "e2eeftp authorized keys",
		`SELECT public_key FROM e2eeftp_clients WHERE revoked_at = ''`, nil,
		func(r rowScanner) (string, error) {
			var k string
			err := r.Scan(&k)
			return k, err
		})
}
