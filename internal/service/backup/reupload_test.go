package backup

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// A re-upload of a verified file that ends in 1031 (three CRC mismatches:
// the --debug fault on a second daemon sharing the store) leaves the
// verified copy, its row and its blob, exactly as they were.
func TestFailedReuploadKeepsVerifiedCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad := e.sibling(func(c *Config) { c.TestCRCOffByOne = true })
	c := e.newClient("keeper")
	v1 := bytes.Repeat([]byte("version one "), 1000)
	if res, err := c.Upload(ctx, "doc.txt", bytes.NewReader(v1), int64(len(v1))); err != nil || !res.Verified {
		t.Fatal(res, err)
	}
	before, err := e.db.BackupFile(ctx, c.ID.String(), "doc.txt")
	if err != nil || !before.Verified {
		t.Fatal(before, err)
	}
	blobsBefore := e.blobNames()

	c.Addr = bad.addr
	v2 := bytes.Repeat([]byte("version two "), 1500)
	res, err := c.Upload(ctx, "doc.txt", bytes.NewReader(v2), int64(len(v2)))
	if err == nil || res.Verified || res.Attempts != 3 || res.ServerCRC != res.CRC+1 {
		t.Fatalf("re-upload through the faulty server: %+v %v", res, err)
	}
	after, err := e.db.BackupFile(ctx, c.ID.String(), "doc.txt")
	if err != nil || !after.Verified || after.Status != store.BackupVerified || after.Path != before.Path ||
		after.CRC != before.CRC || after.Size != before.Size || after.Pending != nil || after.Attempts != 4 {
		t.Fatalf("row after the failed re-upload %+v (before %+v)", after, before)
	}
	if got, err := e.readBlob(after.Path); err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("verified copy: %d bytes %v", len(got), err)
	}
	e.waitBlobs(blobsBefore...)
}

// While a re-upload waits for its 1029 the verified copy is what the row
// serves; the 1029 swaps the new copy in as version 2 and keeps the old one
// as version 1.
func TestConfirmedReuploadReplacesCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.newClient("swapper")
	v1, v2 := []byte("first copy"), bytes.Repeat([]byte("second copy "), 3000)
	if res, err := c.Upload(ctx, "f.bin", bytes.NewReader(v1), int64(len(v1))); err != nil || !res.Verified {
		t.Fatal(res, err)
	}
	old, _ := e.db.BackupFile(ctx, c.ID.String(), "f.bin")

	local, server, err := c.UploadOnce(ctx, "f.bin", bytes.NewReader(v2), int64(len(v2)))
	if err != nil || local != server {
		t.Fatal(local, server, err)
	}
	mid, _ := e.db.BackupFile(ctx, c.ID.String(), "f.bin")
	if !mid.Verified || mid.Path != old.Path || mid.Pending == nil || mid.Pending.CRC != local ||
		mid.Pending.Size != int64(len(v2)) {
		t.Fatalf("row while the re-upload is pending %+v %+v", mid, mid.Pending)
	}
	if got, _ := e.readBlob(c.ID.String() + "/f.bin"); !bytes.Equal(got, v1) {
		t.Fatal("the pending upload replaced the verified copy before its 1029")
	}
	if got, _ := e.readBlob(mid.Pending.Path); !bytes.Equal(got, v2) {
		t.Fatal("pending blob is not the new upload")
	}
	if err := c.SendStatus(ctx, CodeCRCOK, "f.bin"); err != nil {
		t.Fatal(err)
	}
	now, _ := e.db.BackupFile(ctx, c.ID.String(), "f.bin")
	if !now.Verified || now.Path != mid.Pending.Path || now.CRC != local || now.Pending != nil {
		t.Fatalf("row after the 1029 %+v", now)
	}
	if got, _ := e.readBlob(c.ID.String() + "/f.bin"); !bytes.Equal(got, v2) {
		t.Fatal("the confirmed copy is not the new upload")
	}
	// The first copy stays as version 1, blob and all.
	vs, err := e.db.BackupVersions(ctx, c.ID.String(), "f.bin")
	if err != nil || len(vs) != 2 || vs[0].Path != old.Path || vs[1].Path != now.Path {
		t.Fatalf("versions %+v %v", vs, err)
	}
	if got, _ := e.readBlob(old.Path); !bytes.Equal(got, v1) {
		t.Fatal("version 1's blob is gone")
	}
	e.waitBlobs(old.Path, now.Path)
}

// One client uploading the same name twice at once, the first upload's
// row write coming after the second finished entirely: the row, and the
// one blob left, describe the same upload (before, both shared one blob
// name, so the row could carry one upload's CRC over the other's bytes).
func TestConcurrentUploadsOfOneName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.newClient("twice")
	a, b := bytes.Repeat([]byte("A"), 70_000), bytes.Repeat([]byte("B"), 50_000)
	var first atomic.Bool
	firstCommitted, secondDone := make(chan struct{}), make(chan struct{})
	e.srv.afterCommit = func() {
		// sync.Once would make the second upload wait for the first here.
		if first.CompareAndSwap(false, true) {
			close(firstCommitted)
			select {
			case <-secondDone:
			case <-time.After(10 * time.Second):
			}
		}
	}
	errA := make(chan error, 1)
	var crcA uint32
	go func() {
		var server uint32
		var err error
		crcA, server, err = c.UploadOnce(ctx, "same.bin", bytes.NewReader(a), int64(len(a)))
		if err == nil && crcA != server {
			err = errMismatch
		}
		errA <- err
	}()
	<-firstCommitted
	crcB, server, err := c.UploadOnce(ctx, "same.bin", bytes.NewReader(b), int64(len(b)))
	close(secondDone)
	if err != nil || crcB != server {
		t.Fatal(crcB, server, err)
	}
	if err := <-errA; err != nil {
		t.Fatal(err)
	}
	f, err := e.db.BackupFile(ctx, c.ID.String(), "same.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.readBlob(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := EncryptFile(c.AESKey, got)
	if f.CRC != CRC(ct) || f.Size != int64(len(got)) || (f.CRC != crcA && f.CRC != crcB) {
		t.Fatalf("row (crc %08x, %d bytes) does not describe its blob (crc %08x, %d bytes)", f.CRC, f.Size, CRC(ct), len(got))
	}
	e.waitBlobs(f.Path)
}

var errMismatch = errorString("crc mismatch")

type errorString string

func (e errorString) Error() string { return string(e) }
