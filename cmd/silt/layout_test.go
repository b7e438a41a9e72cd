package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/lake"
)

// Every command opens the lake through openLake, which refuses a lake
// written in the other layout with the key and the fix, and passes
// lake.layout on to ingest, the catalog and the status page.
func TestOpenLakeRefusesTheOtherLayout(t *testing.T) {
	ctx := t.Context()
	root := t.TempDir()
	t.Setenv("SILT_LAKE_ROOT", root)
	t.Setenv("SILT_LAKE_LAYOUT", "year_month_day_hour")
	cfg, err := config.Load("")
	require.NoError(t, err)
	store, err := openLake(ctx, cfg)
	require.NoError(t, err, "a new lake takes any layout")
	require.NoError(t, lake.RecordLayout(ctx, store, lake.YearMonthDayHour))
	_, err = openLake(ctx, cfg)
	require.NoError(t, err)
	require.Equal(t, lake.YearMonthDayHour, ingestOptions(cfg, nil).Layout)
	require.Equal(t, lake.YearMonthDayHour, catalogOptions(cfg, nil).Layout)

	t.Setenv("SILT_LAKE_LAYOUT", "dt_hour")
	cfg, err = config.Load("")
	require.NoError(t, err)
	_, err = openLake(ctx, cfg)
	require.ErrorContains(t, err, "lake.layout is dt_hour but the lake records _silt/layout.json = year_month_day_hour: set lake.layout: year_month_day_hour (SILT_LAKE_LAYOUT=year_month_day_hour)")
	require.Equal(t, lake.DtHour, ingestOptions(cfg, nil).Layout)
}
