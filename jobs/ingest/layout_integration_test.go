//go:build integration

package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/jobs/compact"
	"github.com/silt-etl/silt/jobs/retention"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// TestIntegrationYearMonthDayHourKafkaMinIOTrino: events from real Kafka
// ingested into MinIO with lake.layout year_month_day_hour, registered in
// real Trino through the Hive Metastore catalog as they are written.
// Queried by year, month, day and hour, every hour holds exactly its
// events; compaction keeps every row; retention drops exactly the hours
// of 2025 from the lake and the metastore.
func TestIntegrationYearMonthDayHourKafkaMinIOTrino(t *testing.T) {
	ep := stacktest.Get(t)
	if ep.TrinoMetastoreCatalog == "" {
		t.Fatal("the plain stack runs no Hive Metastore catalog (trino_metastore_catalog): start it with one")
	}
	ctx := context.Background()
	topic := fmt.Sprintf("ymdh-it-%d", time.Now().UnixNano())
	admin, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...))
	require.NoError(t, err)
	defer admin.Close()
	_, err = kadm.NewClient(admin).CreateTopic(ctx, 3, 1, nil, topic)
	require.NoError(t, err)

	// 600 events 24 s apart from Dec 31, 2025, 22:00: four hours, two days,
	// two months, two years.
	start := time.Date(2025, 12, 31, 22, 0, 0, 0, time.UTC)
	perHour := map[[4]string]int64{}
	recs := make([]*kgo.Record, 600)
	for i := range recs {
		at := start.Add(time.Duration(i) * 24 * time.Second)
		recs[i] = &kgo.Record{Value: fmt.Appendf(nil, `{"event_type":"session_start","ts":%d,"params":{"os_type":"android"}}`, at.Unix())}
		v := lake.YearMonthDayHour.PartitionOf("session_start", at).Values()
		perHour[[4]string{v[0], v[1], v[2], v[3]}]++
	}
	require.Len(t, perHour, 4)
	producer, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	require.NoError(t, producer.ProduceSync(ctx, recs...).FirstErr())
	producer.Close()

	store, err := lake.NewS3(ctx, lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Prefix: topic, Region: ep.S3Region,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)
	schema := strings.ReplaceAll(topic, "-", "_")
	cat, err := catalog.Open(ctx, catalog.Options{Kind: "trino", Layout: lake.YearMonthDayHour, Trino: catalog.TrinoOptions{
		URL: ep.TrinoURL, Catalog: ep.TrinoMetastoreCatalog, Schema: schema, Location: ep.TrinoSchemaLocation + topic + "/",
	}}, store)
	require.NoError(t, err)
	defer func() { require.NoError(t, cat.Close()) }()

	opts := DefaultOptions()
	opts.Kafka.Brokers, opts.Kafka.Topics, opts.Kafka.Group = ep.KafkaBrokers, []string{topic}, topic
	opts.Kafka.SessionTimeout = 6 * time.Second
	opts.SpoolDir = t.TempDir()
	opts.TimeField = "ts"
	opts.MaxRecords = 100 // several batches, several objects per hour
	opts.Layout = lake.YearMonthDayHour
	opts.Registrar = cat
	j := New(opts, store)
	defer j.Close()
	var total int64
	for total < int64(len(recs)) {
		st, err := j.RunBatch(ctx)
		require.NoError(t, err)
		require.Empty(t, st.RegisterError)
		require.NotZero(t, st.Events, "no progress after %d events", total)
		total += st.Events
	}

	table := cat.Qualified("session_start")
	byHour := func() map[[4]string]int64 {
		rows, err := cat.DB().QueryContext(ctx, "SELECT year, month, day, hour, count(*) FROM "+table+" GROUP BY 1, 2, 3, 4")
		require.NoError(t, err)
		defer rows.Close()
		out := map[[4]string]int64{}
		for rows.Next() {
			var k [4]string
			var n int64
			require.NoError(t, rows.Scan(&k[0], &k[1], &k[2], &k[3], &n))
			out[k] = n
		}
		require.NoError(t, rows.Err())
		return out
	}
	require.Equal(t, perHour, byHour())
	var n int64
	require.NoError(t, cat.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE year = '2026' AND month = '01' AND day = '01' AND hour = '01'").Scan(&n))
	require.Equal(t, perHour[[4]string{"2026", "01", "01", "01"}], n)

	objects := func() int {
		objs, err := store.List(ctx, "session_start/")
		require.NoError(t, err)
		for _, o := range objs {
			p, ok := lake.ParsePartitionPrefix(o.Key)
			require.True(t, ok && p.Layout == lake.YearMonthDayHour, o.Key)
		}
		return len(objs)
	}
	before := objects()
	require.Greater(t, before, 4, "several objects per hour")
	counted, err := compact.New("compact", compact.Options{TimestampUnit: opts.TimestampUnit, TargetFileBytes: opts.TargetFileBytes,
		RowGroupBytes: opts.RowGroupBytes, SpoolDir: t.TempDir()}, store).WithGrace(0).Run(ctx, time.Now())
	require.NoError(t, err)
	require.EqualValues(t, 4, counted["outputs"], "one output per hour")
	require.Equal(t, 4, objects())
	require.Equal(t, perHour, byHour(), "compaction keeps every row")

	// Keep 1 h before Jan 1, 01:30: the two hours of Dec 31 expire.
	ret, err := retention.New("retention", store, cat, time.Hour, nil)
	require.NoError(t, err)
	counted, err = ret.Run(ctx, time.Date(2026, 1, 1, 1, 30, 0, 0, time.UTC))
	require.NoError(t, err)
	require.EqualValues(t, 2, counted["partitions"])
	for k := range perHour {
		if k[0] == "2025" {
			delete(perHour, k)
		}
	}
	require.Equal(t, perHour, byHour(), "only the hours of 2026 are left")
	require.Equal(t, 2, objects())
	tables, err := cat.Tables(ctx)
	require.NoError(t, err)
	require.Len(t, tables, 1)
	require.Equal(t, []lake.Partition{
		{Table: "session_start", Date: "2026-01-01", Hour: "00", Layout: lake.YearMonthDayHour},
		{Table: "session_start", Date: "2026-01-01", Hour: "01", Layout: lake.YearMonthDayHour},
	}, tables[0].Partitions, "the metastore lists the hours left")
}
