package stacktest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/internal/stack"
)

// Produce publishes n synthetic game events (gen.NewEvents with seed) to
// topic, with event times 17 ms apart from an hour ago, and returns how
// many of each event type it published. It fails t unless Kafka
// acknowledged every one.
func Produce(t testing.TB, brokers []string, topic string, n int, seed uint64) map[string]int64 {
	t.Helper()
	return ProduceWith(t, []kgo.Opt{kgo.SeedBrokers(brokers...)}, topic, n, seed)
}

// KafkaOpts are the franz-go options that reach the stack's Kafka: the
// seed brokers and, on a secure stack, TLS with its CA and SCRAM-SHA-512
// as its user (the SASL_SSL listener, as Endpoints.Env configures silt).
func KafkaOpts(t testing.TB, ep *stack.Endpoints) []kgo.Opt {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(ep.KafkaBrokers...)}
	if !ep.Secure {
		return opts
	}
	cfg, err := ep.ClientTLS(false)
	if err != nil {
		t.Fatalf("kafka tls: %v", err)
	}
	return append(opts, kgo.DialTLSConfig(cfg),
		kgo.SASL(scram.Auth{User: ep.KafkaSCRAMUser, Pass: ep.KafkaSCRAMPassword}.AsSha512Mechanism()))
}

// ProduceWith is Produce through a client made with opts (KafkaOpts).
func ProduceWith(t testing.TB, opts []kgo.Opt, topic string, n int, seed uint64) map[string]int64 {
	t.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, opts...), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		t.Fatalf("kafka producer: %v", err)
	}
	defer cl.Close()
	g := gen.NewEvents(seed, nil, nil)
	counts := map[string]int64{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now().UTC().Add(-time.Hour)
	for i := 0; i < n; i++ {
		ev := g.Next(nil, start.Add(time.Duration(i)*17*time.Millisecond))
		counts[ev.Type]++
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Value: ev.JSON}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce to %s: %v", topic, firstErr)
	}
	return counts
}

// GroupLag is the consumer group's total lag on topic: end offsets minus
// committed offsets, a partition with no commit counting whole.
func GroupLag(t testing.TB, brokers []string, group, topic string) int64 {
	t.Helper()
	return GroupLagWith(t, []kgo.Opt{kgo.SeedBrokers(brokers...)}, group, topic)
}

// GroupLagWith is GroupLag through a client made with opts (KafkaOpts).
func GroupLagWith(t testing.TB, opts []kgo.Opt, group, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	// Before any group has committed, the coordinator may still be
	// creating __consumer_offsets (COORDINATOR_NOT_AVAILABLE): retriable.
	committed, err := adm.FetchOffsets(ctx, group)
	for deadline := time.Now().Add(30 * time.Second); kerr.IsRetriable(err) && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		committed, err = adm.FetchOffsets(ctx, group)
	}
	if err != nil {
		t.Fatalf("committed offsets of group %s: %v", group, err)
	}
	var lag int64
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, o.Partition)
		if !ok || c.At < 0 {
			lag += o.Offset
			return
		}
		lag += o.Offset - c.At
	})
	return lag
}
