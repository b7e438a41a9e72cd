package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLakeLayoutDefaultEnvironmentAndBadValue(t *testing.T) {
	cfg, err := Load("")
	require.NoError(t, err)
	require.Equal(t, "dt_hour", cfg.Lake.Layout, "the default")

	t.Setenv("SILT_LAKE_LAYOUT", "year_month_day_hour")
	cfg, err = Load("")
	require.NoError(t, err)
	require.Equal(t, "year_month_day_hour", cfg.Lake.Layout)

	file := filepath.Join(t.TempDir(), "silt.yaml")
	require.NoError(t, os.WriteFile(file, []byte("kafka: {brokers: [embedded]}\nlake: {layout: year_month_day_hour}\n"), 0o600))
	require.NoError(t, os.Unsetenv("SILT_LAKE_LAYOUT"))
	cfg, err = Load(file)
	require.NoError(t, err)
	require.Equal(t, "year_month_day_hour", cfg.Lake.Layout, "from the file")

	t.Setenv("SILT_LAKE_LAYOUT", "y/m/d")
	_, err = Load(file)
	require.ErrorContains(t, err, `lake.layout: "y/m/d": use dt_hour (dt=YYYY-MM-DD/hour=HH, the default) or year_month_day_hour (year=YYYY/month=MM/day=DD/hour=HH)`)
}
