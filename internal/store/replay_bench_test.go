package store

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gatehouse/internal/cputime"
)

// BenchmarkReplayBatch is one group commit of the e2eeftp replay log
// (writeReplayBatch) on SQLite, for the batch sizes a burst of handshakes
// makes; cpu-ns/key is the process's CPU per recorded key, which is what
// a LIST connection pays for its replay record.
//
//	go test ./internal/store/ -run '^$' -bench ReplayBatch -benchmem
func BenchmarkReplayBatch(b *testing.B) {
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, n := range []int{1, 4, 16} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			batch := make([]*replayReq, n)
			start := cputime.Process()
			for b.Loop() {
				for i := range batch {
					eph := make([]byte, 32)
					rand.Read(eph)
					batch[i] = &replayReq{eph: eph, now: time.Now()}
				}
				db.writeReplayBatch(batch)
				for _, r := range batch {
					if r.err != nil || !r.fresh {
						b.Fatalf("fresh=%v err=%v", r.fresh, r.err)
					}
				}
			}
			cputime.Report(b, start, int64(n), "cpu-ns/key")
		})
	}
}
