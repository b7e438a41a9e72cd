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
	check := func(want bool) {
		t.Helper()
		cfg, err := config.Load("")
		require.NoError(t, err)
		var opts report.JobOptions
		(&jobDeps{cfg: cfg}).reportSinks(tableJob, &opts, nil)
		require.Equal(t, want, ingestOptions(cfg, nil).ColumnIndexes, "ingest")
		require.Equal(t, want, compactOptions(cfg, nil).ColumnIndexes, "compaction")
		require.Equal(t, want, opts.Table.ColumnIndexes, "report table")
	}
	check(false)
	t.Setenv("SILT_INGEST_COLUMN_INDEXES", "true")
	check(true)

	t.Setenv("SILT_INGEST_COLUMN_INDEXES", "sometimes")
	_, err := config.Load("")
	require.ErrorContains(t, err, "SILT_INGEST_COLUMN_INDEXES")
}
