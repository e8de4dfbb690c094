// Package store keeps the daemon's metadata in SQL: SQLite (modernc, pure Go)
// embedded by default, PostgreSQL (pgx) when several daemons share state.
// Queries are written once with $N placeholders and run on both engines;
// only the DDL in migrations/<engine>/ differs.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
)

// Engine names the SQL engine behind a DB.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// ErrNotFound is returned (wrapped) when a looked-up row does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned (wrapped) when a unique value is already taken.
var ErrConflict = errors.New("store: already exists")

// DB is the metadata database.
type DB struct {
	*sql.DB
	Engine Engine
	stmts  stmtCache     // SQLite: prepared statements by text (stmtcache.go)
	replay replayBatcher // group commit of e2eeftp replay records
}

// Open opens the database named by dsn and runs the migrations. A dsn that
// starts with postgres:// or postgresql:// selects PostgreSQL; anything else
// is a SQLite file path (":memory:" is not supported: use a temp file).
func Open(ctx context.Context, dsn string) (*DB, error) {
	var db *DB
	if scheme, _, ok := strings.Cut(dsn, "://"); ok && scheme != "postgres" && scheme != "postgresql" && scheme != "sqlite" {
		return nil, fmt.Errorf("store: unsupported store %q: store.dsn takes postgres://…, postgresql://…, sqlite://PATH or a SQLite file path", scheme+"://")
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		sdb, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		sdb.SetMaxOpenConns(16)
		// database/sql keeps 2 idle connections by default: with more
		// concurrent requests than that, each burst closed connections
		// and opened new ones (a backend process each, its statement
		// cache lost). Idle ones are released after a while instead.
		sdb.SetMaxIdleConns(16)
		sdb.SetConnMaxIdleTime(5 * time.Minute)
		db = &DB{DB: sdb, Engine: Postgres}
	} else {
		path := strings.TrimPrefix(dsn, "sqlite://")
		// busy_timeout first: the journal_mode switch of a new file needs a
		// lock that concurrent openers must wait for, not fail on.
		q := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
		sdb, err := sql.Open("sqlite", "file:"+path+q)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		sdb.SetMaxOpenConns(8)
		// All 8 stay open: past database/sql's default of 2 idle, 8
		// concurrent requests reopened the file (pragmas, WAL index, a
		// cold page cache, every statement prepared again) in a tenth of
		// the backup control path's store time.
		sdb.SetMaxIdleConns(8)
		db = &DB{DB: sdb, Engine: SQLite}
	}
	if err := db.ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: cannot open %s database: %w", db.Engine, err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// ping opens the first connection. On a new SQLite file the switch to WAL
// can fail with SQLITE_BUSY at once (the busy handler does not cover it)
// while another process or goroutine opens the same file, so that case is
// retried for a while.
func (db *DB) ping(ctx context.Context) error {
	deadline := time.Now().Add(15 * time.Second)
	wait := 5 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		if err == nil || db.Engine != SQLite || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// Tx runs fn in one transaction (BEGIN IMMEDIATE on SQLite), committing when
// fn returns nil and rolling back otherwise.
func (db *DB) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface{ Scan(...any) error }

// queryAll runs a query and scans every row with scan; what names the list
// in errors ("backup files").
func queryAll[T any](ctx context.Context, db *DB, what, query string, args []any, scan func(rowScanner) (T, error)) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// IsUniqueViolation reports whether err is a unique-constraint failure on
// either engine.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505") ||
		strings.Contains(s, "constraint failed: PRIMARY KEY") || strings.Contains(s, "duplicate key value")
}

// IsNoSpace reports whether err says the disk is full: ENOSPC from the
// file system (blob writes, SQLite's own I/O), SQLite's SQLITE_FULL, or
// PostgreSQL's disk_full (SQLSTATE 53100). Callers log it as "no space
// left" and answer the protocol's failure reply.
func IsNoSpace(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "SQLITE_FULL") || strings.Contains(s, "database or disk is full") ||
		strings.Contains(s, "SQLSTATE 53100") || strings.Contains(s, "no space left on device")
}
