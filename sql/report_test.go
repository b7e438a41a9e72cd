package sql

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

const sample = `-- name: sample
-- description: a test: with a colon
-- schedule: @every 1m
-- params: n=int:5, limit=float:1.5, start=timestamp:now-1h, who=string
-- alert: n_rows >= limit
--   {"event_type":"x"} a comment with a colon
SELECT {{.n}}, {{.limit}}, {{.start}}, {{.who}}
`

func TestParseHeader(t *testing.T) {
	r, err := Parse("sample.sql", sample)
	require.NoError(t, err)
	require.Equal(t, "sample", r.Name)
	require.Equal(t, "a test: with a colon", r.Description)
	require.Equal(t, "@every 1m", r.Schedule)
	require.Equal(t, []Param{{"n", "int", "5"}, {"limit", "float", "1.5"}, {"start", "timestamp", "now-1h"}, {"who", "string", ""}}, r.Params)
	require.Equal(t, &Condition{Column: "n_rows", Op: ">=", Operand: "limit", Text: "n_rows >= limit"}, r.Alert)

	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	v, err := r.Values(map[string]string{"who": "o'brien"}, at)
	require.NoError(t, err)
	q, err := r.Render(Engine{Dialect: "duckdb"}, v)
	require.NoError(t, err)
	require.Equal(t, "SELECT 5, DOUBLE '1.5', TIMESTAMP '2024-05-01 09:00:00.000', 'o''brien'\n", q)
}

func TestParseErrors(t *testing.T) {
	for name, text := range map[string]string{
		"no name":         "SELECT 1",
		"bad name":        "-- name: Bad Name\nSELECT 1",
		"no body":         "-- name: x\n",
		"bad param type":  "-- name: x\n-- params: a=date\nSELECT 1",
		"bad default":     "-- name: x\n-- params: a=int:five\nSELECT 1",
		"dup param":       "-- name: x\n-- params: a=int:1, a=int:2\nSELECT 1",
		"alert op":        "-- name: x\n-- alert: errors ~ 1\nSELECT 1",
		"alert operand":   "-- name: x\n-- alert: errors > nope\nSELECT 1",
		"alert on string": "-- name: x\n-- params: s=string:a\n-- alert: errors > s\nSELECT 1",
		"template":        "-- name: x\nSELECT {{.a",
	} {
		_, err := Parse(name, text)
		require.Error(t, err, name)
	}
}

func TestValues(t *testing.T) {
	r, err := Parse("s", sample)
	require.NoError(t, err)
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	_, err = r.Values(nil, at)
	require.ErrorContains(t, err, "who (string) is required")
	_, err = r.Values(map[string]string{"who": "a", "nn": "1"}, at)
	require.ErrorContains(t, err, `no param "nn"`)
	_, err = r.Values(map[string]string{"who": "a", "n": "5 OR 1=1"}, at)
	require.ErrorContains(t, err, "not a whole number")
	_, err = r.Values(map[string]string{"who": "a", "start": "yesterday"}, at)
	require.Error(t, err)
	for text, want := range map[string]string{
		"now":                           "2024-05-01 10:00:00.000",
		"now+30m":                       "2024-05-01 10:30:00.000",
		"now-90s":                       "2024-05-01 09:58:30.000",
		"2024-01-02T03:04:05Z":          "2024-01-02 03:04:05.000",
		"2024-01-02T05:04:05.678+02:00": "2024-01-02 03:04:05.678",
		"2024-01-02 03:04":              "2024-01-02 03:04:00.000",
		"2024-01-02":                    "2024-01-02 00:00:00.000",
	} {
		v, err := r.Values(map[string]string{"who": "a", "start": text}, at)
		require.NoError(t, err, text)
		require.Equal(t, "TIMESTAMP '"+want+"'", v["start"].(Timestamp).String(), text)
	}
}

var tables = map[string][]lake.Column{
	"purchase_sword": {{Name: "event_time", Type: "timestamp"}, {Name: "host", Type: "varchar"}, {Name: "price", Type: "double"}},
	"join_guild":     {{Name: "event_time", Type: "timestamp"}, {Name: "host", Type: "varchar"}, {Name: "level", Type: "bigint"}},
	"log":            {{Name: "event_time", Type: "timestamp"}, {Name: "host", Type: "varchar"}, {Name: "level", Type: "varchar"}},
	"_dead_letter":   {{Name: "event_time", Type: "timestamp"}, {Name: "host", Type: "varchar"}},
}

func render(t *testing.T, dialect, body string, values map[string]any) (string, error) {
	t.Helper()
	r, err := Parse("t", "-- name: t\n"+body)
	require.NoError(t, err)
	return r.Render(Engine{Dialect: dialect, Tables: tables, Qualify: func(s string) string { return `"q"."` + s + `"` }}, values)
}

func TestTemplateEvents(t *testing.T) {
	q, err := render(t, "trino", `{{events "event_time" "host"}}`, nil)
	require.NoError(t, err)
	require.Equal(t, `(SELECT CAST('join_guild' AS varchar) AS event_type, CAST("event_time" AS timestamp(3)) AS "event_time", CAST("host" AS varchar) AS "host" FROM "q"."join_guild"`+
		` UNION ALL SELECT CAST('log' AS varchar) AS event_type, CAST("event_time" AS timestamp(3)) AS "event_time", CAST("host" AS varchar) AS "host" FROM "q"."log"`+
		` UNION ALL SELECT CAST('purchase_sword' AS varchar) AS event_type, CAST("event_time" AS timestamp(3)) AS "event_time", CAST("host" AS varchar) AS "host" FROM "q"."purchase_sword")`, q)

	// level is varchar only in log: join_guild's bigint level does not qualify.
	q, err = render(t, "duckdb", `{{events "level"}}`, nil)
	require.NoError(t, err)
	require.Equal(t, `(SELECT CAST('log' AS VARCHAR) AS event_type, CAST("level" AS VARCHAR) AS "level" FROM "q"."log")`, q)

	q, err = render(t, "duckdb", `{{events "nothing:double"}}`, nil)
	require.NoError(t, err)
	require.Equal(t, `(SELECT CAST(NULL AS VARCHAR) AS event_type, CAST(NULL AS DOUBLE) AS "nothing" WHERE false)`, q)

	_, err = render(t, "duckdb", `{{events "a\"; DROP"}}`, nil)
	require.ErrorContains(t, err, "not an identifier")
	_, err = render(t, "duckdb", `{{events "a:text"}}`, nil)
	require.ErrorContains(t, err, "type")
}

// A report's table has event tables' columns but is not an event type:
// events leaves it out (else a report over every event table that stores
// its rows would count them as events on its next run); from reads it.
func TestTemplateEventsLeavesOutReportTables(t *testing.T) {
	r, err := Parse("t", "-- name: t\n"+`{{events "event_time" "host"}} {{from "log" "host"}}`)
	require.NoError(t, err)
	q, err := r.Render(Engine{Dialect: "duckdb", Tables: tables, ReportTables: map[string]bool{"log": true}, Qualify: func(s string) string { return `"q"."` + s + `"` }}, nil)
	require.NoError(t, err)
	require.Equal(t, `(SELECT CAST('join_guild' AS VARCHAR) AS event_type, CAST("event_time" AS TIMESTAMP) AS "event_time", CAST("host" AS VARCHAR) AS "host" FROM "q"."join_guild"`+
		` UNION ALL SELECT CAST('purchase_sword' AS VARCHAR) AS event_type, CAST("event_time" AS TIMESTAMP) AS "event_time", CAST("host" AS VARCHAR) AS "host" FROM "q"."purchase_sword")`+
		` (SELECT CAST("host" AS VARCHAR) AS "host" FROM "q"."log")`, q)
}

func TestTemplateFromAndWindow(t *testing.T) {
	q, err := render(t, "duckdb", `{{from "log" "event_time" "level"}}`, nil)
	require.NoError(t, err)
	require.Equal(t, `(SELECT CAST("event_time" AS TIMESTAMP) AS "event_time", CAST("level" AS VARCHAR) AS "level" FROM "q"."log")`, q)
	q, err = render(t, "trino", `{{from "nolog" "event_time" "level"}}`, nil)
	require.NoError(t, err)
	require.Equal(t, `(SELECT CAST(NULL AS timestamp(3)) AS "event_time", CAST(NULL AS varchar) AS "level" WHERE false)`, q)

	q, err = render(t, "trino", `{{window "event_time" .m}}`, map[string]any{"m": Int(5)})
	require.NoError(t, err)
	require.Equal(t, `date_add('second', date_diff('second', TIMESTAMP '1970-01-01 00:00:00', "event_time") / 300 * 300, TIMESTAMP '1970-01-01 00:00:00')`, q)
	q, err = render(t, "duckdb", `{{window "event_time" .m}}`, map[string]any{"m": Int(5)})
	require.NoError(t, err)
	require.Equal(t, `(TIMESTAMP '1970-01-01 00:00:00' + to_seconds(date_diff('second', TIMESTAMP '1970-01-01 00:00:00', "event_time") // 300 * 300))`, q)
	for _, m := range []any{Int(0), Int(100000), String("5"), Float(1)} {
		_, err = render(t, "duckdb", `{{window "event_time" .m}}`, map[string]any{"m": m})
		require.Error(t, err, "%v", m)
	}
	_, err = render(t, "duckdb", `{{.missing}}`, map[string]any{})
	require.Error(t, err, "a missing param is an error, not <no value>")
}

func TestConditionHolds(t *testing.T) {
	c, err := parseCondition("errors > threshold")
	require.NoError(t, err)
	for _, tc := range []struct {
		v    any
		want bool
	}{{int64(2), true}, {int64(1), false}, {1.5, true}, {nil, false}} {
		got, err := c.Holds(tc.v, map[string]any{"threshold": Int(1)})
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "%v", tc.v)
	}
	_, err = c.Holds("x", map[string]any{"threshold": Int(1)})
	require.Error(t, err)
	c, err = parseCondition("lines <= 0.5")
	require.NoError(t, err)
	got, err := c.Holds(int64(0), nil)
	require.NoError(t, err)
	require.True(t, got)
}

func TestLoadUserDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mine.sql"), []byte("-- name: mine\nSELECT 1 AS one\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hb.sql"), []byte("-- name: host_breakdown\n-- description: mine\nSELECT 2 AS two\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a report"), 0o644))
	rs, err := Load(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"error_alert", "event_counts_by_window", "host_breakdown", "mine", "moving_average", "window_average"}, Names(rs))
	require.Equal(t, "mine", rs["host_breakdown"].Description, "a user's report replaces the built-in one")
	require.True(t, strings.HasPrefix(rs["mine"].Source, dir))

	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.sql"), []byte("SELECT 1"), 0o644))
	_, err = Load(dir)
	require.ErrorContains(t, err, "bad.sql")
	_, err = Load(filepath.Join(dir, "missing"))
	require.Error(t, err)
}
