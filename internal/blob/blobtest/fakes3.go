package blobtest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

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

// Variables that name the real S3-compatible server of the test run
// (.ci/run starts SeaweedFS and sets them).
const (
	EnvTestS3Endpoint  = "GATEHOUSE_TEST_S3_ENDPOINT" // host:port, plain http on loopback
	EnvTestS3AccessKey = "GATEHOUSE_TEST_S3_ACCESS_KEY"
	EnvTestS3SecretKey = "GATEHOUSE_TEST_S3_SECRET_KEY"
)

// RealS3 returns the real S3 server's endpoint and credentials. Without
// them the test is skipped with one line, unless CI=true, where it fails:
// CI must exercise the real server.
func RealS3(t testing.TB) (endpoint, accessKey, secretKey string) {
	t.Helper()
	endpoint = os.Getenv(EnvTestS3Endpoint)
	if endpoint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: .ci/run starts the real S3 server (SeaweedFS) and sets it", EnvTestS3Endpoint)
		}
		t.Skipf("no real S3 server (%s unset; .ci/run starts one)", EnvTestS3Endpoint)
	}
	return endpoint, os.Getenv(EnvTestS3AccessKey), os.Getenv(EnvTestS3SecretKey)
}

// RealS3Env creates a fresh bucket on the real S3 server (RealS3), points
// the GATEHOUSE_S3_* variables at it for the rest of t, as a daemon would
// be configured, and returns the bucket's name. The bucket is emptied and
// removed when t ends.
func RealS3Env(t testing.TB) string {
	t.Helper()
	endpoint, access, secret := RealS3(t)
	raw, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("gh-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := raw.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("real S3 at %s: make bucket: %v", endpoint, err)
	}
	t.Cleanup(func() { RemoveBucket(raw, bucket) })
	t.Setenv(blob.EnvS3Endpoint, endpoint)
	t.Setenv(blob.EnvS3Insecure, "true")
	t.Setenv(blob.EnvS3AccessKey, access)
	t.Setenv(blob.EnvS3SecretKey, secret)
	t.Setenv(blob.EnvS3Region, "us-east-1")
	return bucket
}

// RawS3 is a plain client of the S3 server the GATEHOUSE_S3_* variables
// name, for looking behind the store's back.
func RawS3(t testing.TB) *minio.Client {
	t.Helper()
	o := blob.S3OptionsFromEnv()
	raw, err := minio.New(o.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// RemoveBucket empties and deletes a bucket (pending uploads included).
func RemoveBucket(raw *minio.Client, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for u := range raw.ListIncompleteUploads(ctx, name, "", true) {
		if u.Err == nil {
			raw.RemoveIncompleteUpload(ctx, name, u.Key)
		}
	}
	for o := range raw.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err == nil {
			raw.RemoveObject(ctx, name, o.Key, minio.RemoveObjectOptions{})
		}
	}
	raw.RemoveBucket(ctx, name)
}
