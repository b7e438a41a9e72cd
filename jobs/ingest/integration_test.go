//go:build integration

package ingest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/lakecheck"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

func TestIntegrationIngestRealKafkaToMinIO(t *testing.T) {
	ep := stacktest.Get(t)
	ctx := context.Background()
	topic := fmt.Sprintf("ingest-it-%d", time.Now().UnixNano())

	admin, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...))
	require.NoError(t, err)
	defer admin.Close()
	_, err = kadm.NewClient(admin).CreateTopic(ctx, 3, 1, nil, topic)
	require.NoError(t, err)

	values, counts := gameEvents(5000, time.Now().UTC())
	producer, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Value: v}
	}
	require.NoError(t, producer.ProduceSync(ctx, recs...).FirstErr())
	producer.Close()

	opts := DefaultOptions()
	opts.Kafka.Brokers, opts.Kafka.Topics, opts.Kafka.Group = ep.KafkaBrokers, []string{topic}, topic
	opts.Kafka.SessionTimeout = 6 * time.Second
	opts.SpoolDir = t.TempDir()
	prefix := topic
	store, err := lake.NewS3(ctx, lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Prefix: prefix, Region: ep.S3Region,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)

	j := New(opts, store)
	defer j.Close()
	var total int64
	for total < 5000 {
		st, err := j.RunBatch(ctx)
		require.NoError(t, err)
		require.NotZero(t, st.Events, "no progress after %d events", total)
		total += st.Events
	}

	dir := t.TempDir()
	require.NoError(t, lakecheck.Download(ctx, store, "", dir))
	rep, err := lakecheck.Check(ctx, dir)
	require.NoError(t, err)
	require.EqualValues(t, 5000, rep.Total)
	require.Zero(t, rep.Duplicates)
	require.Equal(t, map[string]bool{"SNAPPY": true}, rep.Codecs)
	for typ, n := range counts {
		require.Equal(t, n, rep.Rows[typ], typ)
	}
	// The schema of each table is in the lake for the catalog.
	tables, err := lake.Tables(ctx, store)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"default", "join_guild", "purchase_sword"}, tables)
}
