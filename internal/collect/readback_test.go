package collect

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// readTopic consumes topic from the start up to the end offsets it has when
// called, for the unit and integration tests that count
// what a producer left in Kafka.
func readTopic(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	var out []*kgo.Record
	eachRecord(t, brokers, topic, func(r *kgo.Record) { out = append(out, r) })
	return out
}

// eachRecord calls fn on every record of topic from the start up to the end
// offsets it has when called, without keeping them (load tests read
// hundreds of thousands).
func eachRecord(t testing.TB, brokers []string, topic string, fn func(*kgo.Record)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	n := 0
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: %d records so far, partitions not at end: %v", topic, n, left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			n++
			fn(r)
			if r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
}
