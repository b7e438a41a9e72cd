//go:build integration

// Package stockmovingaverages_test runs the stock moving averages example
// as its README says, on the embedded broker, and checks what it shows.
package stockmovingaverages_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

type tick struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
	TS     int64   `json:"ts"`
}

// expectedTicks makes the ticks `silt gen --template ticks.json --seed seed
// --start start --step step` sends, from the same template.
func expectedTicks(t *testing.T, seed uint64, n int, start time.Time, step time.Duration) []tick {
	t.Helper()
	raw, err := os.ReadFile("ticks.json")
	require.NoError(t, err)
	tpl, err := gen.ParseTemplate("ticks.json", string(raw))
	require.NoError(t, err)
	src := tpl.Source(seed)
	out := make([]tick, n)
	for i := range out {
		require.NoError(t, json.Unmarshal(src.Next(nil, start.Add(time.Duration(i)*step)).JSON, &out[i]))
	}
	return out
}

// TestStockMovingAveragesExampleE2E: 150 seeded ticks of three symbols,
// half a second apart, through the collector onto page_views (4
// partitions); the moving_averages report is each tick's average with the
// four before it of the same symbol, computed here from the ticks.
func TestStockMovingAveragesExampleE2E(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"silt.yaml", "ticks.json"} {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), raw, 0o644))
	}
	env := siltrun.Env("SILT_HTTP_LISTEN=127.0.0.1:0", "SILT_COLLECT_LISTEN=127.0.0.1:0")
	d := siltrun.Start(t, dir, env, "--config", "silt.yaml", "--collect")
	base := d.CollectorURL(t)

	start := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	const n, seed, step = 150, 11, 500 * time.Millisecond
	cmd := exec.Command(stacktest.SiltBin(t), "gen", "--config", "silt.yaml", "--template", "ticks.json", "--http", base,
		"--seed", strconv.Itoa(seed), "--count", strconv.Itoa(n), "--start", start.Format(time.RFC3339), "--step", step.String(), "--rate", "0")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	ticks := expectedTicks(t, seed, n, start, step)
	sort.SliceStable(ticks, func(i, j int) bool {
		if ticks[i].Symbol != ticks[j].Symbol {
			return ticks[i].Symbol < ticks[j].Symbol
		}
		return ticks[i].TS < ticks[j].TS
	})
	want := [][]string{{"symbol", "event_time", "price", "moving_avg"}}
	avgs := []float64{0}
	for i, tk := range ticks {
		sum, k := 0.0, 0
		for j := i; j >= 0 && j >= i-4 && ticks[j].Symbol == tk.Symbol; j-- {
			sum += ticks[j].Price
			k++
		}
		want = append(want, []string{tk.Symbol, time.UnixMilli(tk.TS).UTC().Format("2006-01-02T15:04:05.000Z"), fmt.Sprint(tk.Price)})
		avgs = append(avgs, sum/float64(k))
	}

	latest := filepath.Join(dir, "silt-data", "reports", "moving_averages", "latest.csv")
	var got [][]string
	d.WaitFor(t, "the moving average of every tick", 3*time.Minute, func() bool {
		f, err := os.Open(latest)
		if err != nil {
			return false
		}
		defer func() { _ = f.Close() }() // read only: polled until it holds every row
		got, _ = csv.NewReader(f).ReadAll()
		return len(got) == len(want)
	})
	d.Stop(t)
	require.Equal(t, want[0], got[0])
	for i := 1; i < len(want); i++ {
		require.Equal(t, want[i][:2], got[i][:2], "row %d", i)
		price, err := strconv.ParseFloat(got[i][2], 64)
		require.NoError(t, err)
		require.InDelta(t, ticks[i-1].Price, price, 1e-9, "row %d price", i)
		avg, err := strconv.ParseFloat(got[i][3], 64)
		require.NoError(t, err)
		require.InDelta(t, avgs[i], avg, 1e-6, "row %d moving_avg", i)
	}
	require.Contains(t, d.Output(), "EMBEDDED demo Kafka broker")
	parts, err := filepath.Glob(filepath.Join(dir, "silt-data", "_kafka", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, parts)
}
