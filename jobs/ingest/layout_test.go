package ingest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/lakecheck"
)

// With lake.layout year_month_day_hour every object lands under
// <table>/year=YYYY/month=MM/day=DD/hour=HH/ of its event time, the layout
// is recorded in the lake, and an event field named like a partition key
// keeps its value under a prefixed column.
func TestIngestWritesTheYearMonthDayHourLayout(t *testing.T) {
	ctx := context.Background()
	s := newSetup(t)
	at := time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC) // 90 events a minute apart: two years
	var values [][]byte
	perHour := map[string]int{}
	for i := range 90 {
		et := at.Add(time.Duration(i) * time.Minute)
		values = append(values, fmt.Appendf(nil, `{"event_type":"session_start","ts":%d,"month":"may","params":{"os_type":"android"}}`, et.Unix()))
		perHour[lake.YearMonthDayHour.PartitionOf("session_start", et).Prefix()]++
	}
	s.produce(t, values)
	opts := s.opts
	opts.TimeField = "ts"
	opts.Layout = lake.YearMonthDayHour
	j := New(opts, s.store)
	defer j.Close()
	st, err := j.RunBatch(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 90, st.Events)

	require.Equal(t, map[string]int{
		"session_start/year=2025/month=12/day=31/hour=23/": 30,
		"session_start/year=2026/month=01/day=01/hour=00/": 60,
	}, perHour)
	objs, err := s.store.List(ctx, "session_start/")
	require.NoError(t, err)
	require.NotEmpty(t, objs)
	seen := map[string]bool{}
	for _, o := range objs {
		p, ok := lake.ParsePartitionPrefix(o.Key)
		require.True(t, ok, o.Key)
		require.Equal(t, lake.YearMonthDayHour, p.Layout, o.Key)
		seen[p.Prefix()] = true
	}
	require.Len(t, seen, 2)
	rep, err := lakecheck.Check(ctx, s.store.Root())
	require.NoError(t, err)
	require.EqualValues(t, 90, rep.Rows["session_start"])
	require.Zero(t, rep.Duplicates)
	for prefix, n := range perHour {
		var got int64
		q := fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s/%s*.parquet')`, s.store.Root(), prefix)
		require.NoError(t, lakecheck.Query(ctx, q, func(r *sql.Rows) error { return r.Scan(&got) }))
		require.EqualValues(t, n, got, prefix)
	}

	raw, err := lake.ReadAll(ctx, s.store, lake.LayoutKey)
	require.NoError(t, err)
	require.JSONEq(t, `{"layout":"year_month_day_hour"}`, string(raw))
	schema, _, err := lake.LoadSchema(ctx, s.store, "session_start")
	require.NoError(t, err)
	var cols []string
	for _, c := range schema.Columns {
		cols = append(cols, c.Name)
	}
	require.Equal(t, []string{"ts", "field_month", "params"}, cols, "month is a partition key of the layout")
}

// An ingest job configured with the other layout refuses the lake before
// it reads or writes anything.
func TestIngestRefusesALakeOfTheOtherLayout(t *testing.T) {
	ctx := context.Background()
	s := newSetup(t)
	require.NoError(t, lake.RecordLayout(ctx, s.store, lake.YearMonthDayHour))
	values, _ := gameEvents(10, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s.produce(t, values)
	j := New(s.opts, s.store) // dt_hour, the default
	defer j.Close()
	_, err := j.RunBatch(ctx)
	require.ErrorContains(t, err, "lake.layout is dt_hour but the lake records _silt/layout.json = year_month_day_hour: set lake.layout: year_month_day_hour")
	objs, err := s.store.List(ctx, "")
	require.NoError(t, err)
	for _, o := range objs {
		require.True(t, strings.HasPrefix(o.Key, lake.LayoutKey), "nothing written but the layout: %s", o.Key)
	}
}
