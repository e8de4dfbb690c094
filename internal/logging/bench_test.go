package logging

import (
	"os"
	"path/filepath"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/cputime"
)

// BenchmarkRequestLine is one request's info line as a service writes it
// (a connection's logger with its service, conn and remote attributes,
// then a message and three attributes) through the daemon's real logger
// to a file, as the bench's daemon writes its standard error. cpu-ns/line
// is the process's CPU per line, the flusher's writes included; at warn
// the line is not formatted at all.
//
//	go test ./internal/logging -run '^$' -bench RequestLine -benchmem
func BenchmarkRequestLine(b *testing.B) {
	for _, tc := range []struct{ level, format string }{{"info", "text"}, {"info", "json"}, {"warn", "text"}} {
		b.Run(tc.level+"-"+tc.format, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "daemon.log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			log, closer, err := New(config.Log{Level: tc.level, Format: tc.format}, b.TempDir(), f)
			if err != nil {
				b.Fatal(err)
			}
			defer closer.Close()
			conn := log.With("service", "backup", "conn", uint64(123456), "remote", "127.0.0.1:54321")
			b.ReportAllocs()
			start := cputime.Process()
			for b.Loop() {
				conn.Info("client reconnected", "client", "3f2a9c4e-1b7d-4c55-9e0a-8d1f2b3c4d5e", "rsa_bits", 1024, "name", "bench-7")
			}
			closer.Close()
			cputime.Report(b, start, 1, "cpu-ns/line")
		})
	}
}
