package store_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

// BenchmarkHotPaths measures the store calls a handshake or a request
// makes, on SQLite and PostgreSQL: one INSERT (e2eeftp replay record) and
// one keyed SELECT (cloudreport client lookup).
func BenchmarkHotPaths(b *testing.B) {
	for _, eng := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}} {
		b.Run(eng.name, func(b *testing.B) { benchHotPaths(b, eng.open(b)) })
	}
}

func benchHotPaths(b *testing.B, db *store.DB) {
	{
		ctx := context.Background()
		b.Run("replay-insert", func(b *testing.B) {
			b.ReportAllocs()
			eph := make([]byte, 32)
			for b.Loop() {
				rand.Read(eph)
				if _, err := db.E2EEFTPReplayRecord(ctx, eph, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
		if err := db.CloudreportAddClient(ctx, store.CloudreportClient{ID: "0000beef", Name: "b", Enabled: true,
			Expires: time.Now().AddDate(1, 0, 0), Created: time.Now()}); err != nil {
			b.Fatal(err)
		}
		b.Run("client-lookup", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := db.CloudreportClient(ctx, "0000beef"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReplayRecordParallel is a burst of concurrent handshakes: group
// commit turns them into few transactions.
func BenchmarkReplayRecordParallel(b *testing.B) {
	for _, eng := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}} {
		b.Run(eng.name, func(b *testing.B) {
			db := eng.open(b)
			b.SetParallelism(8)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				eph := make([]byte, 32)
				for pb.Next() {
					rand.Read(eph)
					if _, err := db.E2EEFTPReplayRecord(context.Background(), eph, time.Now()); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
