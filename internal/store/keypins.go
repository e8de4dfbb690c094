package store

import (
	"context"
	"fmt"
	"time"
)

// KeyPin is the fingerprint recorded for one shared key.
type KeyPin struct {
	Name        string
	Fingerprint string
	PinnedAt    time.Time
}

// PinKey records fingerprint for the key called name unless one is recorded
// already, and returns the recorded one: the caller compares it with its
// own. Concurrent first daemons agree on whichever insert won.
func (db *DB) PinKey(ctx context.Context, name, fingerprint string, now time.Time) (pinned string, err error) {
	if _, err := db.ExecContext(ctx,
		`INSERT INTO key_pins (name, fingerprint, pinned_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
		name, fingerprint, TimeText(now)); err != nil {
		return "", fmt.Errorf("store: pin key %s: %w", name, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT fingerprint FROM key_pins WHERE name = $1`, name).Scan(&pinned); err != nil {
		return "", fmt.Errorf("store: pin key %s: %w", name, err)
	}
	return pinned, nil
}

// UnpinKey forgets the fingerprint recorded for name (after a deliberate
// key rotation); it reports whether one was recorded.
func (db *DB) UnpinKey(ctx context.Context, name string) (bool, error) {
	res, err := db.ExecContext(ctx, `DELETE FROM key_pins WHERE name = $1`, name)
	if err != nil {
		return false, fmt.Errorf("store: unpin key %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// KeyPins lists the recorded fingerprints by name.
func (db *DB) KeyPins(ctx context.Context) ([]KeyPin, error) {
	return queryAll(ctx, db, "key pins", `SELECT name, fingerprint, pinned_at FROM key_pins ORDER BY name`, nil,
		func(rows rowScanner) (KeyPin, error) {
			var p KeyPin
			var at string
			if err := rows.Scan(&p.Name, &p.Fingerprint, &at); err != nil {
				return p, err
			}
			t, err := ParseTime(at)
			p.PinnedAt = t
			return p, err
		})
}
