package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/blob"
	"gatehouse/internal/fsutil/tmpfstest"
	"gatehouse/internal/netsvc/netsvctest"
	"gatehouse/internal/store"
)

// With the store and the blobs on a full file system, an upload is
// answered 2107 (after its payload was read), never 2103, and the log says
// "no space left"; a reconnect (a read) still works. Before, the server
// closed without an answer.
func TestDiskFullUploadGets2107(t *testing.T) {
	t.Parallel()
	mnt := tmpfstest.Mount(t, 2048)
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(mnt, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	local, err := blob.OpenLocal(filepath.Join(mnt, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	e := &env{t: t, db: db, blobs: blob.Prefixed(local, "backup"), reg: prometheus.NewRegistry(), master: make([]byte, 32)}
	rand.Read(e.master)
	e.serve(testConfig(), netsvctest.DefaultLimits)
	c := e.newClient("alice")
	tmpfstest.Fill(t, mnt)

	data := bytes.Repeat([]byte("full disk "), 100<<10) // 1 MB: more than one chunk
	res, err := c.Upload(ctx, "big.bin", bytes.NewReader(data), int64(len(data)))
	var re *ResponseError
	if !errors.As(err, &re) || re.Response != RespError || res.Verified || res.Attempts != 3 {
		t.Fatalf("upload on a full disk: %+v %v, want 2107 three times", res, err)
	}
	if !strings.Contains(e.logText(), "no space left") {
		t.Fatalf("no \"no space left\" in the log:\n%s", e.logText())
	}
	if names := e.blobNames(); len(names) != 0 {
		t.Fatalf("blobs left behind: %v", names)
	}
	// Reads keep working: the client can still log back in.
	r := e.client("alice")
	r.ID = c.ID
	if err := r.Reconnect(ctx); err != nil {
		t.Fatalf("reconnect on a full disk: %v", err)
	}
}
