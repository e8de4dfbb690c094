package e2eeftp

import (
	"bytes"
	"io"
	"runtime"
	"testing"
)

// countWriter records every Write.
type countWriter struct {
	bytes.Buffer
	writes int
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// Each chunk leaves in one Write, the header line and IV with the first and
// the tag with the last: a small GET is one system call, a large transfer
// one per chunk (it used to be IV, chunks and tag apart, through a bufio
// copy).
func TestSealOneWritePerChunk(t *testing.T) {
	t.Parallel()
	k := vectorSessionKeys(t)
	var w countWriter
	header := []byte(StatusOK(64))
	if err := k.seal(&w, header, bytes.NewReader([]byte("hello world\n")), 12, bytes.Repeat([]byte{0x66}, 16)); err != nil {
		t.Fatal(err)
	}
	if want := append(header, unhex(t, vGetBody)...); w.writes != 1 || !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("%d writes, %x", w.writes, w.Bytes())
	}
	for _, n := range []int{chunk, 3*chunk + 17} {
		pt := bytes.Repeat([]byte{9}, n)
		want, err := k.SealBytes(pt, make([]byte, 16))
		if err != nil {
			t.Fatal(err)
		}
		w = countWriter{}
		if err := k.seal(&w, []byte("SEND|x|1\n"), bytes.NewReader(pt), int64(n), make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
		if chunks := (n + chunk - 1) / chunk; w.writes != chunks {
			t.Errorf("n=%d: %d writes, want %d", n, w.writes, chunks)
		}
		if !bytes.Equal(w.Bytes(), append([]byte("SEND|x|1\n"), want...)) {
			t.Errorf("n=%d: bytes differ from Seal's", n)
		}
	}
	// A prefix too long for the headroom still goes out first, intact.
	long := bytes.Repeat([]byte{'a'}, MaxHeaderLine+1)
	w = countWriter{}
	if err := k.seal(&w, long, bytes.NewReader(nil), 0, make([]byte, 16)); err != nil || !bytes.HasPrefix(w.Bytes(), long) || w.Len() != len(long)+64 {
		t.Fatalf("long prefix: %v, %d bytes", err, w.Len())
	}
}

// Transfer buffers come from a pool: a Seal or Open of a MiB allocates a
// few hundred bytes of cipher state, not its buffers, each time.
func TestTransferBuffersPooled(t *testing.T) {
	k := vectorSessionKeys(t)
	const n = 1 << 20
	pt := make([]byte, n)
	var body bytes.Buffer
	if err := k.Seal(&body, bytes.NewReader(pt), n, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	rd := bytes.NewReader(nil)
	run := func() {
		rd.Reset(pt)
		if err := k.Seal(io.Discard, rd, n, make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
		rd.Reset(body.Bytes())
		if _, err := k.Open(io.Discard, rd, int64(body.Len())); err != nil {
			t.Fatal(err)
		}
	}
	run()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const rounds = 20
	for i := 0; i < rounds; i++ {
		run()
	}
	runtime.ReadMemStats(&after)
	// Without the pool each round allocates two buffers (Seal's, Open's). Under -race the pool keeps only some of them.
	limit := uint64(32 << 10)
	if raceEnabled {
		limit = chunk + sealHeadroom
	}
	if per := (after.TotalAlloc - before.TotalAlloc) / rounds; per > limit {
		t.Fatalf("%d bytes allocated per Seal+Open of 1 MiB (limit %d)", per, limit)
	}
}
