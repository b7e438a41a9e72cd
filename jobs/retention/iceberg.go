package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Expirer is the catalog as Iceberg retention sees it (a
// *catalog.Catalog on Trino with table_format iceberg).
type Expirer interface {
	TableNames(ctx context.Context) ([]string, error)
	DeleteBefore(ctx context.Context, table string, cutoff time.Time) (int64, error)
	ExpireSnapshots(ctx context.Context, table string, keep time.Duration) error
	RemoveOrphanFiles(ctx context.Context, table string, keep time.Duration) error
}

// IcebergOptions configure retention of Iceberg tables.
type IcebergOptions struct {
	// Catalog opens (or returns) the catalog (catalog.Lazy's Get in silt
	// run).
	Catalog func(ctx context.Context) (Expirer, error)
	// Retention: rows are kept for this long (by the end of their hour).
	Retention time.Duration
	// SnapshotRetention: snapshots older than this are expired, and with
	// them the files only they referenced; time travel reaches this far
	// back.
	SnapshotRetention time.Duration
	// OrphanRetention: unreferenced files under a table's location older
	// than this are deleted. It must exceed the longest time from a data
	// file's upload to its commit.
	OrphanRetention time.Duration
	// Logger gets the job's log lines; nil discards them.
	Logger *slog.Logger
}

// IcebergJob expires Iceberg tables: whole hours older than the
// retention go in one DELETE per table (one commit: a reader sees all of
// them or none of them gone), then old snapshots and orphan files.
// It never lists or deletes objects itself.
type IcebergJob struct {
	name string
	opts IcebergOptions
	log  *slog.Logger
}

// NewIceberg makes an Iceberg retention job.
func NewIceberg(name string, opts IcebergOptions) (*IcebergJob, error) {
	var errs []error
	if opts.Catalog == nil {
		errs = append(errs, errors.New("no catalog"))
	}
	if opts.Retention <= 0 {
		errs = append(errs, errors.New("retention must be positive, e.g. 720h"))
	}
	if opts.SnapshotRetention <= 0 || opts.OrphanRetention <= 0 {
		errs = append(errs, errors.New("snapshot and orphan-file retention must be positive, e.g. 168h"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("retention job %s: %w", name, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &IcebergJob{name: name, opts: opts, log: log}, nil
}

func (j *IcebergJob) Name() string { return j.name }

// Run deletes, per table, every row of an hour that ended before
// scheduledAt - retention, then expires snapshots and removes orphan
// files. Counts: "rows" deleted (when Trino reports them), "tables".
func (j *IcebergJob) Run(ctx context.Context, scheduledAt time.Time) (map[string]int64, error) {
	counts := map[string]int64{}
	cat, err := j.opts.Catalog(ctx)
	if err != nil {
		return counts, err
	}
	tables, err := cat.TableNames(ctx)
	if err != nil {
		return counts, err
	}
	// An hour is expired once its end is before the cutoff, as on Hive
	// tables: rows before the cutoff's own hour, a whole-hour bound.
	cutoff := scheduledAt.Add(-j.opts.Retention).UTC().Truncate(time.Hour)
	for _, t := range tables {
		n, err := cat.DeleteBefore(ctx, t, cutoff)
		if err != nil {
			return counts, err
		}
		if n > 0 {
			counts["rows"] += n
		}
		if err := cat.ExpireSnapshots(ctx, t, j.opts.SnapshotRetention); err != nil {
			return counts, err
		}
		if err := cat.RemoveOrphanFiles(ctx, t, j.opts.OrphanRetention); err != nil {
			return counts, err
		}
		counts["tables"]++
	}
	if counts["rows"] > 0 {
		j.log.Info("expired iceberg rows", "rows", counts["rows"], "before", cutoff)
	}
	return counts, nil
}
