package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/ship"
	"github.com/silt-etl/silt/internal/topics"
)

func init() {
	register(&command{
		name: "ship", usage: "[--brokers B]", order: 75,
		summary: "follow log files and publish each line to Kafka as a JSON event, exactly once",
		run:     runShip,
	})
}

func runShip(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ship", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	brokers := fs.String("brokers", "", "Kafka brokers, comma-separated (default: kafka.brokers)")
	cfg, err := common.parseLoad(fs, args)
	if err != nil {
		return err
	}
	if err := cfg.ValidateShip(); err != nil {
		return err
	}
	sc := cfg.Ship
	bs := cfg.Kafka.Brokers
	if *brokers != "" {
		bs = strings.Split(*brokers, ",")
	}
	topic := sc.Topic
	if topic == "" {
		topic = cfg.Kafka.Topics[0]
	}
	host := sc.Host
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			return fmt.Errorf("ship.host is empty and the host name is unknown (%w): set ship.host or SILT_SHIP_HOST", err)
		}
	}
	loc, err := time.LoadLocation(sc.Timezone)
	if err != nil {
		return fmt.Errorf("ship.timezone: %w", err)
	}
	parser, err := ship.NewParser(sc.Pattern, sc.TimeField, sc.TimeLayout, loc)
	if err != nil {
		return fmt.Errorf("ship.pattern: %w", err)
	}
	conn, err := kafkaClientOpts(cfg)
	if err != nil {
		return err
	}
	if cfg.Kafka.CreateTopics {
		if err := topics.Ensure(ctx, bs, []string{topic}, cfg.Kafka.Partitions, conn...); err != nil {
			return err
		}
	}
	s, err := ship.New(ctx, ship.Options{
		Paths: sc.Paths, Parser: parser, Date: sc.Date, Location: loc,
		EventType: sc.EventType, EventTypeField: cfg.Ingest.EventTypeField, TimeField: cfg.Ingest.TimeField,
		Host: host, Topic: topic, StateFile: sc.StateFile, Poll: sc.Poll.Std(),
		Client:   append([]kgo.Opt{kgo.SeedBrokers(bs...)}, conn...),
		Progress: os.Stdout, Log: slog.Default(),
	})
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Printf("silt ship: %s → topic %q on %s as host %q, state in %s\n", strings.Join(sc.Paths, " "), topic, strings.Join(bs, ","), host, sc.StateFile)
	return s.Run(ctx)
}
