package ingest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
)

// An Iceberg commit adds exactly the objects a change names and records
// its ranges as done: each change must name every object of its table the
// batch wrote, no other, with the committed manifests' ranges.
func TestChangesNameTheBatchObjectsAndRangesOfTheirTable(t *testing.T) {
	s := newSetup(t)
	reg := &flakyRegistrar{}
	j := New(s.withRegistrar(reg), s.store)
	defer j.Close()
	ctx := context.Background()

	values, _ := gameEvents(300, time.Now().UTC())
	s.produce(t, values)
	_, err := j.RunBatch(ctx)
	require.NoError(t, err)
	require.Len(t, reg.changes, 1)

	want := map[string][]string{}
	for _, table := range append(mustTables(t, s.store), lake.DeadLetterTable) {
		objs, err := s.store.List(ctx, lake.TablePrefix(table))
		require.NoError(t, err)
		for _, o := range objs {
			if strings.HasSuffix(o.Key, ".parquet") {
				want[table] = append(want[table], o.Key)
			}
		}
	}
	var manifests []catalog.KafkaRange
	for p := range int32(3) {
		ms, err := lake.LoadBatchManifests(ctx, s.store, "events", p)
		require.NoError(t, err)
		for _, m := range ms {
			require.True(t, m.Committed())
			manifests = append(manifests, catalog.KafkaRange{Topic: m.Topic, Partition: m.Partition, From: m.From, To: m.To})
		}
	}
	require.Len(t, manifests, 3)

	got := map[string][]string{}
	for _, c := range reg.changes[0] {
		got[c.Schema.Table] = c.Objects
		require.NotEmpty(t, c.Ranges, c.Schema.Table)
		for _, r := range c.Ranges {
			require.Contains(t, manifests, r, "%s: a range of a committed manifest", c.Schema.Table)
		}
		for _, key := range c.Objects {
			src, ok := lake.ParseObjectKey(key)
			require.True(t, ok)
			require.True(t, slices.ContainsFunc(c.Ranges, func(r catalog.KafkaRange) bool {
				return r.Topic == src.Topic && r.Partition == src.KafkaPartition && r.From <= src.FirstOffset && src.FirstOffset <= r.To
			}), "%s: its range is recorded", key)
		}
	}
	require.Equal(t, want, got)
}

func mustTables(t *testing.T, st lake.Store) []string {
	t.Helper()
	names, err := lake.Tables(context.Background(), st)
	require.NoError(t, err)
	require.NotEmpty(t, names)
	return names
}
