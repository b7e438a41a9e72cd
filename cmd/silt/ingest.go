package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/silt-etl/silt/jobs/ingest"
)

func init() {
	register(&command{
		name: "ingest", usage: "[--config F] [--once|--follow] [--no-register]", order: 20,
		summary: "drain Kafka into the lake now: one batch (--once) or until caught up",
		run:     runIngest,
	})
}

func runIngest(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	once := fs.Bool("once", false, "drain one micro-batch and exit (default: batches until the consumer lag is zero)")
	follow := fs.Bool("follow", false, "keep draining batches until interrupted (SIGINT/SIGTERM end it after the current batch commits)")
	grace := fs.Duration("grace", 30*time.Second, "on SIGINT/SIGTERM, how long the running batch may take to commit")
	interval := fs.Duration("interval", 2*time.Second, "with --follow, the pause after a batch that found nothing")
	jsonStats := fs.Bool("json-stats", false, "print the run's totals as JSON on stdout when done")
	noRegister := fs.Bool("no-register", false, "do not register tables and partitions in the catalog")
	cfg, err := common.parseLoad(fs, args)
	if err != nil {
		return err
	}
	store, err := openLake(ctx, cfg)
	if err != nil {
		return err
	}
	conn, err := kafkaClientOpts(cfg)
	if err != nil {
		return err
	}
	opts := ingestOptions(cfg, conn)
	opts.Logger = slog.Default()
	if !*noRegister {
		// A catalog that cannot be opened fails each batch's registration,
		// not the ingest: the lake is the truth, and the batch marks the
		// catalog for repair by the next run (or `silt register --all`).
		cat := lazyCatalog(cfg, store, slog.Default())
		defer cat.Close()
		reg, closeReg, err := registrarFor(ctx, cfg, store, cat, slog.Default())
		if err != nil {
			return err
		}
		defer closeReg()
		opts.Registrar = reg
	}
	job := ingest.New(opts, store)
	defer job.Close()
	// A signal lets the running batch reach its commit point; only if that
	// takes longer than the grace period is the batch abandoned (safely:
	// its pinned ranges are replayed by the next run).
	batchCtx, cancel := withGrace(ctx, *grace)
	defer cancel()
	stopDrain := context.AfterFunc(ctx, job.Drain)
	defer stopDrain()
	var totals runTotals
	defer func() {
		if *jsonStats {
			_ = json.NewEncoder(os.Stdout).Encode(totals)
		}
	}()
	for n := 1; ; n++ {
		st, err := job.RunBatch(batchCtx)
		if err != nil {
			return err
		}
		totals.add(st)
		printBatch(n, st)
		switch {
		case *once || ctx.Err() != nil:
			return nil
		case *follow && st.Events == 0:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(*interval):
			}
		case !*follow && (st.Lag == 0 || st.Events == 0):
			// Caught up. (A lag that stays above zero with nothing left to
			// read is transaction markers at the end of a partition.)
			return nil
		}
	}
}

// runTotals sum the batches of one `silt ingest`.
type runTotals struct {
	Batches     int   `json:"batches"`
	Events      int64 `json:"events"`
	DeadLetters int64 `json:"dead_letters"`
	Files       int64 `json:"files"`
	BytesIn     int64 `json:"bytes_in"`
	BytesOut    int64 `json:"bytes_out"`
}

func (t *runTotals) add(st ingest.BatchStats) {
	t.Batches++
	t.Events += st.Events
	t.DeadLetters += st.DeadLetters
	t.Files += st.Files
	t.BytesIn += st.BytesIn
	t.BytesOut += st.BytesOut
}

// printBatch is the one status line per batch a user watches.
func printBatch(n int, st ingest.BatchStats) {
	fmt.Fprintf(os.Stderr, "batch %d: %d events -> %d rows in %d tables, %d dead letters, %d files (%s), lag %d, %s\n",
		n, st.Events, sum(st.Rows), len(st.Rows), st.DeadLetters, st.Files, humanBytes(st.BytesOut), st.Lag, st.Duration.Round(1e6))
}

func sum(m map[string]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// withGrace returns a context that ends grace after parent ends.
func withGrace(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	return ctx, func() { stop(); cancel() }
}
