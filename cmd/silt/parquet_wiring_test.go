package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/jobs/report"
)

// ingest.column_indexes reaches every job that writes Parquet: ingest,
// compaction and a report's stored table. Off by default.
func TestColumnIndexesReachEveryParquetWriter(t *testing.T) {
	tableJob := config.Job{Name: "r", Table: &config.ReportTable{Name: "r_rows"}}
	cfg, err := config.Load("")
	require.NoError(t, err)
	var opts report.JobOptions
	(&jobDeps{cfg: cfg}).reportSinks(tableJob, &opts, nil)
	require.False(t, ingestOptions(cfg, nil).ColumnIndexes)
	require.False(t, compactOptions(cfg, nil).ColumnIndexes)
	require.False(t, opts.Table.ColumnIndexes)

	t.Setenv("SILT_INGEST_COLUMN_INDEXES", "true")
	cfg, err = config.Load("")
	require.NoError(t, err)
	opts = report.JobOptions{}
	(&jobDeps{cfg: cfg}).reportSinks(tableJob, &opts, nil)
	require.True(t, ingestOptions(cfg, nil).ColumnIndexes)
	require.True(t, compactOptions(cfg, nil).ColumnIndexes)
	require.True(t, opts.Table.ColumnIndexes)

	t.Setenv("SILT_INGEST_COLUMN_INDEXES", "sometimes")
	_, err = config.Load("")
	require.ErrorContains(t, err, "SILT_INGEST_COLUMN_INDEXES")
}
