package daemon_test

import (
	"testing"

	"gatehouse/internal/blob"
	"gatehouse/internal/blob/blobtest"
	"gatehouse/internal/config"
	"gatehouse/internal/daemon"
)

// blob.url = s3://… plus the GATEHOUSE_S3_* variables must reach an
// S3-compatible server, and two daemons configured alike must share blobs.
func TestOpenBlobS3FromConfigAndEnv(t *testing.T) {
	blobtest.FakeS3Env(t, "gatehouse")
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Blob.URL = "s3://gatehouse/prod"

	a, err := daemon.OpenBlob(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	s3a, ok := a.(*blob.S3)
	if !ok {
		t.Fatalf("OpenBlob returned %T, want *blob.S3", a)
	}
	if s3a.Bucket() != "gatehouse" || s3a.Prefix() != "prod/" || s3a.PartSize() != blob.S3DefaultPartSize {
		t.Fatalf("bucket %q prefix %q part %d", s3a.Bucket(), s3a.Prefix(), s3a.PartSize())
	}
	b, err := daemon.OpenBlob(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	blobtest.Put(t, blob.Prefixed(a, "e2eeftp"), "bob/report.pdf", []byte("shared"))
	if got, _ := blobtest.Get(t, blob.Prefixed(b, "e2eeftp"), "bob/report.pdf"); string(got) != "shared" {
		t.Fatalf("second daemon read %q", got)
	}
	if infos, err := b.List(t.Context(), "e2eeftp/"); err != nil || len(infos) != 1 || infos[0].Name != "e2eeftp/bob/report.pdf" {
		t.Fatalf("second daemon lists %+v %v", infos, err)
	}

	cfg.Blob.URL = "s3://missing-bucket/x"
	if s, err := daemon.OpenBlob(t.Context(), cfg); err == nil {
		s.Close()
		t.Fatal("OpenBlob accepted a missing bucket")
	}
}
