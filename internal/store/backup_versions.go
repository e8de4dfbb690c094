package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// BackupVersion is one verified upload of a client's file. Versions are
// numbered 1, 2, 3, … per (client, file); nothing a client sends removes
// one, only BackupPruneVersions (the operator's retention).
type BackupVersion struct {
	ClientID   string
	FileName   string
	Version    int64
	Path       string // blob name
	Size       int64  // bytes stored (ciphertext when AtRestKey is set)
	PlainSize  int64  // the file's size; -1 when unknown
	CRC        uint32 // CRC-32 of the upload's ciphertext
	AtRestKey  []byte // sealed AES key when the blob holds ciphertext
	UploadKey  []byte // sealed AES key the upload was encrypted with; nil when unknown
	UploadedAt time.Time
	VerifiedAt time.Time
}

func nullSize(n sql.NullInt64) int64 {
	if !n.Valid {
		return -1
	}
	return n.Int64
}

const backupVersionCols = `client_id, file_name, version, path, size, plain_size, crc, at_rest_key, upload_key,
	uploaded_at, verified_at`

func scanBackupVersion(sc rowScanner) (BackupVersion, error) {
	var v BackupVersion
	var crc int64
	var plain sql.NullInt64
	var up, ver string
	if err := sc.Scan(&v.ClientID, &v.FileName, &v.Version, &v.Path, &v.Size, &plain, &crc, &v.AtRestKey,
		&v.UploadKey, &up, &ver); err != nil {
		return v, err
	}
	v.CRC, v.PlainSize = uint32(crc), nullSize(plain)
	var err error
	if v.UploadedAt, err = ParseTime(up); err != nil {
		return v, err
	}
	v.VerifiedAt, err = ParseTime(ver)
	return v, err
}

// BackupVersions lists versions ordered by client, file and version:
// clientID's only when it is not empty, and of those fileName's only when
// it is not empty.
func (db *DB) BackupVersions(ctx context.Context, clientID, fileName string) ([]BackupVersion, error) {
	q := `SELECT ` + backupVersionCols + ` FROM backup_versions`
	var args []any
	switch {
	case clientID != "" && fileName != "":
		q += ` WHERE client_id = $1 AND file_name = $2`
		args = append(args, clientID, fileName)
	case clientID != "":
		q += ` WHERE client_id = $1`
		args = append(args, clientID)
	case fileName != "":
		q += ` WHERE file_name = $1`
		args = append(args, fileName)
	}
	return queryAll(ctx, db, "backup versions", q+` ORDER BY client_id, file_name, version`, args, scanBackupVersion)
}

// BackupRetention is the operator's version policy, in the manner of
// restic's --keep-last/--keep-within: a version is kept while it is one of
// its file's newest Keep (0: no count limit) or was verified less than
// MaxAge ago (0: no age rule). A file's newest version is always kept.
type BackupRetention struct {
	Keep   int
	MaxAge time.Duration
}

// BackupPruneVersions removes the versions the policy no longer keeps and
// returns them; their blobs are for the caller to remove (those no row
// refers to: BackupBlobPaths). A zero policy removes nothing.
func (db *DB) BackupPruneVersions(ctx context.Context, pol BackupRetention, now time.Time) ([]BackupVersion, error) {
	if pol.Keep <= 0 && pol.MaxAge <= 0 {
		return nil, nil
	}
	all, err := queryAll(ctx, db, "backup versions",
		`SELECT `+backupVersionCols+` FROM backup_versions ORDER BY client_id, file_name, version DESC`, nil, scanBackupVersion)
	if err != nil {
		return nil, err
	}
	var drop []BackupVersion
	rank := 0
	for i, v := range all {
		if i == 0 || v.ClientID != all[i-1].ClientID || v.FileName != all[i-1].FileName {
			rank = 0
		}
		rank++
		if rank == 1 {
			continue // the newest
		}
		byCount := pol.Keep > 0 && rank > pol.Keep
		byAge := pol.MaxAge > 0 && now.Sub(v.VerifiedAt) > pol.MaxAge
		// Both rules must let a version go when both are set; one set
		// rule decides alone.
		switch {
		case pol.Keep > 0 && pol.MaxAge > 0:
			if !(byCount && byAge) {
				continue
			}
		case pol.Keep > 0:
			if !byCount {
				continue
			}
		default:
			if !byAge {
				continue
			}
		}
		drop = append(drop, v)
	}
	if len(drop) == 0 {
		return nil, nil
	}
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		for _, v := range drop {
			if _, err := tx.ExecContext(ctx, `DELETE FROM backup_versions WHERE client_id = $1 AND file_name = $2
				AND version = $3`, v.ClientID, v.FileName, v.Version); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: backup prune versions: %w", err)
	}
	return drop, nil
}

// BackupUsage is what one client's backups take in the blob store.
type BackupUsage struct {
	Files        int   // files with at least one version
	Versions     int   // versions kept
	VersionBytes int64 // bytes stored for them
	OtherBytes   int64 // uploads not (yet) verified: received or pending
}

// BackupUsage returns each client's usage (clients without any are absent).
func (db *DB) BackupUsage(ctx context.Context) (map[string]BackupUsage, error) {
	type row struct {
		id    string
		files int
		n     int
		bytes int64
	}
	vrows, err := queryAll(ctx, db, "backup usage", `SELECT client_id, COUNT(DISTINCT file_name), COUNT(*), CAST(SUM(size) AS BIGINT)
		FROM backup_versions GROUP BY client_id`, nil, func(r rowScanner) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.files, &x.n, &x.bytes)
	})
	if err != nil {
		return nil, err
	}
	orows, err := queryAll(ctx, db, "backup usage", `SELECT client_id,
		CAST(SUM(CASE WHEN status = 'received' THEN size ELSE 0 END + COALESCE(pending_size, 0)) AS BIGINT)
		FROM backup_files GROUP BY client_id`, nil, func(r rowScanner) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.bytes)
	})
	if err != nil {
		return nil, err
	}
	out := map[string]BackupUsage{}
	for _, r := range vrows {
		out[r.id] = BackupUsage{Files: r.files, Versions: r.n, VersionBytes: r.bytes}
	}
	for _, r := range orows {
		if r.bytes == 0 {
			continue
		}
		u := out[r.id]
		u.OtherBytes = r.bytes
		out[r.id] = u
	}
	return out, nil
}
