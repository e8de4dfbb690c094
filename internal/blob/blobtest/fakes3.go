package blobtest

import (
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"gatehouse/internal/blob"
)

// FakeS3Env starts an in-process S3 server (gofakes3) on 127.0.0.1 with
// the given bucket and points the GATEHOUSE_S3_* variables at it for the
// rest of t, so blob.url = "s3://<bucket>/…" reaches it as a daemon would.
func FakeS3Env(t testing.TB, bucket string) {
	t.Helper()
	be := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(srv.Close)
	if err := be.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	t.Setenv(blob.EnvS3Endpoint, srv.Listener.Addr().String())
	t.Setenv(blob.EnvS3Insecure, "true")
	t.Setenv(blob.EnvS3AccessKey, "key")
	t.Setenv(blob.EnvS3SecretKey, "secret")
	t.Setenv(blob.EnvS3Region, "us-east-1")
}
