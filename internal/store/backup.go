package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Backup file states: an upload is "received" once stored and answered with
// its CRC, "verified" after the client's 1029, "failed" after its 1031 (the
// blob is then removed; the row stays for audit).
const (
	BackupReceived = "received"
	BackupVerified = "verified"
	BackupFailed   = "failed"
)

// BackupClient is one registered backup client.
type BackupClient struct {
	ID        string // dashed lowercase UUID
	Name      string
	PublicKey []byte // DER as the client sent it; nil until its 1026
	AESKey    []byte // sealed by the service; nil until its 1026
	CreatedAt time.Time
	LastSeen  time.Time
}

// HasKeys reports whether the client completed its key exchange.
func (c BackupClient) HasKeys() bool { return len(c.PublicKey) > 0 && len(c.AESKey) > 0 }

// BackupFile is one stored upload of one client.
type BackupFile struct {
	ClientID   string
	FileName   string // the name in the client's folder
	Path       string // blob name
	Size       int64  // bytes stored
	CRC        uint32 // CRC-32 of the ciphertext as received
	AtRestKey  []byte // sealed AES key when the blob holds ciphertext
	Verified   bool
	Status     string
	Attempts   int
	UploadedAt time.Time
	UpdatedAt  time.Time
}

// BackupRegister adds a client. A taken id is ErrConflict.
func (db *DB) BackupRegister(ctx context.Context, id, name string, now time.Time) error {
	_, err := db.ExecContext(ctx,
		`INSERT INTO backup_clients (id, name, created_at, last_seen) VALUES ($1, $2, $3, $3)`,
		id, name, TimeText(now))
	if IsUniqueViolation(err) {
		return fmt.Errorf("backup client %s: %w", id, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store: backup register: %w", err)
	}
	return nil
}

const backupClientCols = `id, name, public_key, aes_key, created_at, last_seen`

func scanBackupClient(sc interface{ Scan(...any) error }) (BackupClient, error) {
	var c BackupClient
	var created, seen string
	if err := sc.Scan(&c.ID, &c.Name, &c.PublicKey, &c.AESKey, &created, &seen); err != nil {
		return c, err
	}
	var err error
	if c.CreatedAt, err = ParseTime(created); err != nil {
		return c, err
	}
	c.LastSeen, err = ParseTime(seen)
	return c, err
}

// BackupClient returns the client with id, or ErrNotFound.
func (db *DB) BackupClient(ctx context.Context, id string) (BackupClient, error) {
	c, err := scanBackupClient(db.QueryRowContext(ctx,
		`SELECT `+backupClientCols+` FROM backup_clients WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("backup client %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("store: backup client: %w", err)
	}
	return c, nil
}

// BackupClients lists every client, oldest first.
func (db *DB) BackupClients(ctx context.Context) ([]BackupClient, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+backupClientCols+` FROM backup_clients ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: backup clients: %w", err)
	}
	defer rows.Close()
	var out []BackupClient
	for rows.Next() {
		c, err := scanBackupClient(rows)
		if err != nil {
			return nil, fmt.Errorf("store: backup clients: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// BackupSetKeys stores a client's public key and sealed AES key, but only
// if its current public key is expectPub (nil: none yet). This compare and
// swap keeps two concurrent key exchanges from both believing they won.
// A missing client is ErrNotFound, a different current key ErrConflict.
func (db *DB) BackupSetKeys(ctx context.Context, id string, pub, aesSealed, expectPub []byte, now time.Time) error {
	var res sql.Result
	var err error
	if expectPub == nil {
		res, err = db.ExecContext(ctx, `UPDATE backup_clients SET public_key = $2, aes_key = $3, last_seen = $4
			WHERE id = $1 AND public_key IS NULL`, id, pub, aesSealed, TimeText(now))
	} else {
		res, err = db.ExecContext(ctx, `UPDATE backup_clients SET public_key = $2, aes_key = $3, last_seen = $4
			WHERE id = $1 AND public_key = $5`, id, pub, aesSealed, TimeText(now), expectPub)
	}
	if err != nil {
		return fmt.Errorf("store: backup set keys: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	if _, err := db.BackupClient(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("backup client %s: key changed meanwhile: %w", id, ErrConflict)
}

// BackupTouch sets a client's last_seen.
func (db *DB) BackupTouch(ctx context.Context, id string, now time.Time) error {
	res, err := db.ExecContext(ctx, `UPDATE backup_clients SET last_seen = $2 WHERE id = $1`, id, TimeText(now))
	if err != nil {
		return fmt.Errorf("store: backup touch: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("backup client %s: %w", id, ErrNotFound)
	}
	return nil
}

// BackupPutFile records an upload that was just stored (status received,
// attempts counting every upload of that name) and the client's last_seen,
// in one transaction.
func (db *DB) BackupPutFile(ctx context.Context, f BackupFile) error {
	now := TimeText(f.UploadedAt)
	return db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO backup_files
			(client_id, file_name, path, size, crc, at_rest_key, verified, status, attempts, uploaded_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7, 1, $8, $8)
			ON CONFLICT (client_id, file_name) DO UPDATE SET
				path = excluded.path, size = excluded.size, crc = excluded.crc,
				at_rest_key = excluded.at_rest_key, verified = FALSE, status = excluded.status,
				attempts = backup_files.attempts + 1, uploaded_at = excluded.uploaded_at,
				updated_at = excluded.updated_at`,
			f.ClientID, f.FileName, f.Path, f.Size, int64(f.CRC), f.AtRestKey, BackupReceived, now)
		if err != nil {
			return fmt.Errorf("store: backup put file: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE backup_clients SET last_seen = $2 WHERE id = $1`, f.ClientID, now); err != nil {
			return fmt.Errorf("store: backup put file: %w", err)
		}
		return nil
	})
}

const backupFileCols = `client_id, file_name, path, size, crc, at_rest_key, verified, status, attempts, uploaded_at, updated_at`

func scanBackupFile(sc interface{ Scan(...any) error }) (BackupFile, error) {
	var f BackupFile
	var crc int64
	var up, upd string
	if err := sc.Scan(&f.ClientID, &f.FileName, &f.Path, &f.Size, &crc, &f.AtRestKey, &f.Verified, &f.Status,
		&f.Attempts, &up, &upd); err != nil {
		return f, err
	}
	f.CRC = uint32(crc)
	var err error
	if f.UploadedAt, err = ParseTime(up); err != nil {
		return f, err
	}
	f.UpdatedAt, err = ParseTime(upd)
	return f, err
}

// BackupFile returns one client's file, or ErrNotFound.
func (db *DB) BackupFile(ctx context.Context, clientID, fileName string) (BackupFile, error) {
	f, err := scanBackupFile(db.QueryRowContext(ctx, `SELECT `+backupFileCols+` FROM backup_files
		WHERE client_id = $1 AND file_name = $2`, clientID, fileName))
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("backup file %s/%s: %w", clientID, fileName, ErrNotFound)
	}
	if err != nil {
		return f, fmt.Errorf("store: backup file: %w", err)
	}
	return f, nil
}

// BackupFiles lists the files of clientID, or of every client when it is
// empty, ordered by client and name.
func (db *DB) BackupFiles(ctx context.Context, clientID string) ([]BackupFile, error) {
	q := `SELECT ` + backupFileCols + ` FROM backup_files`
	var args []any
	if clientID != "" {
		q += ` WHERE client_id = $1`
		args = append(args, clientID)
	}
	rows, err := db.QueryContext(ctx, q+` ORDER BY client_id, file_name`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: backup files: %w", err)
	}
	defer rows.Close()
	var out []BackupFile
	for rows.Next() {
		f, err := scanBackupFile(rows)
		if err != nil {
			return nil, fmt.Errorf("store: backup files: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// BackupSetFileStatus moves a file from status from to status to (verified
// exactly when to is BackupVerified) and reports whether it did: a file in
// another state, or none at all, is left alone.
func (db *DB) BackupSetFileStatus(ctx context.Context, clientID, fileName, from, to string, now time.Time) (bool, error) {
	res, err := db.ExecContext(ctx, `UPDATE backup_files SET status = $4, verified = $5, updated_at = $6
		WHERE client_id = $1 AND file_name = $2 AND status = $3`,
		clientID, fileName, from, to, to == BackupVerified, TimeText(now))
	if err != nil {
		return false, fmt.Errorf("store: backup file status: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: backup file status: %w", err)
	}
	return n == 1, nil
}
