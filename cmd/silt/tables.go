package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

func init() {
	register(&command{
		name: "tables", usage: "[--partitions]", order: 50,
		summary: "registered tables: columns, partitions, row counts",
		run:     runTables,
	})
}

func runTables(ctx context.Context, args []string) (err error) {
	fs := flag.NewFlagSet("tables", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	all := fs.Bool("partitions", false, "list every partition (default: the count and the range)")
	cfg, err := common.parseLoad(fs, args)
	if err != nil {
		return err
	}
	cat, err := openQueryCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cat.Close()) }()
	tables, err := cat.Tables(ctx)
	if err != nil {
		return err
	}
	if len(tables) == 0 {
		fmt.Println("no tables registered (ingest some events, or run `silt register --all`)")
		return nil
	}
	w := os.Stdout
	for _, t := range tables {
		fmt.Fprintf(w, "%s  %d rows, %d partitions", t.Name, t.Rows, len(t.Partitions))
		if n := len(t.Partitions); n > 0 {
			fmt.Fprintf(w, " (%s .. %s)", t.Partitions[0].Dir(), t.Partitions[n-1].Dir())
		}
		fmt.Fprintln(w)
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = c.Name + " " + c.Type
		}
		fmt.Fprintf(w, "  columns: %s\n", strings.Join(cols, ", "))
		if *all {
			for _, p := range t.Partitions {
				fmt.Fprintf(w, "  %s\n", p.Dir())
			}
		}
	}
	return nil
}
