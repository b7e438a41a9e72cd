//go:build integration

package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/deadletters"
	"github.com/silt-etl/silt/jobs/ingest"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/lakecheck"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// On the real stack (Kafka, MinIO): the tables view reads row counts from
// the footers of objects in MinIO (ranged reads), and the dead-letters view
// and `silt deadletters`' reader read the dead letters from local copies
// of MinIO's objects, with the hostile text escaped.
func TestTablesAndDeadLettersViewsOnMinIOIntegration(t *testing.T) {
	ep := stacktest.Get(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("ops-views-%d", time.Now().UnixNano())
	store, err := lake.NewS3(ctx, lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Prefix: prefix,
		Region: ep.S3Region, AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)

	topic := prefix
	opts := ingest.DefaultOptions()
	opts.Kafka.Brokers = ep.KafkaBrokers
	opts.Kafka.Topics = []string{topic}
	opts.Kafka.Group = prefix
	opts.Kafka.Partitions = 2
	opts.SpoolDir = t.TempDir()
	opts.MaxWait = 30 * time.Second
	opts.TargetFileBytes = 4000
	j := ingest.New(opts, store)
	defer j.Close()
	// The first batch creates the topic and joins the group.
	_, err = j.RunBatch(ctx)
	require.NoError(t, err)

	cl, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	defer cl.Close()
	var recs []*kgo.Record
	for i := range 200 {
		at := viewNow.Add(-time.Hour).Add(time.Duration(i) * 15 * time.Second)
		recs = append(recs, &kgo.Record{Timestamp: at, Value: fmt.Appendf(nil,
			`{"event_type":"chat","timestamp":%q,"host":"game-%d"}`, at.Format(time.RFC3339), i%4)})
	}
	for i, raw := range []string{scriptRaw, imgRaw, scriptReason} {
		recs = append(recs, &kgo.Record{Timestamp: viewNow.Add(-time.Duration(3-i) * time.Minute), Value: []byte(raw)})
	}
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
	var dead int64
	for dead < 3 {
		st, err := j.RunBatch(ctx)
		require.NoError(t, err)
		dead += st.DeadLetters
		require.Positive(t, st.Events, "a batch after producing reads records")
	}

	// An independent count: DuckDB over a download of the lake.
	dir := t.TempDir()
	require.NoError(t, lakecheck.Download(ctx, store, "", dir))
	rep, err := lakecheck.Check(ctx, dir)
	require.NoError(t, err)
	require.EqualValues(t, 200, rep.Rows["chat"])

	stats := &LakeTableStats{Store: store, TargetFileBytes: 40_000}
	got, err := stats.TableStats(ctx)
	require.NoError(t, err)
	require.Len(t, got, 2)
	for _, ts := range got {
		require.Empty(t, ts.RowsErr)
		require.Equal(t, rep.Rows[ts.Name], ts.Rows, ts.Name)
		require.Positive(t, ts.Files)
	}

	r := deadletters.NewReader(store, "")
	defer func() { _ = r.Close() }()
	sum, err := r.Read(ctx, deadletters.Filter{})
	require.NoError(t, err)
	require.EqualValues(t, 3, sum.Total)
	require.Equal(t, scriptRaw, sum.Latest[2].Raw)
	require.Equal(t, topic, sum.Latest[0].Topic)

	s := New(Options{DeadLetters: r, TableStats: stats, Now: func() time.Time { return viewNow }})
	code, body := get(t, s, "/deadletters")
	require.Equal(t, 200, code)
	require.Equal(t, 3, strings.Count(body, `<tr class="letter">`))
	require.NotContains(t, body, "<script")
	require.NotContains(t, body, "<img")
	code, body = get(t, s, "/tables")
	require.Equal(t, 200, code)
	require.Contains(t, body, `<td class="num rows">200</td>`)
}
