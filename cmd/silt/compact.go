package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/jobs/compact"
)

func init() {
	register(&command{
		name: "compact", usage: "[--config F] [--progress]", order: 62,
		summary: "merge the small objects of every partition whose hour ended an hour ago (what the compact job does), now",
		run:     runCompact,
	})
}

func runCompact(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("compact", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	progress := fs.Bool("progress", false, "print progress on stderr (partitions done of those due, rate, ETA) even when stderr is not a terminal")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errUsage
	}
	cfg, err := common.load()
	if err != nil {
		return err
	}
	var out io.Writer
	if *progress || isTerminal(os.Stderr) {
		out = os.Stderr
	}
	pp := newProgress(out, "compact", "partitions", time.Now)
	if icebergTables(cfg) {
		return compactIceberg(ctx, cfg, pp)
	}
	store, err := openLake(ctx, cfg)
	if err != nil {
		return err
	}
	opts := compactOptions(cfg, slog.Default().With("job", "compact"))
	opts.Progress = func(p compact.Progress) {
		pp.update(int64(p.Partitions), int64(p.PartitionsTotal), "", p.Partitions == p.PartitionsTotal)
	}
	// Plans are claimed in the lake, so a compact job of a running silt
	// and this command never merge the same objects.
	counts, err := compact.New("compact", opts, store).Run(ctx, time.Now())
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	fmt.Printf("compacted: %d objects merged into %d", counts["inputs"], counts["outputs"])
	if counts["taken"] > 0 {
		fmt.Printf(", %d left to another run that claimed them", counts["taken"])
	}
	fmt.Println()
	return nil
}

// compactIceberg is silt compact on Iceberg tables: Trino's OPTIMIZE of
// every hour due, as the compact job runs it.
func compactIceberg(ctx context.Context, cfg *config.Config, pp *progressPrinter) (err error) {
	cat, err := openQueryCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cat.Close()) }()
	job, err := icebergCompactJob("compact", cfg, func(context.Context) (*catalog.Catalog, error) { return cat, nil },
		slog.Default().With("job", "compact"), func(p compact.Progress) {
			pp.update(int64(p.Partitions), int64(p.PartitionsTotal), "", p.Partitions == p.PartitionsTotal)
		})
	if err != nil {
		return err
	}
	counts, err := job.Run(ctx, time.Now())
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	fmt.Printf("compacted: %d hours rewritten (Iceberg OPTIMIZE)\n", counts["partitions"])
	return nil
}
