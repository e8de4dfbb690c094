package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// Each fixed text is prepared once and reused; the cache stops at
// maxCachedStmts, and texts beyond it still run (unprepared).
func TestStatementCacheBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := db.stmts.n.Load()
	for i := 0; i < 3; i++ {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n == 0 {
			t.Fatalf("count: %d %v", n, err)
		}
	}
	if got := db.stmts.n.Load() - before; got != 1 {
		t.Fatalf("one text cached %d statements", got)
	}
	for i := 0; i < maxCachedStmts+20; i++ {
		var v int
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT %d", i)).Scan(&v); err != nil || v != i {
			t.Fatalf("one-off statement %d: %d %v", i, v, err)
		}
	}
	if got := db.stmts.n.Load(); got != maxCachedStmts {
		t.Fatalf("cache holds %d statements, bound %d", got, maxCachedStmts)
	}
	// A statement that does not prepare reports its error as before.
	if _, err := db.ExecContext(ctx, "INSERT INTO no_such_table VALUES (1)"); err == nil {
		t.Fatal("a bad statement succeeded")
	}
}

func TestUnsupportedStoreNamed(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"mysql://root@127.0.0.1/test", "redis://127.0.0.1"} {
		_, err := Open(context.Background(), dsn)
		if err == nil || !strings.Contains(err.Error(), "unsupported store") {
			t.Fatalf("%s: %v", dsn, err)
		}
	}
}
