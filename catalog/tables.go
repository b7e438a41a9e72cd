package catalog

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/silt-etl/silt/lake"
)

// Columns lists every registered table with its columns (partition keys
// included) in lake types, as the engine reports them. Reports expand
// their table lists from it.
func (c *Catalog) Columns(ctx context.Context) (map[string][]lake.Column, error) {
	q := "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = " +
		literal(c.be.schemaName()) + " ORDER BY table_name, ordinal_position"
	rows, err := c.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	defer rows.Close()
	out := map[string][]lake.Column{}
	for rows.Next() {
		var table, name, typ string
		if err := rows.Scan(&table, &name, &typ); err != nil {
			return nil, fmt.Errorf("list columns: %w", err)
		}
		if !validTable(table) {
			continue // not one of silt's tables
		}
		lt, _ := LakeType(typ)
		out[table] = append(out[table], lake.Column{Name: name, Type: lt})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	return out, nil
}

// ReportTables is the set of tables among names that store a report's
// output (a report job's table:, marked in its lake schema) rather than
// an event type: what "every event table" ({{events}}, the events API,
// the watermark) leaves out. The same for Trino and DuckDB, Hive and
// Iceberg tables: the mark lives in the lake, not the engine.
func (c *Catalog) ReportTables(ctx context.Context, names []string) (map[string]bool, error) {
	out, err := c.reports.Of(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("list report tables: %w", err)
	}
	return out, nil
}

// Tables describes every registered table: columns, partitions and rows.
func (c *Catalog) Tables(ctx context.Context) ([]TableInfo, error) {
	cols, err := c.Columns(ctx)
	if err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(cols))
	out := make([]TableInfo, 0, len(names))
	for _, n := range names {
		info := TableInfo{Name: n, Columns: cols[n]}
		if info.Partitions, err = c.be.partitions(ctx, n); err != nil {
			return nil, err
		}
		if err := c.db.QueryRowContext(ctx, "SELECT count(*) FROM "+c.be.qualified(n)).Scan(&info.Rows); err != nil {
			return nil, fmt.Errorf("count rows of %s: %w", n, err)
		}
		out = append(out, info)
	}
	return out, nil
}
