package store_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

// pgMigrationLockKey must stay what migrate.go uses: daemons of different
// versions sharing one database serialise only if they agree on it.
const pgMigrationLockKey = 0x6761746568

func pgMigrationFiles(t *testing.T) map[int]string {
	t.Helper()
	ents, err := os.ReadDir("migrations/postgres")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		var v int
		for _, c := range e.Name() {
			if c < '0' || c > '9' {
				break
			}
			v = v*10 + int(c-'0')
		}
		out[v] = e.Name()
	}
	if len(out) == 0 {
		t.Fatal("no PostgreSQL migrations found")
	}
	return out
}

// Several daemons starting together on one fresh PostgreSQL schema must
// all come up, and every migration must be applied exactly once.
func TestPGConcurrentOpenMigratesOnce(t *testing.T) {
	want := pgMigrationFiles(t)
	for round := range 3 {
		dsn := storetest.PGDSN(t)
		const n = 5
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		dbs := make([]*store.DB, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				dbs[i], errs[i] = store.Open(ctx, dsn)
			}()
		}
		close(start)
		wg.Wait()
		cancel()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: concurrent Open %d: %v", round, i, err)
			}
			defer dbs[i].Close()
			if dbs[i].Engine != store.Postgres {
				t.Fatalf("engine %s", dbs[i].Engine)
			}
		}
		rows, err := dbs[0].QueryContext(t.Context(), "SELECT version, name FROM schema_migrations ORDER BY version")
		if err != nil {
			t.Fatal(err)
		}
		got := map[int]string{}
		for rows.Next() {
			var v int
			var name string
			if err := rows.Scan(&v, &name); err != nil {
				t.Fatal(err)
			}
			if _, dup := got[v]; dup {
				t.Fatalf("round %d: migration %d recorded twice", round, v)
			}
			got[v] = name
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if len(got) != len(want) {
			t.Fatalf("round %d: %d migrations recorded, %d files: %v", round, len(got), len(want), got)
		}
		for v, name := range want {
			if got[v] != name {
				t.Fatalf("round %d: migration %d recorded as %q, want %q", round, v, got[v], name)
			}
		}
		// Every store sees the same migrated schema.
		for i, db := range dbs {
			if _, err := db.ExecContext(t.Context(), "INSERT INTO settings (key, value) VALUES ($1, $2)", "k", "v"); err != nil && !store.IsUniqueViolation(err) {
				t.Fatalf("round %d: store %d cannot use the schema: %v", round, i, err)
			} else if err == nil && i > 0 {
				t.Fatalf("round %d: store %d inserted a duplicate key: stores do not share one schema", round, i)
			}
		}
	}
}

// Open waits for the migration lock another daemon holds and proceeds as
// soon as it is released.
func TestPGOpenWaitsForMigrationLock(t *testing.T) {
	dsn := storetest.PGDSN(t)
	holder, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	conn, err := holder.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "SELECT pg_advisory_lock($1)", pgMigrationLockKey); err != nil {
		t.Fatal(err)
	}
	locked := true
	unlock := func() {
		if locked {
			locked = false
			if _, err := conn.ExecContext(context.WithoutCancel(t.Context()), "SELECT pg_advisory_unlock($1)", pgMigrationLockKey); err != nil {
				t.Error(err)
			}
		}
	}
	defer unlock()

	type result struct {
		db  *store.DB
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	go func() {
		db, err := store.Open(ctx, dsn)
		done <- result{db, err}
	}()
	select {
	case r := <-done:
		if r.db != nil {
			r.db.Close()
		}
		t.Fatalf("Open finished while another session held the migration lock (err %v)", r.err)
	case <-time.After(300 * time.Millisecond):
	}
	var exists bool
	if err := holder.QueryRowContext(t.Context(),
		"SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations')").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("Open touched the schema before taking the migration lock")
	}
	unlock()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Open after the lock was released: %v", r.err)
		}
		defer r.db.Close()
		var n int
		if err := r.db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != len(pgMigrationFiles(t)) {
			t.Fatalf("after waiting: %d migrations, err %v", n, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Open did not proceed after the lock was released")
	}
}
