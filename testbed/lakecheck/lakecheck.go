// Package lakecheck verifies a lake independently of the code that wrote
// it: DuckDB reads the Parquet objects and the checks count rows, offsets
// and codecs. Tests of every tier share it (unit, MinIO, crash tests).
package lakecheck

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/marcboeker/go-duckdb" // registers the "duckdb" driver

	"github.com/silt-etl/silt/lake"
)

// Report is what a lake holds.
type Report struct {
	Rows        map[string]int64 // per table, the dead-letter table included
	Total       int64            // all rows
	Distinct    int64            // distinct (kafka_topic, kafka_partition, kafka_offset)
	Duplicates  int64            // Total - Distinct
	Files       int
	Codecs      map[string]bool // compression codecs seen in column chunks
	DeadReasons map[string]int64
}

// Check reads every Parquet object under dir (a local lake root).
func Check(ctx context.Context, dir string) (*Report, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// The lake is in one layout; whichever has files is it.
	var files []string
	var glob, deadGlob string
	tableAt := 0
	for _, l := range lake.Layouts {
		g := filepath.Join(append(append([]string{dir, "*"}, l.GlobDirs()...), "*.parquet")...)
		m, err := filepath.Glob(g)
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		if files != nil {
			return nil, fmt.Errorf("lake %s holds objects of two layouts (%s and %s)", dir, glob, g)
		}
		files, glob, tableAt = m, g, -(len(l.GlobDirs()) + 2)
		deadGlob = filepath.Join(append(append([]string{dir, lake.DeadLetterTable}, l.GlobDirs()...), "*.parquet")...)
	}
	r := &Report{Rows: map[string]int64{}, Codecs: map[string]bool{}, DeadReasons: map[string]int64{}}
	r.Files = len(files)
	if len(files) == 0 {
		return r, nil
	}
	q := fmt.Sprintf(`SELECT split_part(filename, '/', %d) AS tbl, count(*) FROM read_parquet('%s', filename=true, union_by_name=true) GROUP BY 1`, tableAt, glob)
	if err := each(ctx, db, q, func(rows *sql.Rows) error {
		var t string
		var n int64
		if err := rows.Scan(&t, &n); err != nil {
			return err
		}
		r.Rows[t] = n
		r.Total += n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count rows: %w", err)
	}
	q = fmt.Sprintf(`SELECT count(DISTINCT (kafka_topic, kafka_partition, kafka_offset)) FROM read_parquet('%s', union_by_name=true)`, glob)
	if err := db.QueryRowContext(ctx, q).Scan(&r.Distinct); err != nil {
		return nil, fmt.Errorf("count distinct offsets: %w", err)
	}
	r.Duplicates = r.Total - r.Distinct
	q = fmt.Sprintf(`SELECT DISTINCT compression FROM parquet_metadata('%s')`, glob)
	if err := each(ctx, db, q, func(rows *sql.Rows) error {
		var c string
		if err := rows.Scan(&c); err != nil {
			return err
		}
		r.Codecs[c] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read codecs: %w", err)
	}
	if m, _ := filepath.Glob(deadGlob); len(m) > 0 {
		q = fmt.Sprintf(`SELECT split_part(reason, ':', 1), count(*) FROM read_parquet('%s') GROUP BY 1`, deadGlob)
		if err := each(ctx, db, q, func(rows *sql.Rows) error {
			var k string
			var n int64
			if err := rows.Scan(&k, &n); err != nil {
				return err
			}
			r.DeadReasons[k] = n
			return nil
		}); err != nil {
			return nil, fmt.Errorf("count dead letters: %w", err)
		}
	}
	return r, nil
}

// Query runs q on a fresh in-memory DuckDB (for a test's own questions).
func Query(ctx context.Context, q string, scan func(*sql.Rows) error) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	return each(ctx, db, q, scan)
}

func each(ctx context.Context, db *sql.DB, q string, scan func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Download copies every object of a store under prefix into dir, so an S3
// lake can be checked like a local one.
func Download(ctx context.Context, st lake.Store, prefix, dir string) error {
	objs, err := st.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if strings.HasPrefix(o.Key, lake.MetaPrefix) {
			continue
		}
		if err := download(ctx, st, o.Key, filepath.Join(dir, filepath.FromSlash(o.Key))); err != nil {
			return err
		}
	}
	return nil
}

func download(ctx context.Context, st lake.Store, key, path string) error {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		_ = f.Close()
		return fmt.Errorf("download %s: %w", key, err)
	}
	return f.Close()
}
