// Package collect is silt's front door: an HTTP collector that publishes
// JSON events to Kafka and answers 2xx only once Kafka has acknowledged
// every event of the request.
package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/config"
)

// Options are what the config does not say.
type Options struct {
	// Registerer takes the collector's metrics; nil: a private registry.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// API, when set, is served under /api/ (the events count and search API).
	API http.Handler
	// Metrics, when set, is served at /metrics.
	Metrics http.Handler
	// ProduceTimeout bounds the wait for Kafka's acknowledgement; past it
	// the request gets 503. Default 10s.
	ProduceTimeout time.Duration
	// KafkaOpts are appended to the producer's options (tests).
	KafkaOpts []kgo.Opt
}

// Collector is the HTTP collector. Serve it with Handler, or Run it on
// the configured address.
type Collector struct {
	cfg            config.Collect
	topic          string
	log            *slog.Logger
	prod           producer
	adm            admission
	en             enricher
	metrics        *metrics
	produceTimeout time.Duration
	// baseCtx outlives requests (see publish) and ends at Close.
	baseCtx context.Context
	cancel  context.CancelFunc
	handler http.Handler
}

// New makes a collector with its own Kafka producer.
func New(cfg *config.Config, opts Options) (*Collector, error) {
	if len(cfg.Kafka.Brokers) == 0 {
		return nil, errors.New("kafka.brokers is empty: the collector needs a broker (set SILT_KAFKA_BROKERS)")
	}
	if opts.ProduceTimeout <= 0 {
		opts.ProduceTimeout = 10 * time.Second
	}
	maxBuf := cfg.Collect.MaxBuffered
	if maxBuf <= 0 {
		maxBuf = 100_000
	}
	kopts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Kafka.Brokers...),
		kgo.DefaultProduceTopic(cfg.Collect.Topic),
		// Our admission keeps us under this, so TryProduce never blocks.
		kgo.MaxBufferedRecords(maxBuf + 1),
		kgo.RecordDeliveryTimeout(opts.ProduceTimeout),
		kgo.ProducerLinger(2 * time.Millisecond),
		// No key: records spread over partitions by kgo's sticky
		// partitioner, batching well. Ordering per host buys nothing: the
		// lake is partitioned by event time, not Kafka order.
	}
	kopts = append(kopts, acksOpts(cfg.Kafka.Acks)...)
	kopts = append(kopts, opts.KafkaOpts...)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("create kafka producer: %w", err)
	}
	return newCollector(cfg, opts, cl, maxBuf)
}

func acksOpts(acks string) []kgo.Opt {
	switch acks {
	case "leader":
		return []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}
	case "none":
		return []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}
	}
	// all: idempotent, so kgo's retries never duplicate a record in Kafka.
	return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}
}

func newCollector(cfg *config.Config, opts Options, p producer, maxBuf int) (*Collector, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Collector{
		cfg:            cfg.Collect,
		topic:          cfg.Collect.Topic,
		log:            log,
		prod:           p,
		adm:            admission{max: int64(maxBuf)},
		produceTimeout: opts.ProduceTimeout,
		baseCtx:        ctx,
		cancel:         cancel,
		en: enricher{
			typeField:     cfg.Ingest.EventTypeField,
			typeOptional:  cfg.Ingest.DefaultEventType != "",
			maxEventBytes: int(cfg.Collect.MaxEventBytes),
		},
	}
	for _, h := range cfg.Collect.Headers {
		c.en.headers = append(c.en.headers, textproto.CanonicalMIMEHeaderKey(h))
	}
	c.metrics = newMetrics(reg, func() float64 { return float64(c.adm.buffered.Load()) })
	h, err := c.routes(opts)
	if err != nil {
		cancel()
		p.Close()
		return nil, err
	}
	c.handler = h
	return c, nil
}

// Handler serves the collector's routes.
func (c *Collector) Handler() http.Handler { return c.handler }

// Buffered is how many events wait for Kafka's acknowledgement.
func (c *Collector) Buffered() int64 { return c.adm.buffered.Load() }

// Serve answers on ln until ctx ends, then drains: in-flight requests
// finish (they wait for their acknowledgements), buffered records are
// flushed, and the producer is closed.
func (c *Collector) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           c.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	c.log.Info("collector listening", "addr", ln.Addr().String(), "topic", c.topic)
	select {
	case err := <-errc:
		// The serve error is the cause; a failed close comes after it.
		return errors.Join(fmt.Errorf("serve collector: %w", err), c.Close(context.WithoutCancel(ctx)))
	case <-ctx.Done():
	}
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.produceTimeout+5*time.Second)
	defer cancel()
	err := srv.Shutdown(drainCtx)
	// Serve returns http.ErrServerClosed once Shutdown starts; anything
	// else went wrong while serving.
	if serr := <-errc; err == nil && !errors.Is(serr, http.ErrServerClosed) {
		err = serr
	}
	if cerr := c.Close(drainCtx); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("drain collector: %w", err)
	}
	c.log.Info("collector drained")
	return nil
}

// Close flushes what is buffered and closes the producer.
func (c *Collector) Close(ctx context.Context) error {
	err := c.prod.Flush(ctx)
	c.cancel()
	c.prod.Close()
	if err != nil {
		return fmt.Errorf("flush producer: %w", err)
	}
	return nil
}

// routePattern turns a configured path into a ServeMux pattern that
// matches that path exactly.
func routePattern(path string) (string, error) {
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "{} \t") {
		return "", fmt.Errorf("collect.routes: %q must start with / and hold no braces or spaces", path)
	}
	if strings.HasSuffix(path, "/") {
		path += "{$}"
	}
	return "GET " + path, nil
}
