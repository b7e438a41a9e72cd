package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/silt-etl/silt/internal/deadletters"
)

func init() {
	register(&command{
		name: "deadletters", usage: "[--limit N] [--reason KIND] [--since 24h|TIME] [--format table|csv|json]", order: 55,
		summary: "the latest dead letters: reason, topic/partition/offset, the raw text",
		run:     runDeadLetters,
	})
}

// excerptChars is how much of a dead letter's raw text the table shows.
const excerptChars = 80

func runDeadLetters(ctx context.Context, args []string) (err error) {
	fs := flag.NewFlagSet("deadletters", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	limit := fs.Int("limit", 20, "how many of the latest to list (0: all)")
	kind := fs.String("reason", "", "only this reason kind: not_json, not_object, no_event_type, bad_event_type, type_conflict, undeclared_field, duplicate_field")
	sinceFlag := fs.String("since", "", "only records from this Kafka time on: a duration back from now (24h, 90m) or a time (2026-11-22, 2026-11-22T10:00:00Z)")
	format := fs.String("format", "table", "output: table (counts by reason, then one line per dead letter with an excerpt), csv or json (every field, the whole raw text)")
	cfg, err := common.parseLoad(fs, args)
	if err != nil {
		return err
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return fmt.Errorf("--format %q: use table, csv or json", *format)
	}
	if *limit < 0 {
		return fmt.Errorf("--limit %d: use 0 (all) or more", *limit)
	}
	since, err := parseSince(*sinceFlag, time.Now())
	if err != nil {
		return err
	}
	store, err := openLake(ctx, cfg)
	if err != nil {
		return err
	}
	r := deadletters.NewReader(store, "")
	defer func() { err = errors.Join(err, r.Close()) }()
	sum, err := r.Read(ctx, deadletters.Filter{Since: since, Kind: *kind, Limit: *limit})
	if err != nil {
		return err
	}
	return printDeadLetters(os.Stdout, sum, *format)
}

// parseSince reads --since: empty (no bound), a duration back from now, a
// date or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %s: give a positive duration back from now", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: use a duration (24h) or a time (2026-11-22 or 2026-11-22T10:00:00Z)", s)
}

var deadLetterHeader = []string{"at", "topic", "partition", "offset", "ingested_at", "kind", "reason", "raw", "raw_base64"}

func printDeadLetters(w io.Writer, sum deadletters.Summary, format string) error {
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(deadLetterHeader); err != nil {
			return err
		}
		for _, l := range sum.Latest {
			if err := cw.Write([]string{
				l.At.UTC().Format(time.RFC3339Nano), l.Topic, strconv.Itoa(int(l.Partition)), strconv.FormatInt(l.Offset, 10),
				l.IngestedAt.UTC().Format(time.RFC3339Nano), l.Kind, l.Reason, l.Raw, l.RawBase64,
			}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		letters := sum.Latest
		if letters == nil {
			letters = []deadletters.Letter{}
		}
		return enc.Encode(letters)
	}
	if sum.Total == 0 {
		_, err := fmt.Fprintln(w, "no dead letters")
		return err
	}
	fmt.Fprintf(w, "%d dead letters:", sum.Total)
	for _, k := range sum.ByKind {
		fmt.Fprintf(w, " %s=%d", k.Kind, k.Count)
	}
	fmt.Fprintf(w, "\nthe latest %d, newest first:\n", len(sum.Latest))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "at\ttopic/partition/offset\treason\traw (excerpt)")
	for _, l := range sum.Latest {
		fmt.Fprintf(tw, "%s\t%s/%d/%d\t%s\t%s\n", l.At.UTC().Format("2006-01-02 15:04:05.000"), l.Topic, l.Partition, l.Offset,
			deadletters.SafeExcerpt(l.Reason, 100), l.Excerpt(excerptChars))
	}
	return tw.Flush()
}
