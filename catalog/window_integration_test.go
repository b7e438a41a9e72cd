//go:build integration

package catalog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog/catalogtest"
)

// The differential test for sub-minute windows: event_counts_by_window
// with windows of 10s, 1m, 90s and 1h (and the older window_minutes) gives
// byte-identical CSV on Trino over MinIO and on DuckDB over a copy of the
// same files, and both count exactly what the events say.
func TestWindowDurationsDifferentialIntegration(t *testing.T) {
	tl := newTrinoLake(t)
	tc := tl.open(t)
	events := catalogtest.Generate(3, 600, t0, 20*time.Minute)
	changes, err := catalogtest.Write(t.Context(), tl.store, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	require.NoError(t, tc.Register(t.Context(), changes))
	dc := openDuck(t, copyLake(t, tl.store))

	start, end := t0.Add(95*time.Second), t0.Add(17*time.Minute)
	for _, params := range windowSizes {
		trino, n := windowCSV(t, tc, params, start, end)
		duck, _ := windowCSV(t, dc, params, start, end)
		require.Greater(t, n, 2, "%v", params)
		require.Equal(t, duck, trino, "%v: Trino and DuckDB differ", params)
		require.Equal(t, expectedWindowCounts(events, windowSize(t, params), start, end), trino, "%v", params)
		t.Logf("window %v: %d rows identical on Trino and DuckDB", params, n)
	}
}

// The generic moving average (table, key and value as params) gives the
// same rows on Trino and DuckDB, and the averages computed in Go.
func TestGenericMovingAverageDifferentialIntegration(t *testing.T) {
	tl := newTrinoLake(t)
	tc := tl.open(t)
	events := catalogtest.Generate(4, 300, t0, 20*time.Minute)
	changes, err := catalogtest.Write(t.Context(), tl.store, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	require.NoError(t, tc.Register(t.Context(), changes))
	dc := openDuck(t, copyLake(t, tl.store))

	start, end := t0, t0.Add(15*time.Minute)
	trino := reportCSV(t, tc, "moving_average", movingAverageParams, start, end)
	duck := reportCSV(t, dc, "moving_average", movingAverageParams, start, end)
	require.Equal(t, duck, trino, "Trino and DuckDB differ")
	requireMovingAverage(t, expectedMovingAverage(events, start, end), trino)
}

// The watermark on Trino and DuckDB: window_average with a 90 s
// watermark emits the same closed windows on both engines, equal to the
// rows computed in Go, before and after purchases later than the
// lateness arrive (their windows are emitted again, changed, the same on
// both).
func TestWindowAverageWatermarkDifferentialIntegration(t *testing.T) {
	tl := newTrinoLake(t)
	tc := tl.open(t)
	onTime, late := watermarkEvents()
	changes, err := catalogtest.Write(t.Context(), tl.store, catalogtest.Schemas(), onTime, 0)
	require.NoError(t, err)
	require.NoError(t, tc.Register(t.Context(), changes))
	at := t0.Add(25 * time.Minute)

	want := expectedWatermarkRows(onTime, at)
	trino := watermarkCSV(t, tc, at)
	require.Equal(t, watermarkCSV(t, openDuck(t, copyLake(t, tl.store)), at), trino, "Trino and DuckDB differ")
	require.Empty(t, catalogtest.DiffWindowAverages(want, trino))

	changes, err = catalogtest.Write(t.Context(), tl.store, catalogtest.Schemas(), late, 10_000)
	require.NoError(t, err)
	require.NoError(t, tc.Register(t.Context(), changes))
	want2 := expectedWatermarkRows(append(onTime, late...), at)
	require.NotEqual(t, want, want2)
	trino = watermarkCSV(t, tc, at)
	require.Equal(t, watermarkCSV(t, openDuck(t, copyLake(t, tl.store)), at), trino, "Trino and DuckDB differ after the late purchases")
	require.Empty(t, catalogtest.DiffWindowAverages(want2, trino))
	t.Logf("%d windows identical on Trino and DuckDB, late purchases included", len(want2)-1)
}
