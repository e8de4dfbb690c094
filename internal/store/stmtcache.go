package store

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// On SQLite the store's statements are prepared once and reused: parsing
// the same SQL text on every request was a tenth of the CPU of the control
// paths (backup register/key/reconnect). PostgreSQL through pgx already
// caches prepared statements per connection, so it goes straight through.
//
// ExecContext, QueryContext and QueryRowContext shadow *sql.DB's; every
// store function calls them with a fixed SQL text, so the cache holds one
// statement per text. It is bounded (maxCachedStmts): texts beyond it, such
// as one-off statements of tests and tools, run unprepared.
const maxCachedStmts = 256

type stmtCache struct {
	m sync.Map // query text -> *sql.Stmt
	n atomic.Int32
}

func (db *DB) stmt(ctx context.Context, query string) *sql.Stmt {
	if db.Engine != SQLite {
		return nil
	}
	if s, ok := db.stmts.m.Load(query); ok {
		return s.(*sql.Stmt)
	}
	if db.stmts.n.Load() >= maxCachedStmts {
		return nil
	}
	s, err := db.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil // the plain call reports the error as before
	}
	if prev, loaded := db.stmts.m.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt)
	}
	db.stmts.n.Add(1)
	return s
}

// ExecContext runs query, prepared once on SQLite.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := db.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return db.DB.ExecContext(ctx, query, args...)
}

// QueryContext runs query, prepared once on SQLite.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := db.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return db.DB.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query, prepared once on SQLite.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := db.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.DB.QueryRowContext(ctx, query, args...)
}

// Close releases the prepared statements and the database.
func (db *DB) Close() error {
	db.stmts.m.Range(func(_, s any) bool {
		s.(*sql.Stmt).Close()
		return true
	})
	return db.DB.Close()
}
