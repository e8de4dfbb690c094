package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Backup file states: an upload is "received" once stored and answered with
// its CRC, "verified" after the client's 1029, "failed" after its 1031 (the
// blob is then removed; the row stays for audit). A new upload of a verified
// file does not touch the verified copy: it waits in the row's pending
// columns until its 1029 swaps it in or its 1031 discards it.
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

// BackupFile is one file of one client: its current copy (the verified one
// when there is one, else the latest upload) and, for a verified file, a
// newer upload awaiting the client's confirmation.
type BackupFile struct {
	ClientID   string
	FileName   string // the name in the client's folder
	Path       string // blob name
	Size       int64  // bytes stored
	PlainSize  int64  // the file's own size in bytes; -1 when unknown
	CRC        uint32 // CRC-32 of the ciphertext as received
	AtRestKey  []byte // sealed AES key when the blob holds ciphertext
	UploadKey  []byte // sealed AES key the upload was encrypted with
	Verified   bool
	Status     string
	Attempts   int
	UploadedAt time.Time
	UpdatedAt  time.Time
	// Pending is a re-upload of a verified file that the client has not
	// confirmed yet; nil when there is none. Ignored by BackupPutFile.
	Pending *BackupUpload
}

// BackupUpload is one stored upload waiting for its 1029.
type BackupUpload struct {
	Path       string
	Size       int64
	PlainSize  int64
	CRC        uint32
	AtRestKey  []byte
	UploadKey  []byte
	UploadedAt time.Time
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

func scanBackupClient(sc rowScanner) (BackupClient, error) {
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
	return queryAll(ctx, db, "backup clients",
		`SELECT `+backupClientCols+` FROM backup_clients ORDER BY created_at, id`, nil, scanBackupClient)
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

// BackupOfferKey is a first 1026 in one statement (the service calls it
// after reading the client without a key): for the client id registered
// under name, it installs pub and the sealed AES key when the client has
// no public key yet, sets last_seen when it has none or already has pub (a
// retry whose answer was lost: its AES key stays), and leaves a client
// with another key untouched. It returns the client as it is afterwards;
// installed reports whether pub and aesSealed were written. No client id
// with that name is ErrNotFound.
func (db *DB) BackupOfferKey(ctx context.Context, id, name string, pub, aesSealed []byte, now time.Time) (c BackupClient, installed bool, err error) {
	c, err = scanBackupClient(db.QueryRowContext(ctx, `UPDATE backup_clients SET
			aes_key = CASE WHEN public_key IS NULL THEN $4 ELSE aes_key END,
			last_seen = CASE WHEN public_key IS NULL OR public_key = $3 THEN $5 ELSE last_seen END,
			public_key = CASE WHEN public_key IS NULL THEN $3 ELSE public_key END
		WHERE id = $1 AND name = $2
		RETURNING `+backupClientCols, id, name, pub, aesSealed, TimeText(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, fmt.Errorf("backup client %s named %q: %w", id, name, ErrNotFound)
	}
	if err != nil {
		return c, false, fmt.Errorf("store: backup offer key: %w", err)
	}
	return c, bytes.Equal(c.PublicKey, pub) && bytes.Equal(c.AESKey, aesSealed), nil
}

// BackupSeen moves the last_seen of client id to now if it is staleBefore
// or older, and reports whether it did. The 1026 and 1027 paths read the
// client and call this only when the time they read is older than the
// service's grain (docs/backup.md, "Store round trips"), so a client that
// reconnects often costs a write once per grain, not once per request.
// The condition also keeps two daemons sharing the store from moving it
// back or writing it twice; a client that does not exist is no error.
func (db *DB) BackupSeen(ctx context.Context, id string, now, staleBefore time.Time) (bool, error) {
	res, err := db.ExecContext(ctx, `UPDATE backup_clients SET last_seen = $2 WHERE id = $1 AND last_seen <= $3`,
		id, TimeText(now), TimeText(staleBefore))
	if err != nil {
		return false, fmt.Errorf("store: backup seen: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: backup seen: %w", err)
	}
	return n == 1, nil
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

// backupCASTries bounds the compare-and-swap loops below. Each retry means
// another request changed the same row meanwhile (PostgreSQL; SQLite's
// immediate transactions serialise them), so a handful always suffices.
const backupCASTries = 16

var errBackupRetry = errors.New("store: backup row changed meanwhile")

type backupFileState struct {
	status  string
	path    string
	pending sql.NullString
	gen     int64
}

// backupState reads what the row-changing functions decide on; found is
// false when the client has no such file.
func backupState(ctx context.Context, tx *sql.Tx, clientID, fileName string) (st backupFileState, found bool, err error) {
	err = tx.QueryRowContext(ctx, `SELECT status, path, pending_path, gen FROM backup_files
		WHERE client_id = $1 AND file_name = $2`, clientID, fileName).Scan(&st.status, &st.path, &st.pending, &st.gen)
	if errors.Is(err, sql.ErrNoRows) {
		return st, false, nil
	}
	return st, err == nil, err
}

// backupCAS runs fn in a transaction until it does not ask for a retry.
func (db *DB) backupCAS(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	for range backupCASTries {
		err := db.Tx(ctx, fn)
		if !errors.Is(err, errBackupRetry) {
			if err != nil && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("store: %s: %w", what, err)
			}
			return err
		}
	}
	return fmt.Errorf("store: %s: %w", what, errBackupRetry)
}

// affectedOne turns an update that matched no row (its gen moved on) into
// errBackupRetry.
func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return errBackupRetry
	}
	return nil
}

// BackupPutFile records an upload that was just stored under the blob
// f.Path (which must be unique to this upload) and the client's last_seen.
// A new file, or one not verified yet, takes the upload as its current copy
// (status received); a verified file keeps its copy and holds the upload as
// pending. displaced is the blob no row refers to any more (the upload this
// one superseded), for the caller to remove; "" when there is none.
func (db *DB) BackupPutFile(ctx context.Context, f BackupFile) (displaced string, err error) {
	now := TimeText(f.UploadedAt)
	err = db.backupCAS(ctx, "backup put file", func(tx *sql.Tx) error {
		displaced = ""
		st, found, err := backupState(ctx, tx, f.ClientID, f.FileName)
		if err != nil {
			return err
		}
		switch {
		case !found:
			err = affectedOne(tx.ExecContext(ctx, `INSERT INTO backup_files
				(client_id, file_name, path, size, crc, at_rest_key, verified, status, attempts, uploaded_at, updated_at,
				plain_size, upload_key)
				VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7, 1, $8, $8, $9, $10)
				ON CONFLICT (client_id, file_name) DO NOTHING`,
				f.ClientID, f.FileName, f.Path, f.Size, int64(f.CRC), f.AtRestKey, BackupReceived, now, plainSize(f.PlainSize), f.UploadKey))
		case st.status == BackupVerified:
			err = affectedOne(tx.ExecContext(ctx, `UPDATE backup_files SET
				pending_path = $3, pending_size = $4, pending_crc = $5, pending_at_rest_key = $6,
				pending_uploaded_at = $7, attempts = attempts + 1, updated_at = $7, gen = gen + 1,
				pending_plain_size = $9, pending_upload_key = $10
				WHERE client_id = $1 AND file_name = $2 AND gen = $8`,
				f.ClientID, f.FileName, f.Path, f.Size, int64(f.CRC), f.AtRestKey, now, st.gen, plainSize(f.PlainSize), f.UploadKey))
			displaced = st.pending.String
		default:
			err = affectedOne(tx.ExecContext(ctx, `UPDATE backup_files SET
				path = $3, size = $4, crc = $5, at_rest_key = $6, verified = FALSE, status = $7,
				attempts = attempts + 1, uploaded_at = $8, updated_at = $8, gen = gen + 1,
				pending_path = NULL, pending_size = NULL, pending_crc = NULL, pending_at_rest_key = NULL,
				pending_uploaded_at = NULL, pending_plain_size = NULL, pending_upload_key = NULL,
				plain_size = $10, upload_key = $11
				WHERE client_id = $1 AND file_name = $2 AND gen = $9`,
				f.ClientID, f.FileName, f.Path, f.Size, int64(f.CRC), f.AtRestKey, BackupReceived, now, st.gen,
				plainSize(f.PlainSize), f.UploadKey))
			displaced = st.path
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE backup_clients SET last_seen = $2 WHERE id = $1`, f.ClientID, now)
		return err
	})
	if displaced == f.Path {
		displaced = ""
	}
	return displaced, err
}

// BackupConfirmFile applies a client's 1029: the upload the row holds
// awaiting it (a received upload, or the pending re-upload of a verified
// file) becomes a new version of the file, numbered one past its latest,
// and the row's current copy. Earlier versions are not touched: they keep
// their blobs until the operator's retention removes them. version is the
// new version's number, 0 when there was nothing to confirm.
func (db *DB) BackupConfirmFile(ctx context.Context, clientID, fileName string, now time.Time) (version int64, err error) {
	err = db.backupCAS(ctx, "backup confirm file", func(tx *sql.Tx) error {
		version = 0
		st, found, err := backupState(ctx, tx, clientID, fileName)
		if err != nil || !found {
			return err
		}
		switch {
		case st.status == BackupReceived:
			err = affectedOne(tx.ExecContext(ctx, `UPDATE backup_files SET status = $3, verified = TRUE,
				updated_at = $4, gen = gen + 1 WHERE client_id = $1 AND file_name = $2 AND gen = $5`,
				clientID, fileName, BackupVerified, TimeText(now), st.gen))
		case st.status == BackupVerified && st.pending.Valid:
			err = affectedOne(tx.ExecContext(ctx, `UPDATE backup_files SET
				path = pending_path, size = pending_size, crc = pending_crc, at_rest_key = pending_at_rest_key,
				plain_size = pending_plain_size, upload_key = pending_upload_key,
				uploaded_at = pending_uploaded_at, pending_path = NULL, pending_size = NULL, pending_crc = NULL,
				pending_at_rest_key = NULL, pending_uploaded_at = NULL, pending_plain_size = NULL,
				pending_upload_key = NULL, updated_at = $3, gen = gen + 1
				WHERE client_id = $1 AND file_name = $2 AND gen = $4`,
				clientID, fileName, TimeText(now), st.gen))
		default:
			return nil
		}
		if err != nil {
			return err
		}
		// The row's current copy is now the confirmed upload. The row's
		// gen update above serialises confirms of one file, so MAX+1 is
		// free (retention never removes a file's newest version).
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM backup_versions
			WHERE client_id = $1 AND file_name = $2`, clientID, fileName).Scan(&version); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO backup_versions (client_id, file_name, version, path, size,
			plain_size, crc, at_rest_key, upload_key, uploaded_at, verified_at)
			SELECT client_id, file_name, $3, path, size, plain_size, crc, at_rest_key, upload_key, uploaded_at, $4
			FROM backup_files WHERE client_id = $1 AND file_name = $2`, clientID, fileName, version, TimeText(now))
		if err != nil {
			version = 0
		}
		return err
	})
	if err != nil {
		version = 0
	}
	return version, err
}

// plainSize maps an unknown size (-1) to NULL.
func plainSize(n int64) any {
	if n < 0 {
		return nil
	}
	return n
}

// BackupFailFile applies a client's 1031: a received upload becomes failed,
// a pending re-upload is dropped (the verified copy stays). displaced names
// the blob of the upload given up on, for the caller to remove. changed is
// false when there was nothing to give up.
func (db *DB) BackupFailFile(ctx context.Context, clientID, fileName string, now time.Time) (changed bool, displaced string, err error) {
	err = db.backupCAS(ctx, "backup fail file", func(tx *sql.Tx) error {
		changed, displaced = false, ""
		st, found, err := backupState(ctx, tx, clientID, fileName)
		if err != nil || !found {
			return err
		}
		switch {
		case st.status == BackupReceived:
			err = affectedOne(tx.ExecContext(ctx, `UPDATE backup_files SET status = $3, verified = FALSE,
				updated_at = $4, gen = gen + 1 WHERE client_id = $1 AND file_name = $2 AND gen = $5`,
				clientID, fileName, BackupFailed, TimeText(now), st.gen))
			displaced = st.path
		case st.status == BackupVerified && st.pending.Valid:
			err = affectedOne(tx.ExecContext(ctx, `UPDATE backup_files SET
				pending_path = NULL, pending_size = NULL, pending_crc = NULL, pending_at_rest_key = NULL,
				pending_uploaded_at = NULL, updated_at = $3, gen = gen + 1
				WHERE client_id = $1 AND file_name = $2 AND gen = $4`,
				clientID, fileName, TimeText(now), st.gen))
			displaced = st.pending.String
		default:
			return nil
		}
		changed = err == nil
		return err
	})
	return changed, displaced, err
}

const backupFileCols = `client_id, file_name, path, size, crc, at_rest_key, verified, status, attempts, uploaded_at, updated_at,
	pending_path, pending_size, pending_crc, pending_at_rest_key, pending_uploaded_at,
	plain_size, upload_key, pending_plain_size, pending_upload_key`

func scanBackupFile(sc rowScanner) (BackupFile, error) {
	var f BackupFile
	var crc int64
	var up, upd string
	var pPath, pUp sql.NullString
	var pSize, pCRC, plain, pPlain sql.NullInt64
	var pKey, pUpKey []byte
	if err := sc.Scan(&f.ClientID, &f.FileName, &f.Path, &f.Size, &crc, &f.AtRestKey, &f.Verified, &f.Status,
		&f.Attempts, &up, &upd, &pPath, &pSize, &pCRC, &pKey, &pUp, &plain, &f.UploadKey, &pPlain, &pUpKey); err != nil {
		return f, err
	}
	f.CRC = uint32(crc)
	f.PlainSize = nullSize(plain)
	var err error
	if f.UploadedAt, err = ParseTime(up); err != nil {
		return f, err
	}
	if f.UpdatedAt, err = ParseTime(upd); err != nil {
		return f, err
	}
	if pPath.Valid {
		p := &BackupUpload{Path: pPath.String, Size: pSize.Int64, CRC: uint32(pCRC.Int64), AtRestKey: pKey,
			PlainSize: nullSize(pPlain), UploadKey: pUpKey}
		if p.UploadedAt, err = ParseTime(pUp.String); err != nil {
			return f, err
		}
		f.Pending = p
	}
	return f, nil
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
	return queryAll(ctx, db, "backup files", q+` ORDER BY client_id, file_name`, args, scanBackupFile)
}

// BackupPaddingFailure counts one bad-padding upload of a client and
// returns its count in the current window (which starts at the first
// failure and lasts window). A now before the window's start (another
// daemon's clock a little behind) counts in it rather than resetting it. The count lives in the store so every daemon
// sharing it sees the same one.
func (db *DB) BackupPaddingFailure(ctx context.Context, clientID string, now time.Time, window time.Duration) (int, error) {
	var n int
	err := db.backupCAS(ctx, "backup padding failure", func(tx *sql.Tx) error {
		var failures int
		var since string
		err := tx.QueryRowContext(ctx, `SELECT failures, since FROM backup_padding_failures WHERE client_id = $1`,
			clientID).Scan(&failures, &since)
		if errors.Is(err, sql.ErrNoRows) {
			n = 1
			return affectedOne(tx.ExecContext(ctx, `INSERT INTO backup_padding_failures (client_id, failures, since)
				VALUES ($1, 1, $2) ON CONFLICT (client_id) DO NOTHING`, clientID, TimeText(now)))
		}
		if err != nil {
			return err
		}
		start, err := ParseTime(since)
		if err != nil {
			return err
		}
		newSince := since
		if n = failures + 1; now.Sub(start) > window {
			n, newSince = 1, TimeText(now)
		}
		return affectedOne(tx.ExecContext(ctx, `UPDATE backup_padding_failures SET failures = $2, since = $3
			WHERE client_id = $1 AND failures = $4 AND since = $5`, clientID, n, newSince, failures, since))
	})
	return n, err
}

// BackupPaddingFailures returns a client's bad-padding uploads in its
// current window, 0 once that window has passed.
func (db *DB) BackupPaddingFailures(ctx context.Context, clientID string, now time.Time, window time.Duration) (int, error) {
	var failures int
	var since string
	err := db.QueryRowContext(ctx, `SELECT failures, since FROM backup_padding_failures WHERE client_id = $1`,
		clientID).Scan(&failures, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: backup padding failures: %w", err)
	}
	start, err := ParseTime(since)
	if err != nil {
		return 0, fmt.Errorf("store: backup padding failures: %w", err)
	}
	if now.Sub(start) > window {
		return 0, nil
	}
	return failures, nil
}

// BackupBlobPaths returns every blob name a backup row refers to, as its
// current copy, a pending re-upload or a version.
func (db *DB) BackupBlobPaths(ctx context.Context) (map[string]bool, error) {
	paths, err := queryAll(ctx, db, "backup blob paths",
		`SELECT path FROM backup_files UNION SELECT pending_path FROM backup_files WHERE pending_path IS NOT NULL
		UNION SELECT path FROM backup_versions`, nil,
		func(r rowScanner) (string, error) {
			var p string
			return p, r.Scan(&p)
		})
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(paths))
	for _, p := range paths {
		set[p] = true
	}
	return set, nil
}
