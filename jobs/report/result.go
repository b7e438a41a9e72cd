// Package report runs silt's SQL reports on the catalog's engine and writes
// them as CSV, notifying a webhook and/or SMTP when a report's alert holds.
package report

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/marcboeker/go-duckdb"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
	reportsql "github.com/silt-etl/silt/sql"
)

// Engine is what running a report needs of the catalog (a *catalog.Catalog).
type Engine interface {
	DB() *sql.DB
	Dialect() catalog.Dialect
	Columns(ctx context.Context) (map[string][]lake.Column, error)
	// ReportTables is the set of names that are report tables, which
	// {{events}} leaves out.
	ReportTables(ctx context.Context, names []string) (map[string]bool, error)
	Qualified(table string) string
}

// Result is a report's output: columns in query order, and per row the
// normalised values (nil, string, int64, float64, bool or time.Time).
type Result struct {
	Columns []string
	Rows    [][]any
	// Types are the engine's names of the columns' types (VARCHAR,
	// bigint, timestamp(3), …), where the driver gives them.
	Types []string
}

// TimeFormat is how every timestamp is written: UTC, millisecond precision.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Execute renders r for e's engine and catalog and runs it.
func Execute(ctx context.Context, e Engine, r *reportsql.Report, values map[string]any) (*Result, error) {
	tables, err := e.Columns(ctx)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", r.Name, err)
	}
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	reports, err := e.ReportTables(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", r.Name, err)
	}
	q, err := r.Render(reportsql.Engine{Dialect: string(e.Dialect()), Tables: tables, ReportTables: reports, Qualify: e.Qualified}, values)
	if err != nil {
		return nil, err
	}
	res, err := Query(ctx, e.DB(), q)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", r.Name, err)
	}
	return res, nil
}

// Query runs q and reads all rows, normalised.
func Query(ctx context.Context, db *sql.DB, q string) (*Result, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	res := &Result{Columns: cols}
	if types, err := rows.ColumnTypes(); err == nil {
		for _, ct := range types {
			res.Types = append(res.Types, ct.DatabaseTypeName())
		}
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("query: read row: %w", err)
		}
		for i, v := range vals {
			vals[i] = Normalize(v)
		}
		res.Rows = append(res.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return res, nil
}

// Normalize maps the Go types the two drivers return onto one set, so the
// same result formats the same whichever engine ran it: DuckDB gives
// *big.Int for sums of integers and Decimal for decimals, Trino gives
// strings for decimals; both give time.Time, in whatever zone.
func Normalize(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int64, float64:
		return x
	case time.Time:
		return x.UTC()
	case []byte:
		return string(x)
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return strconv.FormatUint(x, 10)
	case float32:
		return float64(x)
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		return x.String()
	case duckdb.Decimal:
		return x.Float64()
	case *duckdb.Decimal:
		return x.Float64()
	}
	return fmt.Sprint(v)
}

// Format writes one normalised value as a CSV field. NULL is the empty
// field. Doubles keep 15 significant digits, which hides the last-bit
// differences two engines' float arithmetic may have.
func Format(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
		r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 15, 64), 64)
		if r == 0 {
			r = 0 // no -0
		}
		return strconv.FormatFloat(r, 'f', -1, 64)
	case time.Time:
		return x.UTC().Format(TimeFormat)
	}
	return fmt.Sprint(v)
}

// WriteCSV writes the result as RFC 4180 CSV with a header row.
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(r.Columns); err != nil {
		return err
	}
	rec := make([]string, len(r.Columns))
	for _, row := range r.Rows {
		for i, v := range row {
			rec[i] = Format(v)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
