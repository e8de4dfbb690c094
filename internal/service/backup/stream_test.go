package backup

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
)

// stream over sizes around the chunk and pipeline boundaries, in both
// storage modes, against the one-shot decryption.
func TestStreamChunkBoundaries(t *testing.T) {
	t.Parallel()
	key := make([]byte, 16)
	rand.Read(key)
	block, _ := aes.NewCipher(key)
	for _, atRest := range []bool{false, true} {
		s := &Server{cfg: testConfig(func(c *Config) { c.EncryptAtRest = atRest })}
		for _, n := range []int{0, 1, 15, 16, 17, chunkSize - 17, chunkSize - 16, chunkSize, chunkSize + 1,
			2*chunkSize - 16, 2 * chunkSize, 3*chunkSize + 5} {
			plain := make([]byte, n)
			rand.Read(plain)
			ct, _ := EncryptFile(key, plain)
			var out bytes.Buffer
			got, crc, err := s.stream(bytes.NewReader(ct), &out, block, int64(len(ct)))
			want := plain
			if atRest {
				want = ct
			}
			if err != nil || crc != CRC(ct) || got != int64(len(want)) || !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("at rest %v, %d bytes: n=%d crc ok %v err %v", atRest, n, got, crc == CRC(ct), err)
			}
			// A damaged last block fails its padding check in both modes.
			bad := bytes.Clone(ct)
			for {
				rand.Read(bad[len(bad)-16:])
				if _, err := DecryptFile(key, bad); err != nil {
					break
				}
			}
			if _, _, err := s.stream(bytes.NewReader(bad), &bytes.Buffer{}, block, int64(len(bad))); !errors.Is(err, errBadPadding) {
				t.Fatalf("at rest %v, %d bytes, bad padding: %v", atRest, n, err)
			}
		}
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, fmt.Errorf("disk full")
	}
	w.after--
	return len(p), nil
}

// A failing blob write ends the stream with errBlobWrite, whatever chunk it
// hits, without leaving the writer goroutine blocked.
func TestStreamWriteError(t *testing.T) {
	t.Parallel()
	key := make([]byte, 16)
	block, _ := aes.NewCipher(key)
	ct, _ := EncryptFile(key, make([]byte, 5*chunkSize))
	for _, atRest := range []bool{false, true} {
		s := &Server{cfg: testConfig(func(c *Config) { c.EncryptAtRest = atRest })}
		for after := range 6 {
			_, _, err := s.stream(bytes.NewReader(ct), &failWriter{after: after}, block, int64(len(ct)))
			if !errors.Is(err, errBlobWrite) {
				t.Fatalf("at rest %v, failing after %d writes: %v", atRest, after, err)
			}
		}
	}
}
