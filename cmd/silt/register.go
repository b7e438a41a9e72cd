package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/silt-etl/silt/catalog"
)

func init() {
	register(&command{
		name: "register", usage: "--all", order: 60,
		summary: "re-derive the catalog from the lake (tables, columns, partitions)",
		run:     runRegister,
	})
}

func runRegister(ctx context.Context, args []string) (err error) {
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	all := fs.Bool("all", false, "register every table and partition found in the lake (idempotent)")
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
	cat, err := catalog.Open(ctx, catalogOptions(cfg, slog.Default()), store)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cat.Close()) }()
	if err := cat.RepairAll(ctx, store); err != nil {
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
