package e2eeftp

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/fsutil/tmpfstest"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store"
)

// With the blob store and the metadata store (replay log) on a full file
// system, reads keep working and a SEND gets a failure reply, never 226,
// with "no space left" in the log. Before, every hello was refused (the
// replay log could not record it) and a failed write said "500|Decryption
// Failed".
func TestDiskFullKeepsReadsWorking(t *testing.T) {
	t.Parallel()
	mnt := tmpfstest.Mount(t, 2048)
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(mnt, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m := newMeteredOn(t, filepath.Join(mnt, "blobs"), netsvctest.DefaultLimits, withReplay(db))
	m.put("before.txt", "kept across the full disk")
	tmpfstest.Fill(t, mnt)

	for i := 0; i < 3; i++ { // several connections: each hello needs the replay log
		names, err := m.client.List(ctx)
		if err != nil || len(names) != 1 || names[0] != "before.txt" {
			t.Fatalf("LIST on a full disk: %q %v", names, err)
		}
		var got bytes.Buffer
		if _, err := m.client.Get(ctx, "before.txt", &got); err != nil || got.String() != "kept across the full disk" {
			t.Fatalf("GET on a full disk: %q %v", got.String(), err)
		}
	}
	data := bytes.Repeat([]byte("x"), 256<<10)
	err = m.client.Send(ctx, "new.bin", bytes.NewReader(data), int64(len(data)))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 500 || se.Text != "Server Write Error" {
		t.Fatalf("SEND on a full disk: %v", err)
	}
	if m.has("new.bin") {
		t.Fatal("a failed SEND left a file")
	}
	if !strings.Contains(m.logs.String(), "no space left") {
		t.Fatalf("no \"no space left\" in the log:\n%s", m.logs.String())
	}
	// A small SEND fails too (the temporary blob cannot grow).
	if err := m.client.Send(ctx, "small.txt", strings.NewReader("hi"), 2); !errors.As(err, &se) || se.Code != 500 {
		t.Fatalf("small SEND on a full disk: %v", err)
	}
}
