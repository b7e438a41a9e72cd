package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReportSinksReadAndValidated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "silt.yaml")
	good := `kafka: {brokers: [embedded]}
jobs:
  - name: averages
    kind: report
    report: window_average
    schedule: "@every 10s"
    watermark: {allowed_lateness: 30s}
    publish: {topic: aggregate_page_views, key: [window_start, symbol]}
    table: {name: moving_averages}
`
	require.NoError(t, os.WriteFile(path, []byte(good), 0o644))
	cfg, err := Load(path)
	require.NoError(t, err)
	j := cfg.Jobs[0]
	require.Equal(t, 30*time.Second, j.Watermark.AllowedLateness.Std())
	require.Equal(t, &ReportPublish{Topic: "aggregate_page_views", Key: []string{"window_start", "symbol"}}, j.Publish)
	require.Equal(t, &ReportTable{Name: "moving_averages"}, j.Table)

	bad := `kafka: {brokers: [embedded]}
jobs:
  - {name: ingest, kind: ingest, schedule: "@every 5s", table: {name: x}}
  - name: a
    kind: report
    report: window_average
    schedule: "@every 10s"
    watermark: {allowed_lateness: -5s, table: "tick;"}
    publish: {topic: "aggregate page views", key: ["symbol name"]}
    table: {name: Moving-Averages}
  - {name: b, kind: report, report: window_average, schedule: "@every 10s", table: {name: averages}}
  - {name: c, kind: report, report: window_average, schedule: "@every 10s", table: {name: averages}}
`
	require.NoError(t, os.WriteFile(path, []byte(bad), 0o644))
	_, err = Load(path)
	for _, msg := range []string{
		`jobs[0].table: job "ingest" is of kind ingest: only report jobs take table`,
		`jobs[1].watermark.allowed_lateness: -5s is negative`,
		`jobs[1].watermark.table: "tick;" is not a table name`,
		`jobs[1].publish.topic: "aggregate page views": name the Kafka topic`,
		`jobs[1].publish.key[0]: "symbol name" is not a column name`,
		`jobs[1].table.name: "Moving-Averages": name the lake table`,
		`jobs[3].table.name: "averages" is also job "b"'s table`,
	} {
		require.ErrorContains(t, err, msg)
	}

	iceberg := `kafka: {brokers: [embedded]}
catalog: {kind: trino, trino: {url: "http://trino:8080", table_format: iceberg}}
jobs:
  - {name: a, kind: report, report: window_average, schedule: "@every 10s", table: {name: averages}, publish: {topic: averages}}
`
	require.NoError(t, os.WriteFile(path, []byte(iceberg), 0o644))
	_, err = Load(path)
	require.ErrorContains(t, err, "jobs[0].table: catalog.trino.table_format is iceberg, but a report's table replaces its Parquet objects in place")
	require.NotContains(t, err.Error(), "jobs[0].publish")
}
