package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/collect"
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/eventsapi"
	"github.com/silt-etl/silt/internal/topics"
)

func init() {
	register(&command{
		name: "collect", usage: "[--config F] [--listen ADDR]", order: 75,
		summary: "HTTP collector: POST /events and GET routes -> Kafka, plus the events API",
		run:     runCollect,
	})
}

func runCollect(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("collect", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	listen := fs.String("listen", "", "address to listen on (default: collect.listen)")
	noAPI := fs.Bool("no-api", false, "do not serve /api/events (no catalog connection)")
	cfg, err := common.parseLoad(fs, args)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Collect.Listen = *listen
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return errors.New("no Kafka brokers: set kafka.brokers or SILT_KAFKA_BROKERS (in embedded mode the collector runs inside `silt run`)")
	}
	opts := collect.Options{
		Logger:     slog.Default(),
		Registerer: prometheus.DefaultRegisterer,
		Metrics:    promhttp.Handler(),
	}
	if !*noAPI {
		// Collecting matters more than answering queries: the API answers
		// 503 until the lake and the catalog can be opened.
		api, cat := openEventsAPI(ctx, cfg)
		defer cat.Close()
		opts.API = api
	}
	col, ln, err := listenCollector(ctx, cfg, opts)
	if err != nil {
		return err
	}
	return col.Serve(ctx, ln)
}

// listenCollector makes the collector's topic if needed, the collector,
// and its listener on collect.listen.
func listenCollector(ctx context.Context, cfg *config.Config, opts collect.Options) (*collect.Collector, net.Listener, error) {
	conn, err := kafkaClientOpts(cfg)
	if err != nil {
		return nil, nil, err
	}
	opts.KafkaOpts = append(opts.KafkaOpts, conn...)
	if cfg.Kafka.CreateTopics {
		if err := topics.Ensure(ctx, cfg.Kafka.Brokers, []string{cfg.Collect.Topic}, cfg.Kafka.Partitions, conn...); err != nil {
			return nil, nil, err
		}
	}
	col, err := collect.New(cfg, opts)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", cfg.Collect.Listen)
	if err != nil {
		col.Close(ctx) //nolint:errcheck // nothing was produced yet
		return nil, nil, fmt.Errorf("collector: listen on %s (collect.listen): %w", cfg.Collect.Listen, err)
	}
	return col, ln, nil
}

// openEventsAPI serves the API over a read-only catalog connection, opened
// on the first request that finds the lake and the catalog up.
func openEventsAPI(ctx context.Context, cfg *config.Config) (*eventsapi.OnDemand, *catalog.Lazy) {
	cat := catalog.NewLazy(func(ctx context.Context) (*catalog.Catalog, error) { return openQueryCatalog(ctx, cfg) }, slog.Default())
	if _, err := cat.Get(ctx); err != nil {
		slog.Warn("events API: catalog unavailable at start; /api/events answers 503 until it is", "err", err)
	}
	return eventsapi.NewOnDemand(cat.Get, slog.Default()), cat
}
