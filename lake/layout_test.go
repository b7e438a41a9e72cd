package lake_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

func TestLayoutKeysParseBack(t *testing.T) {
	at := time.Date(2026, 3, 7, 9, 41, 0, 0, time.FixedZone("CET", 3600)) // 08:41 UTC
	cases := []struct {
		layout lake.Layout
		prefix string
		cols   []string
		values []string
	}{
		{lake.DtHour, "clicks/dt=2026-03-07/hour=08/", []string{"dt", "hour"}, []string{"2026-03-07", "08"}},
		{lake.YearMonthDayHour, "clicks/year=2026/month=03/day=07/hour=08/", []string{"year", "month", "day", "hour"}, []string{"2026", "03", "07", "08"}},
	}
	for _, c := range cases {
		t.Run(c.layout.String(), func(t *testing.T) {
			p := c.layout.PartitionOf("clicks", at)
			require.Equal(t, c.prefix, p.Prefix())
			require.Equal(t, c.cols, c.layout.ColumnNames())
			require.Equal(t, c.values, p.Values())
			start, err := p.Start()
			require.NoError(t, err)
			require.Equal(t, time.Date(2026, 3, 7, 8, 0, 0, 0, time.UTC), start)

			key := lake.ObjectKey(p, "events", 2, 1234)
			require.Equal(t, c.prefix+"events-p2-00000000000000001234.parquet", key)
			src, ok := lake.ParseObjectKey(key)
			require.True(t, ok, key)
			require.Equal(t, lake.ObjectSource{Partition: p, Topic: "events", KafkaPartition: 2, FirstOffset: 1234}, src)
			back, ok := lake.ParsePartitionPrefix(c.prefix + "compacted-ab.parquet")
			require.True(t, ok)
			require.Equal(t, p, back)
			fromValues, err := c.layout.PartitionFromValues("clicks", c.values)
			require.NoError(t, err)
			require.Equal(t, p, fromValues)

			parsed, err := lake.ParseLayout(c.layout.String())
			require.NoError(t, err)
			require.Equal(t, c.layout, parsed)
		})
	}
}

func TestLayoutRejectsKeysOfNoLayout(t *testing.T) {
	for _, key := range []string{
		"clicks/year=2026/month=3/day=07/hour=08/x-p0-1.parquet", // month not zero-padded: another date
		"clicks/year=2026/month=03/hour=08/x-p0-1.parquet",
		"clicks/dt=2026-03-07/x-p0-1.parquet",
		"clicks/dt=2026-03-07/hour=08/extra/x-p0-1.parquet",
		"clicks/year=2026/month=03/day=07/hour=08/extra/x-p0-1.parquet",
	} {
		_, ok := lake.ParseObjectKey(key)
		require.False(t, ok, key)
	}
	_, err := lake.YearMonthDayHour.PartitionFromValues("clicks", []string{"2026", "13", "07", "08"})
	require.ErrorContains(t, err, "not an hour")
	_, err = lake.DtHour.PartitionFromValues("clicks", []string{"2026", "03", "07", "08"})
	require.ErrorContains(t, err, "4 values for the 2 keys dt, hour")
	_, err = lake.ParseLayout("ymdh")
	require.ErrorContains(t, err, `"ymdh": use dt_hour (dt=YYYY-MM-DD/hour=HH) or year_month_day_hour`)
}

func TestZeroLayoutIsDtHour(t *testing.T) {
	// Partitions made without a layout (and every lake written before
	// layouts existed) are dt_hour, and equal to dt_hour ones.
	p := lake.Partition{Table: "t", Date: "2026-01-02", Hour: "03"}
	require.Equal(t, lake.DtHour.PartitionOf("t", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), p)
	require.Equal(t, "t/dt=2026-01-02/hour=03/", p.Prefix())
	l, err := lake.ParseLayout("")
	require.NoError(t, err)
	require.Equal(t, lake.DtHour, l)
}

func TestPartitionsListsTheLayoutTheKeysSay(t *testing.T) {
	ctx := t.Context()
	st, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	at := time.Date(2026, 3, 7, 8, 0, 0, 0, time.UTC)
	put(ctx, t, st, lake.ObjectKey(lake.YearMonthDayHour.PartitionOf("clicks", at), "events", 0, 0))
	put(ctx, t, st, lake.ObjectKey(lake.YearMonthDayHour.PartitionOf("clicks", at.Add(25*time.Hour)), "events", 0, 5))
	ps, err := lake.Partitions(ctx, st, "clicks")
	require.NoError(t, err)
	require.Equal(t, []lake.Partition{
		{Table: "clicks", Date: "2026-03-07", Hour: "08", Layout: lake.YearMonthDayHour},
		{Table: "clicks", Date: "2026-03-08", Hour: "09", Layout: lake.YearMonthDayHour},
	}, ps)
}

func put(ctx context.Context, t *testing.T, st lake.Store, key string) {
	t.Helper()
	require.NoError(t, st.Put(ctx, key, bytes.NewReader([]byte("x")), 1))
}

func TestRecordLayoutOnceThenRefuseTheOther(t *testing.T) {
	ctx := t.Context()
	st, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, lake.CheckLayout(ctx, st, lake.YearMonthDayHour), "a new lake takes either")
	require.NoError(t, lake.CheckLayout(ctx, st, lake.DtHour), "a new lake takes either")

	require.NoError(t, lake.RecordLayout(ctx, st, lake.YearMonthDayHour))
	require.NoError(t, lake.RecordLayout(ctx, st, lake.YearMonthDayHour), "recording the same layout again")
	raw, err := lake.ReadAll(ctx, st, lake.LayoutKey)
	require.NoError(t, err)
	require.JSONEq(t, `{"layout":"year_month_day_hour"}`, string(raw))

	for _, check := range []func(context.Context, lake.Store, lake.Layout) error{lake.CheckLayout, lake.RecordLayout} {
		err = check(ctx, st, lake.DtHour)
		var mismatch *lake.LayoutMismatchError
		require.ErrorAs(t, err, &mismatch)
		require.Equal(t, "lake.layout is dt_hour but the lake records _silt/layout.json = year_month_day_hour: "+
			"set lake.layout: year_month_day_hour (SILT_LAKE_LAYOUT=year_month_day_hour), or use a new lake (lake.root or lake.s3.prefix) for dt_hour", err.Error())
	}
	raw, err = lake.ReadAll(ctx, st, lake.LayoutKey)
	require.NoError(t, err)
	require.JSONEq(t, `{"layout":"year_month_day_hour"}`, string(raw), "a refused layout is never recorded")
}

func TestLakeWithTablesButNoRecordIsDtHour(t *testing.T) {
	ctx := t.Context()
	st, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	require.NoError(t, lake.SaveSchema(ctx, st, lake.TableSchema{Table: "clicks"}))
	err = lake.RecordLayout(ctx, st, lake.YearMonthDayHour)
	require.ErrorContains(t, err, "lake.layout is year_month_day_hour but the lake's tables were written before silt recorded layouts, in dt_hour")
	_, err = st.Stat(ctx, lake.LayoutKey)
	require.ErrorIs(t, err, lake.ErrNotExist, "nothing recorded")

	require.NoError(t, lake.RecordLayout(ctx, st, lake.DtHour))
	raw, err := lake.ReadAll(ctx, st, lake.LayoutKey)
	require.NoError(t, err)
	require.JSONEq(t, `{"layout":"dt_hour"}`, string(raw))
}

func TestRecordLayoutRaceHasOneWinner(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	a, err := lake.NewLocal(dir)
	require.NoError(t, err)
	b, err := lake.NewLocal(dir) // another process on the same lake
	require.NoError(t, err)
	errs := make(chan error, 2)
	go func() { errs <- lake.RecordLayout(ctx, a, lake.DtHour) }()
	go func() { errs <- lake.RecordLayout(ctx, b, lake.YearMonthDayHour) }()
	e1, e2 := <-errs, <-errs
	require.NotEqual(t, e1 == nil, e2 == nil, "exactly one layout wins: %v / %v", e1, e2)
	var mismatch *lake.LayoutMismatchError
	require.ErrorAs(t, errors.Join(e1, e2), &mismatch)
}
