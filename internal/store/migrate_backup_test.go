package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// Migration 0007 turns every file verified before it into its version 1,
// leaves unverified and pending uploads alone (a pending one becomes
// version 2 on its 1029), and records plain sizes where the blob holds
// plaintext.
func TestMigration0007BackupVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	sdb, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db := &DB{DB: sdb, Engine: SQLite}
	defer db.Close()
	ms, err := migrations(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version < 7 {
			if err := applyOne(ctx, conn, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	conn.Close()
	const a = "1f93925f-86d8-432a-ad42-d24db9eb1a27"
	ts := "2026-01-02T03:04:05.000000000Z"
	for _, q := range []string{
		`INSERT INTO backup_clients (id, name, created_at, last_seen) VALUES ('` + a + `', 'old', '` + ts + `', '` + ts + `')`,
		`INSERT INTO backup_files (client_id, file_name, path, size, crc, verified, status, uploaded_at, updated_at)
			VALUES ('` + a + `', 'plain.txt', 'p1', 10, 7, TRUE, 'verified', '` + ts + `', '` + ts + `')`,
		`INSERT INTO backup_files (client_id, file_name, path, size, crc, at_rest_key, verified, status, uploaded_at, updated_at,
			pending_path, pending_size, pending_crc, pending_uploaded_at)
			VALUES ('` + a + `', 'rest.bin', 'r1', 32, 8, X'01', TRUE, 'verified', '` + ts + `', '` + ts + `', 'r2', 48, 9, '` + ts + `')`,
		`INSERT INTO backup_files (client_id, file_name, path, size, crc, verified, status, uploaded_at, updated_at)
			VALUES ('` + a + `', 'new.txt', 'n1', 5, 1, FALSE, 'received', '` + ts + `', '` + ts + `')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	vs, err := db.BackupVersions(ctx, a, "")
	if err != nil || len(vs) != 2 {
		t.Fatalf("versions %+v %v", vs, err)
	}
	if v := vs[0]; v.FileName != "plain.txt" || v.Version != 1 || v.Path != "p1" || v.PlainSize != 10 || v.CRC != 7 || v.UploadKey != nil {
		t.Fatalf("plain version %+v", v)
	}
	if v := vs[1]; v.FileName != "rest.bin" || v.Version != 1 || v.Path != "r1" || v.PlainSize != -1 || string(v.AtRestKey) != "\x01" {
		t.Fatalf("at-rest version %+v", v)
	}
	// The pending re-upload of rest.bin becomes version 2 on its 1029.
	if v, err := db.BackupConfirmFile(ctx, a, "rest.bin", vs[0].VerifiedAt); err != nil || v != 2 {
		t.Fatalf("confirm pending: %v %v", v, err)
	}
	if v, err := db.BackupConfirmFile(ctx, a, "new.txt", vs[0].VerifiedAt); err != nil || v != 1 {
		t.Fatalf("confirm received: %v %v", v, err)
	}
	if vs, _ := db.BackupVersions(ctx, a, "new.txt"); len(vs) != 1 || vs[0].PlainSize != 5 {
		t.Fatalf("new.txt versions %+v", vs)
	}
}
