package store_test

import (
	"context"
	"testing"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

func TestMigrateTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		count := func() (n int) {
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := count()
		if before == 0 {
			t.Fatal("no migrations recorded after Open")
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		if after := count(); after != before {
			t.Fatalf("second migrate changed schema_migrations: %d -> %d", before, after)
		}
	})
}

func TestUniqueViolationDetected(t *testing.T) {
	t.Parallel()
	storetest.ForEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, "INSERT INTO settings (key, value) VALUES ($1, $2)", "k", "v"); err != nil {
			t.Fatal(err)
		}
		_, err := db.ExecContext(ctx, "INSERT INTO settings (key, value) VALUES ($1, $2)", "k", "w")
		if !store.IsUniqueViolation(err) {
			t.Fatalf("want unique violation, got %v", err)
		}
	})
}

func TestConcurrentOpenOfNewSQLiteFileMigratesOnce(t *testing.T) {
	t.Parallel()
	for round := 0; round < 10; round++ {
		path := t.TempDir() + "/meta.db"
		errs := make(chan error, 4)
		for i := 0; i < 4; i++ {
			go func() {
				db, err := store.Open(context.Background(), path)
				if err == nil {
					db.Close()
				}
				errs <- err
			}()
		}
		for i := 0; i < 4; i++ {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: concurrent open: %v", round, err)
			}
		}
	}
}
