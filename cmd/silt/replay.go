package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/deadletters"
)

func init() {
	register(&command{
		name: "replay-dead-letters", usage: "--to TOPIC [--reason KIND] [--since 24h|TIME] [--offset TOPIC/PARTITION/OFFSET ...] [--limit N] [--dry-run]", order: 56,
		summary: "re-publish dead letters to a topic after a fix, each once",
		run:     runReplayDeadLetters,
	})
}

// offsetList is the repeatable --offset flag.
type offsetList []string

func (o *offsetList) String() string     { return strings.Join(*o, ",") }
func (o *offsetList) Set(v string) error { *o = append(*o, v); return nil }

func runReplayDeadLetters(ctx context.Context, args []string) (err error) {
	fs := flag.NewFlagSet("replay-dead-letters", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	to := fs.String("to", "", "the topic to publish them to (required; usually one ingest reads)")
	kind := fs.String("reason", "", "only dead letters of this reason kind")
	sinceFlag := fs.String("since", "", "only records from this Kafka time on: a duration back from now (24h) or a time")
	var offsets offsetList
	fs.Var(&offsets, "offset", "only this dead letter, by its original topic/partition/offset (repeatable)")
	limit := fs.Int("limit", 1000, "at most this many, the newest first (0: all selected)")
	dryRun := fs.Bool("dry-run", false, "list what would be replayed, send nothing")
	cfg, err := common.parseLoad(fs, args)
	if err != nil {
		return err
	}
	if *to == "" {
		return errors.New("--to TOPIC is required: the topic to publish the dead letters to")
	}
	if *kind == "" && *sinceFlag == "" && len(offsets) == 0 {
		return errors.New("select what to replay: --reason, --since or --offset (a replay of every dead letter is rarely what a fix calls for)")
	}
	since, err := parseSince(*sinceFlag, time.Now())
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, o := range offsets {
		parts := strings.Split(o, "/")
		if len(parts) != 3 {
			return fmt.Errorf("--offset %q: use TOPIC/PARTITION/OFFSET, as silt deadletters prints", o)
		}
		if _, err := strconv.ParseInt(parts[1], 10, 32); err != nil {
			return fmt.Errorf("--offset %q: partition %q is not a number", o, parts[1])
		}
		if _, err := strconv.ParseInt(parts[2], 10, 64); err != nil {
			return fmt.Errorf("--offset %q: offset %q is not a number", o, parts[2])
		}
		want[o] = true
	}
	store, err := openLake(ctx, cfg)
	if err != nil {
		return err
	}
	r := deadletters.NewReader(store, "")
	defer func() { err = errors.Join(err, r.Close()) }()
	lim := *limit
	if len(want) > 0 {
		lim = 0 // the offsets select; the limit applies after
	}
	sum, err := r.Read(ctx, deadletters.Filter{Since: since, Kind: *kind, Limit: lim})
	if err != nil {
		return err
	}
	letters := selectLetters(sum.Latest, want, *limit)
	if len(want) > 0 && len(letters) < len(want) {
		return fmt.Errorf("%d of the %d --offset dead letters are not in the lake (with the other filters)", len(want)-len(letters), len(want))
	}
	if *dryRun || len(letters) == 0 {
		fmt.Printf("%d dead letters would be replayed to %s\n", len(letters), *to)
		return printDeadLetters(os.Stdout, deadletters.Summary{Total: int64(len(letters)), Latest: letters}, "table")
	}
	opts, err := kafkaClientOpts(cfg)
	if err != nil {
		return err
	}
	brokers := cfg.Kafka.Brokers
	if cfg.Kafka.UsesEmbeddedBroker() {
		brokers = []string{config.EmbeddedBroker}
	}
	client, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID("silt-replay")}, opts...)...)
	if err != nil {
		return fmt.Errorf("kafka client for %v: %w", brokers, err)
	}
	defer client.Close()
	rep := &deadletters.Replayer{Store: store, Client: client, Topic: *to, By: processName(cfg)}
	outs, err := rep.Replay(ctx, letters)
	printReplay(os.Stdout, outs, *to)
	return err
}

// selectLetters keeps the letters named in want (all when empty), at most
// limit (0: all) of them.
func selectLetters(all []deadletters.Letter, want map[string]bool, limit int) []deadletters.Letter {
	var out []deadletters.Letter
	for _, l := range all {
		if len(want) > 0 && !want[fmt.Sprintf("%s/%d/%d", l.Topic, l.Partition, l.Offset)] {
			continue
		}
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, l)
	}
	return out
}

func printReplay(w io.Writer, outs []deadletters.ReplayOutcome, topic string) {
	counts := map[string]int{}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "dead letter\tstatus\tnow at")
	for _, o := range outs {
		counts[o.Status]++
		at := "-"
		if o.Status != "in_progress" {
			at = fmt.Sprintf("%s/%d/%d", topic, o.Partition, o.Offset)
		}
		fmt.Fprintf(tw, "%s/%d/%d\t%s\t%s\n", o.Letter.Topic, o.Letter.Partition, o.Letter.Offset, o.Status, at)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "replayed %d, already replayed before %d, finished an interrupted replay %d, left to a replay in progress %d\n",
		counts["replayed"], counts["already"], counts["recovered"], counts["in_progress"])
}
