package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/jobs/report"
)

func init() {
	register(&command{
		name: "query", usage: `"SQL" [--format table|csv|json] [--as-of TIME|SNAPSHOT_ID]`, order: 40,
		summary: "run ad-hoc SQL on the configured engine",
		run:     runQuery,
	})
}

func runQuery(ctx context.Context, args []string) (err error) {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	format := fs.String("format", "table", "output: table (aligned), csv or json (an array of objects)")
	asOf := fs.String("as-of", "", "read the tables as of a time (2026-05-01T10:00:00Z) or a snapshot id (Iceberg tables only)")
	q, err := parseWithArg(fs, args)
	if err != nil {
		return err
	}
	if q == "" {
		return errUsage
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return fmt.Errorf("--format %q: use table, csv or json", *format)
	}
	var point catalog.AsOf
	if *asOf != "" {
		if point, err = catalog.ParseAsOf(*asOf); err != nil {
			return err
		}
	}
	cfg, err := common.load()
	if err != nil {
		return err
	}
	cat, err := openQueryCatalog(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cat.Close()) }()
	if *asOf != "" {
		tt, err := cat.AsOf(ctx, point)
		if err != nil {
			return err
		}
		if q, err = tt.Query(ctx, q); err != nil {
			return err
		}
	}
	res, err := report.Query(ctx, cat.DB(), q)
	if err != nil {
		return err
	}
	switch *format {
	case "csv":
		return res.WriteCSV(os.Stdout)
	case "json":
		return writeJSON(os.Stdout, res)
	}
	return writeTable(os.Stdout, res)
}

// writeTable aligns columns; NULL shows as NULL (unlike CSV's empty field).
func writeTable(w io.Writer, res *report.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(res.Columns, "\t"))
	dashes := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		dashes[i] = strings.Repeat("-", len(c))
	}
	fmt.Fprintln(tw, strings.Join(dashes, "\t"))
	cells := make([]string, len(res.Columns))
	for _, row := range res.Rows {
		for i, v := range row {
			if v == nil {
				cells[i] = "NULL"
			} else {
				// a tab or newline in a value would break the alignment
				cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(report.Format(v))
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	fmt.Fprintf(tw, "(%d rows)\n", len(res.Rows))
	return tw.Flush()
}

// writeJSON keeps the query's column order in each object.
func writeJSON(w io.Writer, res *report.Result) error {
	var b strings.Builder
	b.WriteString("[")
	for r, row := range res.Rows {
		if r > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  {")
		for i, v := range row {
			if i > 0 {
				b.WriteString(", ")
			}
			k, _ := json.Marshal(res.Columns[i])
			if t, ok := v.(time.Time); ok {
				v = report.Format(t)
			}
			val, err := json.Marshal(v)
			if err != nil {
				val, _ = json.Marshal(report.Format(v))
			}
			b.Write(k)
			b.WriteString(": ")
			b.Write(val)
		}
		b.WriteString("}")
	}
	b.WriteString("\n]\n")
	_, err := io.WriteString(w, b.String())
	return err
}
