package backup

import (
	"context"
	"time"

	"gatehouse/internal/store"
)

// Store is the part of the metadata store the backup server consumes
// (*store.DB implements it): clients, files and versions, padding
// failures, retention and usage.
type Store interface {
	BackupRegister(ctx context.Context, id, name string, now time.Time) error
	BackupClient(ctx context.Context, id string) (store.BackupClient, error)
	BackupSetKeys(ctx context.Context, id string, pub, aesSealed, expectPub []byte, now time.Time) error
	BackupOfferKey(ctx context.Context, id, name string, pub, aesSealed []byte, now time.Time) (c store.BackupClient, installed bool, err error)
	BackupSeen(ctx context.Context, id string, now, staleBefore time.Time) (bool, error)
	BackupPutFile(ctx context.Context, f store.BackupFile) (displaced string, err error)
	BackupConfirmFile(ctx context.Context, clientID, fileName string, now time.Time) (version int64, err error)
	BackupFailFile(ctx context.Context, clientID, fileName string, now time.Time) (changed bool, displaced string, err error)
	BackupVersions(ctx context.Context, clientID, fileName string) ([]store.BackupVersion, error)
	BackupPaddingFailure(ctx context.Context, clientID string, now time.Time, window time.Duration) (int, error)
	BackupPaddingFailures(ctx context.Context, clientID string, now time.Time, window time.Duration) (int, error)
	BackupPruneVersions(ctx context.Context, pol store.BackupRetention, now time.Time) ([]store.BackupVersion, error)
	BackupBlobPaths(ctx context.Context) (map[string]bool, error)
	BackupUsage(ctx context.Context) (map[string]store.BackupUsage, error)
}

var _ Store = (*store.DB)(nil)
