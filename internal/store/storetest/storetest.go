// Package storetest opens throw-away databases for tests on every engine:
// SQLite always, PostgreSQL when one is reachable. With CI=true an
// unreachable PostgreSQL is a failure, not a skip.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// DefaultPG is the PostgreSQL server tests use unless GATEHOUSE_TEST_PG
// names another (a postgres:// URL).
const DefaultPG = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func pgBase() string {
	if v := os.Getenv("GATEHOUSE_TEST_PG"); v != "" {
		return v
	}
	return DefaultPG
}

var (
	pgOnce sync.Once
	pgErr  error
)

// PGAvailable reports whether the test PostgreSQL answers. It skips t (one
// clear line) when it does not and CI is not set, and fails t under CI=true.
func PGAvailable(t testing.TB) bool {
	t.Helper()
	pgOnce.Do(func() {
		db, err := sql.Open("pgx", pgBase())
		if err != nil {
			pgErr = err
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		pgErr = db.PingContext(ctx)
	})
	if pgErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is required under CI=true: %v", pgBase(), pgErr)
		}
		t.Skipf("skipping PostgreSQL tests: no server at %s (%v)", pgBase(), pgErr)
		return false
	}
	return true
}

// SQLite opens a fresh migrated SQLite database in t's temp dir.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// PGDSN creates a fresh schema in the test PostgreSQL and returns a DSN
// whose search_path points at it; the schema is dropped at cleanup. Several
// daemons (or stores) opened with the same DSN share that schema.
func PGDSN(t testing.TB) string {
	t.Helper()
	PGAvailable(t)
	var rb [6]byte
	rand.Read(rb[:])
	schema := "t_" + hex.EncodeToString(rb[:])
	admin, err := sql.Open("pgx", pgBase())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	sep := "?"
	if containsQuery(pgBase()) {
		sep = "&"
	}
	return pgBase() + sep + "search_path=" + schema
}

// Postgres opens a fresh migrated database in its own schema.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), PGDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// ForEachEngine runs fn as a subtest on SQLite and on PostgreSQL.
func ForEachEngine(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

func containsQuery(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '?' {
			return true
		}
	}
	return false
}
