package compact

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Rewriter is the catalog as Iceberg compaction sees it (a
// *catalog.Catalog on Trino with table_format iceberg).
type Rewriter interface {
	TableNames(ctx context.Context) ([]string, error)
	SmallFileHours(ctx context.Context, table string, threshold int64, before time.Time) ([]time.Time, error)
	OptimizeHour(ctx context.Context, table string, hour time.Time, threshold int64) error
}

// IcebergOptions configure compaction of Iceberg tables.
type IcebergOptions struct {
	// Catalog opens (or returns) the catalog; silt run passes
	// catalog.Lazy's Get, so a catalog that is down fails the run, which
	// the scheduler retries.
	Catalog func(ctx context.Context) (Rewriter, error)
	// FileSizeThreshold: data files under it are merged (silt.yaml's
	// ingest.target_file_bytes). An hour is rewritten only when it has two
	// or more such files, so a merged hour is not rewritten again.
	FileSizeThreshold int64
	// Grace: an hour is compacted once it ended this long ago (0: an
	// hour, as for Hive tables).
	Grace time.Duration
	// Logger gets the job's log lines; nil discards them.
	Logger *slog.Logger
	// Progress, when set, is called once the hours due are listed and
	// after each is compacted.
	Progress func(Progress)
}

// IcebergJob compacts Iceberg tables with Iceberg's own rewrite (Trino's
// OPTIMIZE), one hour of one table per commit. Unlike the Hive job it
// writes nothing itself and needs no manifest: each rewrite is one atomic
// Iceberg commit (readers see the old files or the merged ones, never
// both), and the replaced files stay readable by older snapshots until
// retention expires them. Two runs racing on one hour are settled by
// Iceberg's optimistic commit: one of them fails and is retried.
type IcebergJob struct {
	name string
	opts IcebergOptions
	log  *slog.Logger
}

// NewIceberg makes an Iceberg compaction job.
func NewIceberg(name string, opts IcebergOptions) (*IcebergJob, error) {
	if opts.Catalog == nil {
		return nil, fmt.Errorf("compact job %s: no catalog", name)
	}
	if opts.FileSizeThreshold <= 0 {
		return nil, fmt.Errorf("compact job %s: file size threshold must be positive (ingest.target_file_bytes)", name)
	}
	if opts.Grace == 0 {
		opts.Grace = time.Hour
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &IcebergJob{name: name, opts: opts, log: log}, nil
}

func (j *IcebergJob) Name() string { return j.name }

// Run rewrites every hour that ended before scheduledAt - grace and holds
// two or more small files. Counts: "partitions" (hours rewritten).
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
	type due struct {
		table string
		hour  time.Time
	}
	var work []due
	for _, t := range tables {
		hours, err := cat.SmallFileHours(ctx, t, j.opts.FileSizeThreshold, scheduledAt.Add(-j.opts.Grace))
		if err != nil {
			return counts, err
		}
		for _, h := range hours {
			work = append(work, due{t, h})
		}
	}
	if j.opts.Progress != nil {
		j.opts.Progress(Progress{PartitionsTotal: len(work)})
	}
	for i, w := range work {
		if err := cat.OptimizeHour(ctx, w.table, w.hour, j.opts.FileSizeThreshold); err != nil {
			return counts, err
		}
		counts["partitions"]++
		if j.opts.Progress != nil {
			j.opts.Progress(Progress{Partitions: i + 1, PartitionsTotal: len(work)})
		}
	}
	if counts["partitions"] > 0 {
		j.log.Info("compacted iceberg hours", "partitions", counts["partitions"])
	}
	return counts, nil
}
