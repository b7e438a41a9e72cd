// Package topics creates the Kafka topics silt reads and writes when they
// do not exist yet, so a fresh cluster works without a manual step: the
// producer side (collector, generator) and the consumer side (ingest)
// would otherwise fail with UNKNOWN_TOPIC_OR_PARTITION until someone
// creates them.
package topics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/kafkaconn"
)

// Ensure creates those of names that do not exist, with the given number
// of partitions and the broker's default replication factor, and waits
// until every partition of each is led. Existing topics are left exactly
// as they are.
// conn secures the admin client like every other (see kafkaconn).
func Ensure(ctx context.Context, brokers []string, names []string, partitions int32, conn ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, conn...)...)
	if err != nil {
		return fmt.Errorf("kafka client for %v: %w", brokers, err)
	}
	defer cl.Close()
	// Often silt's first contact with the cluster: a refused login or a
	// failed handshake is named here, with its cause and key.
	if err := kafkaconn.Preflight(ctx, cl); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, -1, nil, names...)
	if err != nil {
		return fmt.Errorf("create topics %v: %w", names, err)
	}
	var errs []error
	for _, t := range resp.Sorted() {
		if t.Err != nil && !errors.Is(t.Err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", t.Topic, t.Err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return waitLed(ctx, kadm.NewClient(cl), names)
}

// waitLed waits until the metadata shows a leader for every partition of
// names. Kafka answers CreateTopics before its brokers serve the topic,
// and a producer that asks too early waits out franz-go's metadata
// refresh (5 s): a collector's first requests, or a benchmark's timed run.
func waitLed(ctx context.Context, adm *kadm.Client, names []string) error {
	for {
		md, err := adm.Metadata(ctx, names...)
		if err == nil && allLed(md, names) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics %v: no leader for every partition: %w (last metadata error: %v)", names, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func allLed(md kadm.Metadata, names []string) bool {
	for _, name := range names {
		td, ok := md.Topics[name]
		if !ok || td.Err != nil || len(td.Partitions) == 0 {
			return false
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
	}
	return true
}
