package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/internal/topics"
)

func init() {
	register(&command{
		name: "gen", usage: "[--rate N] [--count N] [--duration D] [--http URL [--get]] [--seed S] [--template FILE [--start T --step D]]", order: 70,
		summary: "publish synthetic game events to Kafka or through a collector",
		run:     runGen,
	})
}

func runGen(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	brokers := fs.String("brokers", "", "Kafka brokers, comma-separated (default: kafka.brokers)")
	topic := fs.String("topic", "", "topic (default: collect.topic)")
	rate := fs.Float64("rate", -1, "events per second, 0 for as fast as possible (default: gen.rate)")
	count := fs.Int64("count", 0, "stop after this many events")
	duration := fs.Duration("duration", 0, "stop after this long (with neither --count nor --duration: until interrupted)")
	httpURL := fs.String("http", "", "send through the collector at this URL (http://127.0.0.1:8322) instead of straight to Kafka")
	get := fs.Bool("get", false, "with --http, one GET per event on the collector's routes (like ApacheBench) instead of POST batches")
	seed := fs.Uint64("seed", 0, "random seed: the same seed makes the same events (default: the clock)")
	hosts := fs.String("hosts", "", "hosts, comma-separated, each optionally weighted as host=N (default: gen.hosts)")
	types := fs.String("types", "", "event types, comma-separated, optionally weighted as type=N (default: gen.event_types)")
	batch := fs.Int("batch", 100, "events per POST request or per producer hand-off")
	workers := fs.Int("workers", 8, "concurrent senders (HTTP connections)")
	asJSON := fs.Bool("json", false, "print the summary as JSON, with counts per event type and host")
	template := fs.String("template", "", "a JSON event with placeholders ({{seq}}, {{now_ms}}, {{now_s}}, {{now}}, {{int 1 100}}, {{float 1 100}}, {{choice \"a\" \"b\"}}) instead of the game events")
	start := fs.String("start", "", "event times from this instant (RFC 3339), one --step apart, instead of the clock: with --seed, the same events every run")
	step := fs.Duration("step", time.Second, "with --start, the time between consecutive events")
	progress := fs.Bool("progress", false, "print a progress line a second on stderr (rate, sent of --count, ETA) even when stderr is not a terminal")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || (*get && *httpURL == "") {
		return errUsage
	}
	cfg, err := common.load()
	if err != nil {
		return err
	}
	o := gen.Options{
		Seed: *seed, Rate: cfg.Gen.Rate, Count: *count, Duration: *duration, Batch: *batch, Workers: *workers,
		Hosts: cfg.Gen.Hosts, EventTypes: cfg.Gen.EventTypes,
	}
	if *progress || isTerminal(os.Stderr) {
		o.Progress = os.Stderr
	}
	if *rate >= 0 {
		o.Rate = *rate
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if *hosts != "" {
		o.Hosts = strings.Split(*hosts, ",")
	}
	if *types != "" {
		o.EventTypes = strings.Split(*types, ",")
	}
	if *template != "" {
		raw, err := os.ReadFile(*template)
		if err != nil {
			return fmt.Errorf("--template: %w", err)
		}
		if o.Template, err = gen.ParseTemplate(*template, string(raw)); err != nil {
			return err
		}
	}
	if *start != "" {
		at, err := time.Parse(time.RFC3339Nano, *start)
		if err != nil {
			return fmt.Errorf("--start %q: write an RFC 3339 time like 2026-01-02T15:04:05Z", *start)
		}
		o.Now = steppedClock(at, *step)
	}

	var sink gen.Sink
	if *httpURL != "" {
		var routes map[string]string
		if *get {
			routes = map[string]string{}
			for path, typ := range cfg.Collect.Routes {
				routes[typ] = path
			}
		}
		sink = gen.NewHTTPSink(*httpURL, cfg.Collect.Token, routes, *workers).WithPostPath(cfg.Collect.PostPaths[0])
	} else {
		bs := cfg.Kafka.Brokers
		if *brokers != "" {
			bs = strings.Split(*brokers, ",")
		}
		if len(bs) == 0 {
			return fmt.Errorf("no Kafka brokers: pass --brokers, set kafka.brokers or SILT_KAFKA_BROKERS, or send through a collector with --http")
		}
		t := cfg.Collect.Topic
		if *topic != "" {
			t = *topic
		}
		conn, err := kafkaClientOpts(cfg)
		if err != nil {
			return err
		}
		if cfg.Kafka.CreateTopics {
			if err := topics.Ensure(ctx, bs, []string{t}, cfg.Kafka.Partitions, conn...); err != nil {
				return err
			}
		}
		ks, err := gen.NewKafkaSink(ctx, bs, t, cfg.Kafka.Acks, conn...)
		if err != nil {
			return err
		}
		sink = ks
	}
	res, err := gen.Run(ctx, o, sink)
	if err != nil {
		return err
	}
	printGen(res, o.Seed, *asJSON)
	if res.Errors > 0 {
		return fmt.Errorf("%d events not accepted; first error: %v", res.Errors, res.FirstErr)
	}
	return nil
}

// steppedClock gives from, from+step, from+2*step, … (gen.Run asks for
// event times from one goroutine).
func steppedClock(from time.Time, step time.Duration) func() time.Time {
	next := from
	return func() time.Time {
		at := next
		next = next.Add(step)
		return at
	}
}

// genSummary is --json's output, for scripts and tests that recount.
type genSummary struct {
	Seed     uint64        `json:"seed"`
	Sent     int64         `json:"sent"`
	Accepted int64         `json:"accepted"`
	Errors   int64         `json:"errors"`
	Seconds  float64       `json:"seconds"`
	Counts   []genKeyCount `json:"counts"`
}

type genKeyCount struct {
	EventType string `json:"event_type"`
	Host      string `json:"host"`
	Count     int64  `json:"count"`
}

func printGen(res *gen.Result, seed uint64, asJSON bool) {
	s := genSummary{Seed: seed, Sent: res.Sent, Accepted: res.Accepted, Errors: res.Errors, Seconds: res.Elapsed.Seconds()}
	for k, n := range res.PerKey {
		s.Counts = append(s.Counts, genKeyCount{EventType: k.Type, Host: k.Host, Count: n})
	}
	sort.Slice(s.Counts, func(i, j int) bool {
		a, b := s.Counts[i], s.Counts[j]
		if a.EventType != b.EventType {
			return a.EventType < b.EventType
		}
		return a.Host < b.Host
	})
	if asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(s)
		return
	}
	fmt.Printf("sent %d, accepted %d, errors %d in %.1fs (%.0f events/s accepted), seed %d\n",
		s.Sent, s.Accepted, s.Errors, s.Seconds, float64(s.Accepted)/max(s.Seconds, 1e-9), seed)
	for _, c := range s.Counts {
		fmt.Printf("  %-20s %-28s %d\n", c.EventType, c.Host, c.Count)
	}
}

// isTerminal: f is a terminal (a character device), where progress lines
// are for a person; a pipe or a file (CI logs) gets none unless asked.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
