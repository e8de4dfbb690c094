package backup

import (
	"bytes"
	"crypto/aes"

	"testing"
)

// socketReader hands out at most max bytes per Read, as a loopback socket
// does, so the loop is measured with the reads it gets in service.
type socketReader struct {
	r   *bytes.Reader
	max int
}

func (s *socketReader) Read(p []byte) (int, error) {
	return s.r.Read(p[:min(len(p), s.max)])
}

// writeCounter counts the writes that reach the blob.
type writeCounter struct{ n int }

func (w *writeCounter) Write(p []byte) (int, error) { w.n++; return len(p), nil }

// BenchmarkUploadLoop is the server's upload loop alone (streamFile: read,
// CRC, decrypt, write to the blob) on 64 MiB of ciphertext arriving in
// 64 KiB reads, plain and at rest, with its allocations and the blob
// writes per MiB. docs/performance.md, "backup upload loop":
//
//	go test -run X -bench UploadLoop -count 3 ./internal/service/backup
func BenchmarkUploadLoop(b *testing.B) {
	const size = 64 << 20
	key := make([]byte, 16)
	block, _ := aes.NewCipher(key)
	plain := make([]byte, size-16)
	(&patternReader{left: int64(len(plain))}).Read(plain)
	ct, _ := EncryptFile(key, plain)
	for _, atRest := range []bool{false, true} {
		name := "plain"
		if atRest {
			name = "at-rest"
		}
		b.Run(name, func(b *testing.B) {
			s := &Server{cfg: testConfig(func(c *Config) { c.EncryptAtRest = atRest })}
			var w writeCounter
			b.SetBytes(int64(len(ct)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				r := &socketReader{r: bytes.NewReader(ct), max: 64 << 10}
				if _, _, err := s.stream(r, &w, block, int64(len(ct))); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(w.n)/float64(b.N)/float64(len(ct)>>20), "writes/MiB")
		})
	}
}
