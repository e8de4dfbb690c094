package daemon

import (
	"context"

	"gatehouse/internal/blob"
)

// Building this file in makes blob.url = "s3://bucket/prefix" work; the
// endpoint and credentials come from GATEHOUSE_S3_* so they stay out of
// config files.
func init() {
	openS3 = func(ctx context.Context, u string) (blob.Store, error) {
		return blob.OpenS3(ctx, u, blob.S3OptionsFromEnv())
	}
}
