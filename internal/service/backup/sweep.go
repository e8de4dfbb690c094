package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/blob"
)

// OrphanMinAge is how old an unreferenced upload blob must be before
// SweepOrphans removes it: far longer than the moment between an upload's
// blob commit and its row write, so an upload in progress on any daemon
// sharing the store is never touched.
const OrphanMinAge = time.Hour

// SweepOrphans removes upload blobs (under "files/") that no row refers to
// and that are older than minAge. They are left by a daemon that stopped
// between committing a blob and writing its row, or by a failed removal.
// Blobs of rows from before per-upload names ("<client>/<file>") are not
// touched. It returns how many blobs it removed.
func (s *Server) SweepOrphans(ctx context.Context, minAge time.Duration) (int, error) {
	// Rows first, then blobs: a blob committed after the rows were read is
	// younger than minAge and so skipped.
	refs, err := s.db.BackupBlobPaths(ctx)
	if err != nil {
		return 0, err
	}
	infos, err := s.blobs.List(ctx, "files/")
	if err != nil {
		return 0, fmt.Errorf("backup: sweep: %w", err)
	}
	cutoff := s.opt.Now().Add(-minAge)
	removed := 0
	var errs []error
	for _, in := range infos {
		if refs[in.Name] || in.ModTime.After(cutoff) {
			continue
		}
		if err := s.blobs.Remove(ctx, in.Name); err != nil && !errors.Is(err, blob.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}
