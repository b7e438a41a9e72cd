package deadletters

import (
	"context"
	"encoding/base64"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/embedded"
	"github.com/silt-etl/silt/jobs/ingest"
	"github.com/silt-etl/silt/lake"
)

// produced is a record that ingest dead-letters, as produced.
type produced struct {
	value []byte
	at    time.Time
	// where Kafka put it
	partition int32
	offset    int64
}

var yesterday = time.Date(2026, 11, 21, 8, 30, 0, 0, time.UTC)
var today = time.Date(2026, 11, 22, 10, 15, 0, 0, time.UTC)

// ingestedLake runs the real ingest job over a topic of good and bad
// records and returns the lake and the bad records, where Kafka put them.
func ingestedLake(t *testing.T) (*lake.Local, []produced) {
	t.Helper()
	return ingestedLakeIn(t, lake.DtHour)
}

// ingestedLakeIn is ingestedLake with the partition directories of layout.
func ingestedLakeIn(t *testing.T, layout lake.Layout) (*lake.Local, []produced) {
	t.Helper()
	b, err := embedded.StartBroker(0, "", []string{"events"}, 2)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)

	bad := []produced{
		{value: []byte(`{"event_type":"join_guild","level":"high"}`), at: yesterday}, // type_conflict: level was a number
		{value: []byte(`[1,2,3]`), at: yesterday.Add(time.Minute)},
		{value: []byte(`<script>alert("dead")</script>`), at: today},
		{value: []byte("\x1b[31mred\x1b[0m {\"event_type\":"), at: today.Add(time.Second)},
		{value: []byte("\xff\xfe not utf-8"), at: today.Add(2 * time.Second)},
		{value: []byte(`{"event_type":"../../etc"}`), at: today.Add(3 * time.Second)},
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.DefaultProduceTopic("events"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer cl.Close()
	ctx := context.Background()
	good := &kgo.Record{Value: []byte(`{"event_type":"join_guild","level":3}`), Timestamp: yesterday.Add(-time.Hour)}
	require.NoError(t, cl.ProduceSync(ctx, good).FirstErr())
	for i := range bad {
		r := &kgo.Record{Value: bad[i].value, Timestamp: bad[i].at, Partition: int32(i % 2)}
		res := cl.ProduceSync(ctx, r)
		require.NoError(t, res.FirstErr())
		bad[i].partition, bad[i].offset = res[0].Record.Partition, res[0].Record.Offset
	}

	opts := ingest.DefaultOptions()
	opts.Kafka.Brokers = b.Addrs()
	opts.Kafka.SessionTimeout = 6 * time.Second
	opts.SpoolDir = t.TempDir()
	opts.MaxWait = 20 * time.Second
	opts.Layout = layout
	j := ingest.New(opts, store)
	defer j.Close()
	st, err := j.RunBatch(ctx)
	require.NoError(t, err)
	require.EqualValues(t, len(bad), st.DeadLetters)
	return store, bad
}

// remote hides lake.Local's file paths, so the reader copies objects as it
// does from S3; it counts the copies.
type remote struct {
	lake.Store
	gets atomic.Int64
}

func (r *remote) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	r.gets.Add(1)
	return r.Store.Get(ctx, key)
}

func TestReadDeadLettersOfARealIngest(t *testing.T) {
	store, bad := ingestedLake(t)
	ctx := context.Background()
	rem := &remote{Store: store}
	for name, r := range map[string]*Reader{"local": NewReader(store, ""), "remote": NewReader(rem, "")} {
		t.Run(name, func(t *testing.T) {
			defer func() { _ = r.Close() }()
			all, err := r.Read(ctx, Filter{})
			require.NoError(t, err)
			require.EqualValues(t, 6, all.Total)
			require.Equal(t, []KindCount{{"not_json", 3}, {"bad_event_type", 1}, {"not_object", 1}, {"type_conflict", 1}}, all.ByKind)
			require.Len(t, all.Latest, 6)
			// By reason over time: each bad record counted in its own
			// Kafka hour, newest hour first.
			wantHours := map[HourCount]bool{}
			counts := map[[2]string]int64{}
			for i, p := range bad {
				kind := all.Latest[len(bad)-1-i].Kind
				counts[[2]string{p.at.Truncate(time.Hour).Format(time.RFC3339), kind}]++
			}
			for k, n := range counts {
				h, err := time.Parse(time.RFC3339, k[0])
				require.NoError(t, err)
				wantHours[HourCount{Hour: h, Kind: k[1], Count: n}] = true
			}
			gotHours := map[HourCount]bool{}
			for _, hc := range all.ByHour {
				gotHours[hc] = true
			}
			require.Equal(t, wantHours, gotHours)
			require.Equal(t, today.Truncate(time.Hour), all.ByHour[0].Hour, "newest hour first")
			// Newest first, each where Kafka put it, with its exact text.
			for i, l := range all.Latest {
				want := bad[len(bad)-1-i]
				require.Equal(t, want.at, l.At, "letter %d", i)
				require.Equal(t, "events", l.Topic)
				require.Equal(t, want.partition, l.Partition)
				require.Equal(t, want.offset, l.Offset)
				require.NotEmpty(t, l.Reason)
				require.Contains(t, l.Reason, l.Kind+": ")
			}
			require.Equal(t, `<script>alert("dead")</script>`, all.Latest[3].Raw)
			require.Equal(t, "not_json", all.Latest[3].Kind)
			notUTF8 := all.Latest[1]
			require.Equal(t, base64.StdEncoding.EncodeToString(bad[4].value), notUTF8.RawBase64, "the exact bytes")
			require.Equal(t, "type_conflict", all.Latest[5].Kind)

			// --since drops yesterday's (and their partitions), --reason
			// keeps one kind, --limit the newest.
			recent, err := r.Read(ctx, Filter{Since: today})
			require.NoError(t, err)
			require.EqualValues(t, 4, recent.Total)
			require.Equal(t, today, recent.Latest[3].At)
			onlyJSON, err := r.Read(ctx, Filter{Kind: "not_json", Limit: 2})
			require.NoError(t, err)
			require.EqualValues(t, 3, onlyJSON.Total, "counts are of the whole selection")
			require.Len(t, onlyJSON.Latest, 2)
			require.Equal(t, bad[4].offset, onlyJSON.Latest[0].Offset)
			require.Equal(t, bad[3].offset, onlyJSON.Latest[1].Offset)
			none, err := r.Read(ctx, Filter{Kind: "duplicate_field"})
			require.NoError(t, err)
			require.Zero(t, none.Total)
			require.Empty(t, none.Latest)
		})
	}
	// The remote reader copied each object once over its five reads.
	objs, err := store.List(ctx, lake.TablePrefix(lake.DeadLetterTable))
	require.NoError(t, err)
	require.EqualValues(t, len(objs), rem.gets.Load())
}

func TestNoDeadLetterTableIsEmpty(t *testing.T) {
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	sum, err := NewReader(store, "").Read(context.Background(), Filter{})
	require.NoError(t, err)
	require.Zero(t, sum.Total)
}

func TestExcerptShowsControlCharactersAndCuts(t *testing.T) {
	require.Equal(t, `\u001b[31mred\u001b[0m\u000a\u202eevil`, SafeExcerpt("\x1b[31mred\x1b[0m\n\u202eevil", 100))
	require.Equal(t, "épée…", SafeExcerpt("épée de feu", 4))
	require.Equal(t, "<b>", SafeExcerpt("<b>", 3), "HTML is the page's to escape")
}
