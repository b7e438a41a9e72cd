package gen

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/kafkaconn"
)

// KafkaSink produces straight to a topic with franz-go's async producer.
type KafkaSink struct {
	cl    *kgo.Client
	topic string
}

// NewKafkaSink connects a producer; acks is "all", "leader" or "none";
// extra carries the connection's TLS and SASL (see kafkaconn). A refused
// login or handshake fails here, explained, not as a stalled first send.
func NewKafkaSink(ctx context.Context, brokers []string, topic, acks string, extra ...kgo.Opt) (*KafkaSink, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.MaxBufferedRecords(50_000)}
	switch acks {
	case "leader":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "none":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("create kafka producer: %w", err)
	}
	if err := kafkaconn.Preflight(ctx, cl); err != nil {
		cl.Close()
		return nil, err
	}
	return &KafkaSink{cl: cl, topic: topic}, nil
}

// Send hands the batch to the producer; it blocks only while the
// producer's buffer is full, which is the generator's backpressure.
func (k *KafkaSink) Send(ctx context.Context, batch []Event, done func(Event, error)) {
	for _, ev := range batch {
		k.cl.Produce(ctx, &kgo.Record{Topic: k.topic, Value: ev.JSON}, func(_ *kgo.Record, err error) {
			done(ev, err)
		})
	}
}

// Close flushes what is buffered and closes the producer.
func (k *KafkaSink) Close(ctx context.Context) error {
	defer k.cl.Close()
	if err := k.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush producer: %w", err)
	}
	return nil
}
