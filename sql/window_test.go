package sql

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

func TestDurationParam(t *testing.T) {
	ps, err := parseParams("window=duration:10s")
	require.NoError(t, err)
	for text, want := range map[string]time.Duration{"10s": 10 * time.Second, "1m": time.Minute, "1h30m": 90 * time.Minute, "0s": 0} {
		v, err := ps[0].parse(text, time.Unix(0, 0))
		require.NoError(t, err, text)
		require.Equal(t, Duration(want), v)
	}
	require.Equal(t, "90", Duration(90*time.Second).String(), "a duration prints as whole seconds")
	for _, bad := range []string{"1.5s", "-1m", "10", "soon", "500ms"} {
		_, err := ps[0].parse(bad, time.Unix(0, 0))
		require.ErrorContains(t, err, "is not a duration in whole seconds: write it like 10s, 1m or 1h", bad)
	}
	_, err = parseParams("window=duration:fast")
	require.ErrorContains(t, err, "param window default")
}

func TestWindowTakesDurations(t *testing.T) {
	q, err := render(t, "trino", `{{window "event_time" .w}}`, map[string]any{"w": Duration(10 * time.Second)})
	require.NoError(t, err)
	require.Equal(t, `date_add('second', date_diff('second', TIMESTAMP '1970-01-01 00:00:00', "event_time") / 10 * 10, TIMESTAMP '1970-01-01 00:00:00')`, q)
	q, err = render(t, "duckdb", `{{window "event_time" .w}}`, map[string]any{"w": Duration(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, `(TIMESTAMP '1970-01-01 00:00:00' + to_seconds(date_diff('second', TIMESTAMP '1970-01-01 00:00:00', "event_time") // 3600 * 3600))`, q)
	for _, w := range []Duration{0, Duration(8 * 24 * time.Hour)} {
		_, err = render(t, "duckdb", `{{window "event_time" .w}}`, map[string]any{"w": w})
		require.ErrorContains(t, err, "use 1s to 168h")
	}
}

// The shipped windowed reports take window (a duration) and still take
// window_minutes; window wins when both are given.
func TestWindowedReportsTakeBothForms(t *testing.T) {
	reports, err := Load("")
	require.NoError(t, err)
	engine := Engine{Dialect: "duckdb", Tables: tables, Qualify: func(s string) string { return s }}
	for _, name := range []string{"event_counts_by_window", "error_alert"} {
		for params, want := range map[[2]string]string{
			{"window", "10s"}:       "// 10 * 10",
			{"window_minutes", "7"}: "// 420 * 420",
			{"", ""}:                map[string]string{"event_counts_by_window": "// 300 * 300", "error_alert": "// 60 * 60"}[name],
		} {
			given := map[string]string{}
			if params[0] != "" {
				given[params[0]] = params[1]
			}
			values, err := reports[name].Values(given, time.Unix(0, 0))
			require.NoError(t, err, "%s %v", name, given)
			q, err := reports[name].Render(engine, values)
			require.NoError(t, err)
			require.Contains(t, q, want, "%s %v", name, given)
		}
		values, err := reports[name].Values(map[string]string{"window": "30s", "window_minutes": "7"}, time.Unix(0, 0))
		require.NoError(t, err)
		q, err := reports[name].Render(engine, values)
		require.NoError(t, err)
		require.Contains(t, q, "// 30 * 30", "%s: window wins over window_minutes", name)
	}
}

// moving_average takes any table, key and value; a name that is not an
// identifier never reaches the SQL.
func TestMovingAverageTakesAnyTableAndColumns(t *testing.T) {
	reports, err := Load("")
	require.NoError(t, err)
	r := reports["moving_average"]
	ticks := map[string][]lake.Column{"tick": {{Name: "event_time", Type: "timestamp"}, {Name: "kafka_partition", Type: "bigint"},
		{Name: "kafka_offset", Type: "bigint"}, {Name: "symbol", Type: "varchar"}, {Name: "price", Type: "double"}}}
	engine := Engine{Dialect: "trino", Tables: ticks, Qualify: func(s string) string { return `"q"."` + s + `"` }}
	values, err := r.Values(map[string]string{"table": "tick", "key": "symbol", "value": "price"}, time.Unix(0, 0))
	require.NoError(t, err)
	q, err := r.Render(engine, values)
	require.NoError(t, err)
	require.Contains(t, q, `SELECT "symbol", event_time, "price"`)
	require.Contains(t, q, `PARTITION BY "symbol"`)
	require.Contains(t, q, `CAST("price" AS double) AS "price" FROM "q"."tick"`)

	values, err = r.Values(nil, time.Unix(0, 0))
	require.NoError(t, err)
	q, err = r.Render(engine, values)
	require.NoError(t, err)
	require.Contains(t, q, `SELECT "sword", event_time, "price"`, "the defaults are the sword price per sword")

	for _, bad := range []map[string]string{{"key": `sword" FROM x; --`}, {"table": "a b"}, {"value": "Price"}} {
		values, err := r.Values(bad, time.Unix(0, 0))
		require.NoError(t, err)
		_, err = r.Render(engine, values)
		require.ErrorContains(t, err, "is not a table or column name", "%v", bad)
	}
}
