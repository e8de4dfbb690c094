package store

import "time"

// WriteReplayBatch runs one group commit of the e2eeftp replay log with
// the given keys (all seen at now) and returns each one's freshness and
// error, so tests can build batches the batcher would only make by chance.
func (db *DB) WriteReplayBatch(ephs [][]byte, now time.Time) ([]bool, []error) {
	batch := make([]*replayReq, len(ephs))
	for i, e := range ephs {
		batch[i] = &replayReq{eph: e, now: now}
	}
	db.writeReplayBatch(batch)
	fresh, errs := make([]bool, len(batch)), make([]error, len(batch))
	for i, r := range batch {
		fresh[i], errs[i] = r.fresh, r.err
	}
	return fresh, errs
}

// MaxReplayBatch is maxReplayBatch.
const MaxReplayBatch = maxReplayBatch

// SetReplayLinger sets how long a replay batch may wait for announced
// keys (replayLinger unless set).
func (db *DB) SetReplayLinger(d time.Duration) {
	db.replay.mu.Lock()
	db.replay.linger = d
	db.replay.mu.Unlock()
}

// ReplayQueued returns how many replay records wait for their batch.
func (db *DB) ReplayQueued() int {
	db.replay.mu.Lock()
	defer db.replay.mu.Unlock()
	return len(db.replay.queue)
}

// ReplayComing returns how many announced replay keys (E2EEFTPReplayAhead)
// are still to come.
func (db *DB) ReplayComing() int {
	db.replay.mu.Lock()
	defer db.replay.mu.Unlock()
	return db.replay.coming
}
