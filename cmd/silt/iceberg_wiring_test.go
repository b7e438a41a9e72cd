package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/jobs/compact"
	"github.com/silt-etl/silt/jobs/retention"
	"github.com/silt-etl/silt/lake"
)

// TestIcebergTablesGetIcebergCompactionAndRetention: with table_format
// iceberg the compact and retention jobs are the Iceberg ones (through
// the catalog, never the lake's objects, which Iceberg tables reference);
// with hive, the lake jobs as before.
func TestIcebergTablesGetIcebergCompactionAndRetention(t *testing.T) {
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	down := catalog.NewLazy(func(context.Context) (*catalog.Catalog, error) {
		return nil, errors.New("dial tcp 127.0.0.1:8080: connection refused")
	}, nil)
	build := func(format string) (compactJob, retentionJob any) {
		cfg := config.Default()
		cfg.Catalog.Kind, cfg.Catalog.Trino.TableFormat = "trino", format
		d := &jobDeps{cfg: cfg, store: store, catalog: down, log: slog.Default()}
		c, err := d.buildJob(config.Job{Name: "compact", Kind: "compact"})
		require.NoError(t, err)
		r, err := d.buildJob(config.Job{Name: "retention", Kind: "retention", Retention: config.Duration(720 * time.Hour)})
		require.NoError(t, err)
		return c, r
	}
	c, r := build("iceberg")
	require.IsType(t, &compact.IcebergJob{}, c)
	require.IsType(t, &retention.IcebergJob{}, r)
	// They work through the catalog: down, they fail and touch nothing.
	_, err = c.(*compact.IcebergJob).Run(t.Context(), time.Now())
	require.ErrorContains(t, err, "connection refused")
	_, err = r.(*retention.IcebergJob).Run(t.Context(), time.Now())
	require.ErrorContains(t, err, "connection refused")

	c, r = build("hive")
	require.IsType(t, &compact.Job{}, c)
	require.IsType(t, &retention.Job{}, r)
}
