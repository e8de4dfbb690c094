package backup

import (
	"bytes"
	"context"
	"testing"
	"time"

	"gatehouse/internal/blob/blobtest"
)

func TestSweepOrphansRemovesOnlyOldUnreferencedUploads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	c := e.newClient("sweeper")
	data := bytes.Repeat([]byte("kept "), 1000)
	if res, err := c.Upload(ctx, "kept.txt", bytes.NewReader(data), int64(len(data))); err != nil || !res.Verified {
		t.Fatalf("upload: %+v %v", res, err)
	}
	files, err := e.db.BackupFiles(ctx, c.ID.String())
	if err != nil || len(files) != 1 {
		t.Fatalf("files %+v %v", files, err)
	}
	kept := files[0].Path
	blobtest.Put(t, e.blobs, "files/"+c.ID.String()+"/lost.txt/20260101T000000.000000000Z-00", []byte("orphan"))
	blobtest.Put(t, e.blobs, c.ID.String()+"/legacy.txt", []byte("pre per-upload names"))

	// Right now the orphan is too young: an upload may be between its blob
	// commit and its row write.
	if n, err := e.srv.SweepOrphans(ctx, OrphanMinAge); err != nil || n != 0 {
		t.Fatalf("young orphan swept: %d %v", n, err)
	}
	// Two hours on, it goes; the referenced copy and legacy blobs stay.
	later, err := New(testConfig(func(c *Config) { c.Now = func() time.Time { return time.Now().Add(2 * time.Hour) } }), e.envOf())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := later.SweepOrphans(ctx, OrphanMinAge); err != nil || n != 1 {
		t.Fatalf("swept %d, %v; want 1", n, err)
	}
	for _, name := range []string{kept, c.ID.String() + "/legacy.txt"} {
		if _, err := e.blobs.Stat(ctx, name); err != nil {
			t.Fatalf("%s removed: %v", name, err)
		}
	}
	if infos, _ := e.blobs.List(ctx, "files/"); len(infos) != 1 || infos[0].Name != kept {
		t.Fatalf("left under files/: %+v", infos)
	}
}
