package main

import (
	"context"
	"log/slog"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/jobs/compact"
	"github.com/silt-etl/silt/jobs/retention"
	"github.com/silt-etl/silt/scheduler"
)

// icebergTables reports whether the catalog keeps Iceberg tables
// (catalog.trino.table_format: iceberg). Then compaction and retention
// go through Iceberg's own commits (OPTIMIZE, DELETE, snapshot expiry)
// and never through the Hive jobs, which merge and delete objects in the
// lake: an Iceberg table references silt's objects by path, so the Hive
// compaction deleting merged inputs, or Hive retention deleting a
// partition's objects, would break it.
func icebergTables(cfg *config.Config) bool {
	return cfg.Catalog.Kind == "trino" && cfg.Catalog.Trino.TableFormat == "iceberg"
}

// icebergCompactJob compacts Iceberg tables with Trino's OPTIMIZE, per
// hour that ended an hour ago, merging files under
// ingest.target_file_bytes.
func icebergCompactJob(name string, cfg *config.Config, cat func(context.Context) (*catalog.Catalog, error), log *slog.Logger, progress func(compact.Progress)) (*compact.IcebergJob, error) {
	return compact.NewIceberg(name, compact.IcebergOptions{
		Catalog: func(ctx context.Context) (compact.Rewriter, error) {
			c, err := cat(ctx)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		FileSizeThreshold: int64(cfg.Ingest.TargetFileBytes),
		Logger:            log,
		Progress:          progress,
	})
}

// icebergRetentionJob deletes the hours older than j.retention from
// Iceberg tables, then expires snapshots and orphan files
// (catalog.trino.iceberg.snapshot_retention, orphan_file_retention).
func icebergRetentionJob(j config.Job, cfg *config.Config, cat func(context.Context) (*catalog.Catalog, error), log *slog.Logger) (scheduler.Job, error) {
	ice := cfg.Catalog.Trino.Iceberg
	return retention.NewIceberg(j.Name, retention.IcebergOptions{
		Catalog: func(ctx context.Context) (retention.Expirer, error) {
			c, err := cat(ctx)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		Retention:         j.Retention.Std(),
		SnapshotRetention: ice.SnapshotRetention.Std(),
		OrphanRetention:   ice.OrphanFileRetention.Std(),
		Logger:            log,
	})
}
