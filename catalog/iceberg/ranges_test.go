package iceberg

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
)

func TestRangesRoundTripAndCover(t *testing.T) {
	in := []catalog.KafkaRange{
		{Topic: "game.events", Partition: 3, From: 100, To: 199},
		{Topic: "a-b_c", Partition: 0, From: 0, To: 0},
	}
	s := formatRanges(in)
	require.Equal(t, "a-b_c/0/0-0,game.events/3/100-199", s)
	require.ElementsMatch(t, in, parseRanges(s))
	require.Empty(t, parseRanges(""))
	require.Empty(t, parseRanges("junk,x/1/2,x/y/1-2"), "what silt did not write is skipped")

	r := ranges{}
	for _, x := range parseRanges(s) {
		k := rangeKey(x.Topic, x.Partition)
		r[k] = append(r[k], [2]int64{x.From, x.To})
	}
	require.True(t, r.cover("game.events", 3, 100))
	require.True(t, r.cover("game.events", 3, 199))
	require.False(t, r.cover("game.events", 3, 200))
	require.False(t, r.cover("game.events", 2, 150), "another Kafka partition")
	require.True(t, r.cover("a-b_c", 0, 0))
}

func TestCommittedObjectFollowsTheManifests(t *testing.T) {
	ms := []*lake.BatchManifest{
		{From: 100, To: 199, State: lake.BatchCommitted},
		{From: 200, To: 299, State: lake.BatchCommitted},
		{From: 300, To: 399, State: lake.BatchPinned},
	}
	require.True(t, committedObject(ms, 50), "older than every manifest left: pruned, so committed")
	require.True(t, committedObject(ms, 150))
	require.True(t, committedObject(ms, 299))
	require.False(t, committedObject(ms, 300), "a pinned batch is its own commit's")
	require.False(t, committedObject(ms, 400), "no manifest readable yet")
	require.False(t, committedObject(nil, 5), "no manifest at all")
}
