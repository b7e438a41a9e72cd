package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/marcboeker/go-duckdb" // registers the "duckdb" database/sql driver

	"github.com/silt-etl/silt/lake"
)

// rooted is a lake on the local file system; DuckDB reads it directly.
// (Reading S3 would need DuckDB's httpfs extension, which DuckDB downloads
// at run time: embedded mode is the local lake.)
type rooted interface{ Root() string }

// duckBackend keeps one view per table over the table's Parquet files. A
// view reads every file under the table's directory, so partitions need no
// registration of their own; the view is (re)created whenever a batch
// touches its table, which is when the schema can have grown.
type duckBackend struct {
	db       *sql.DB
	root     string
	layout   lake.Layout
	readOnly bool
}

// openDuckDB opens path (empty: an in-memory database).
func openDuckDB(ctx context.Context, path string, store lake.Store, layout lake.Layout, readOnly bool) (*Catalog, error) {
	r, ok := store.(rooted)
	if !ok {
		return nil, fmt.Errorf("open duckdb catalog: the lake must be local (lake.kind: local); for an S3 lake use catalog.kind: trino")
	}
	dsn := path
	if path != "" {
		if dir := filepath.Dir(path); !readOnly {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("open duckdb catalog %s: %w", path, err)
			}
		}
		if readOnly {
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("open duckdb catalog %s: %w", path, err)
			}
			dsn += "?access_mode=read_only"
		}
	}
	db, err := sql.Open("duckdb", dsn)
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, fmt.Errorf("open duckdb catalog %q: %w", path, err)
	}
	be := &duckBackend{db: db, root: r.Root(), layout: layout, readOnly: readOnly}
	return &Catalog{db: db, dialect: DuckDB, be: be, log: slog.New(slog.DiscardHandler), layout: layout}, nil
}

func (d *duckBackend) qualified(table string) string { return Quote(table) }

func (d *duckBackend) schemaName() string { return "main" }

func (d *duckBackend) ensureTable(ctx context.Context, s lake.TableSchema) error {
	if d.readOnly {
		return errors.New("duckdb catalog opened read-only")
	}
	files, err := filepath.Glob(d.glob(s.Table))
	if err != nil {
		return err
	}
	if _, err := d.db.ExecContext(ctx, viewSQL(s, d.layout, d.glob(s.Table), len(files) > 0)); err != nil {
		return fmt.Errorf("create view: %w", err)
	}
	return nil
}

func (d *duckBackend) glob(table string) string {
	parts := append(append([]string{d.root, table}, d.layout.GlobDirs()...), "*.parquet")
	return filepath.Join(parts...)
}

// viewSQL selects every column of the schema, typed, from the table's
// files. The files are unioned by name with an empty relation that has
// every column, so files written before a column existed read NULL for it
// (and so does a column whose every file was since deleted). A table with
// no files yet is just the empty relation: read_parquet fails on a pattern
// that matches nothing.
func viewSQL(s lake.TableSchema, layout lake.Layout, glob string, haveFiles bool) string {
	cols := append(s.AllColumns(), layout.Columns()...)
	var outer, empty []string
	for _, c := range cols {
		outer = append(outer, fmt.Sprintf("CAST(%s AS %s) AS %s", Quote(c.Name), duckTypes[c.Type], Quote(c.Name)))
		empty = append(empty, fmt.Sprintf("CAST(NULL AS %s) AS %s", duckTypes[c.Type], Quote(c.Name)))
	}
	src := "SELECT " + strings.Join(empty, ", ") + " WHERE false"
	if haveFiles {
		src += " UNION ALL BY NAME SELECT * FROM read_parquet(" + literal(glob) +
			", hive_partitioning = true, union_by_name = true, hive_types = {" + hiveTypes(layout) + "})"
	}
	return fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT %s FROM (%s)", Quote(s.Table), strings.Join(outer, ", "), src)
}

// hiveTypes reads every partition key as text, as Trino's tables declare
// them: left to guess, DuckDB would read hour=08 as the number 8.
func hiveTypes(layout lake.Layout) string {
	var out []string
	for _, n := range layout.ColumnNames() {
		out = append(out, literal(n)+": VARCHAR")
	}
	return strings.Join(out, ", ")
}

// dropPartitions: the views read whatever files exist, so deleted
// partitions are gone from them already.
func (d *duckBackend) dropPartitions(context.Context, string, []lake.Partition) error { return nil }

func (d *duckBackend) addPartitions(context.Context, string, []lake.Partition) error {
	return nil // the view's pattern already covers every partition directory
}

func (d *duckBackend) partitions(ctx context.Context, table string) ([]lake.Partition, error) {
	keys := quotedKeys(d.layout)
	return queryPartitions(ctx, d.db, table, d.layout, "SELECT DISTINCT "+keys+" FROM "+Quote(table)+" ORDER BY "+keys)
}

// quotedKeys is the layout's partition keys as a column list.
func quotedKeys(layout lake.Layout) string {
	names := layout.ColumnNames()
	for i, n := range names {
		names[i] = Quote(n)
	}
	return strings.Join(names, ", ")
}

// queryPartitions runs q, which selects the layout's partition keys.
func queryPartitions(ctx context.Context, db *sql.DB, table string, layout lake.Layout, q string) ([]lake.Partition, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	defer rows.Close()
	var out []lake.Partition
	n := len(layout.ColumnNames())
	for rows.Next() {
		values := make([]string, n)
		dest := make([]any, n)
		for i := range values {
			dest[i] = &values[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("list partitions of %s: %w", table, err)
		}
		p, err := layout.PartitionFromValues(table, values)
		if err != nil {
			return nil, fmt.Errorf("list partitions of %s: %w", table, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	return out, nil
}
