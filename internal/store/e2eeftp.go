package store

import (
	"context"
	"fmt"
	"time"
)

// E2EEFTPReplayRecord records a client hello's ephemeral key as seen at
// now. It reports fresh=false when the key is already recorded (by this
// daemon or any other sharing the database): the hello is a replay. The
// row is committed before it returns, so a crash right after cannot
// forget it.
func (db *DB) E2EEFTPReplayRecord(ctx context.Context, eph []byte, now time.Time) (fresh bool, err error) {
	if len(eph) != 32 {
		return false, fmt.Errorf("store: e2eeftp replay: key of %d bytes, want 32", len(eph))
	}
	res, err := db.ExecContext(ctx,
		`INSERT INTO e2eeftp_replay (eph, seen_at) VALUES ($1, $2) ON CONFLICT (eph) DO NOTHING`,
		eph, TimeText(now))
	if err != nil {
		return false, fmt.Errorf("store: e2eeftp replay record: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: e2eeftp replay record: %w", err)
	}
	return n == 1, nil
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
