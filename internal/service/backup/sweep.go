package backup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/blob"
	"gatehouse/internal/store"
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
	cutoff := s.cfg.Now().Add(-minAge)
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

// Retention is the version policy the sweep applies (Config.KeepVersions,
// Config.KeepDays).
func (s *Server) Retention() store.BackupRetention {
	pol := store.BackupRetention{Keep: max(s.cfg.KeepVersions, 0)}
	if s.cfg.KeepDays > 0 {
		pol.MaxAge = time.Duration(s.cfg.KeepDays) * 24 * time.Hour
	}
	return pol
}

// ApplyRetention removes the versions the operator's policy no longer
// keeps, and their blobs; a file's newest version always stays. It is the
// only way a verified version goes: no client request removes one. It
// returns how many versions it removed. A blob whose removal fails is left
// to SweepOrphans.
func (s *Server) ApplyRetention(ctx context.Context) (int, error) {
	gone, err := s.db.BackupPruneVersions(ctx, s.Retention(), s.cfg.Now())
	if err != nil || len(gone) == 0 {
		return 0, err
	}
	refs, err := s.db.BackupBlobPaths(ctx)
	if err != nil {
		return len(gone), err
	}
	var errs []error
	for _, v := range gone {
		if refs[v.Path] {
			continue
		}
		if err := s.blobs.Remove(ctx, v.Path); err != nil && !errors.Is(err, blob.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return len(gone), errors.Join(errs...)
}

// UsageTotals is what every client's versions take together.
func (s *Server) UsageTotals(ctx context.Context) (versions, bytes int64, err error) {
	u, err := s.db.BackupUsage(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, x := range u {
		versions += int64(x.Versions)
		bytes += x.VersionBytes + x.OtherBytes
	}
	return versions, bytes, nil
}

// sweepEvery is how often Run applies the retention and sweeps orphans.
const sweepEvery = time.Hour

// Run applies the version retention and removes unreferenced upload blobs
// at once and then every hour, until ctx ends (the daemon runs it as the
// service's background work).
func (s *Server) Run(ctx context.Context) error {
	log := s.log
	for {
		if n, err := s.ApplyRetention(ctx); err != nil && ctx.Err() == nil {
			log.Warn("applying version retention", "err", err)
		} else if n > 0 {
			log.Info("removed versions past retention", "count", n)
		}
		n, err := s.SweepOrphans(ctx, OrphanMinAge)
		if err != nil && ctx.Err() == nil {
			log.Warn("sweeping orphaned upload blobs", "err", err)
		}
		if n > 0 {
			log.Info("removed orphaned upload blobs", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(sweepEvery):
		}
	}
}
