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
)

func init() {
	register(&command{
		name: "register", usage: "--all [--progress]", order: 60,
		summary: "re-derive the catalog from the lake (tables, columns, partitions)",
		run:     runRegister,
	})
}

func runRegister(ctx context.Context, args []string) (err error) {
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	all := fs.Bool("all", false, "register every table and partition found in the lake (idempotent)")
	progress := fs.Bool("progress", false, "print progress on stderr (partitions and tables done of the total, rate, ETA) even when stderr is not a terminal")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*all || fs.NArg() > 0 {
		return errUsage
	}
	cfg, err := common.load()
	if err != nil {
		return err
	}
	store, err := openLake(ctx, cfg)
	if err != nil {
		return err
	}
	var out io.Writer
	if *progress || isTerminal(os.Stderr) {
		out = os.Stderr
	}
	if icebergTables(cfg) {
		return registerIceberg(ctx, cfg, store, newProgress(out, "register", "files", time.Now))
	}
	cat, err := catalog.Open(ctx, catalogOptions(cfg, slog.Default()), store)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cat.Close()) }()
	pp := newProgress(out, "register", "partitions", time.Now)
	err = cat.RepairAllProgress(ctx, store, func(p catalog.RepairProgress) {
		pp.update(int64(p.Partitions), int64(p.PartitionsTotal), fmt.Sprintf("tables %d of %d", p.Tables, p.TablesTotal), p.Tables == p.TablesTotal)
	})
	if err != nil {
		return err
	}
	tables, err := cat.Tables(ctx)
	if err != nil {
		return err
	}
	for _, t := range tables {
		fmt.Printf("%s: %d partitions, %d rows\n", t.Name, len(t.Partitions), t.Rows)
	}
	return nil
}
