// Package embedded is silt's no-setup mode: an in-process Kafka-protocol
// broker (franz-go's kfake) on 127.0.0.1 and a generator of game events,
// so `silt run` without a config shows the whole pipeline at once.
package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/gen"
)

// Broker is an in-process Kafka cluster of one broker.
type Broker struct {
	cluster *kfake.Cluster
}

// StartBroker listens on 127.0.0.1 (port 0: a free one) with the topics
// created, each with the given number of partitions. With a dataDir the
// broker keeps its log and committed offsets across restarts, so stopping
// and starting `silt run` resumes where it was.
func StartBroker(port int, dataDir string, topics []string, partitions int32) (*Broker, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(partitions, topics...)}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka broker: %w", err)
	}
	return &Broker{cluster: c}, nil
}

// Addrs are the broker's host:port addresses.
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// Close stops the broker; everything it held is gone.
func (b *Broker) Close() { b.cluster.Close() }

// Generate publishes synthetic game events to topic at about rate events
// per second (fractions of an event per tick carry over, so 0.5 is one
// event every two seconds; 0 or less sends nothing) until ctx ends. opts
// connect to Kafka (brokers, TLS, SASL); log gets its end and failed sends.
func Generate(ctx context.Context, log *slog.Logger, opts []kgo.Opt, topic string, rate float64, hosts, types []string) error {
	if rate <= 0 {
		log.Info("generator off: gen.rate is 0")
		return nil
	}
	client, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(topic))...)
	if err != nil {
		return fmt.Errorf("generator kafka client: %w", err)
	}
	defer client.Close()
	events := gen.NewEvents(uint64(time.Now().UnixNano()), hosts, types)
	const ticksPerSecond = 10
	tick := time.NewTicker(time.Second / ticksPerSecond)
	defer tick.Stop()
	var sent int64
	due := 0.0
	for {
		select {
		case <-ctx.Done():
			log.Info("generator stopped", "sent", sent)
			return nil
		case now := <-tick.C:
			due += rate / ticksPerSecond
			for ; due >= 1; due-- {
				ev := events.Next(nil, now)
				client.Produce(ctx, &kgo.Record{Value: ev.JSON}, func(_ *kgo.Record, err error) {
					if err != nil && ctx.Err() == nil {
						log.Warn("generator produce failed", "err", err)
					}
				})
				sent++
			}
		}
	}
}
