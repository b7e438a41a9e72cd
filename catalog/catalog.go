// Package catalog registers the lake's tables and partitions with a query
// engine: Trino's Hive connector (external tables) or embedded DuckDB
// (views over the lake). Registration is idempotent and re-derivable from
// the lake, so a missed one is repaired by the next.
package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/silt-etl/silt/lake"
)

// Change is what one ingest batch wrote to one table: its schema as of the
// batch (columns only grow) and exactly the partitions it wrote.
type Change struct {
	Schema     lake.TableSchema
	Partitions []lake.Partition
	// Objects are the lake keys of the batch's Parquet objects of this
	// table, and Ranges the Kafka ranges of the batch's committed
	// manifests they hold: what an Iceberg commit adds and records
	// (catalog/iceberg). Hive tables register Partitions only.
	Objects []string
	Ranges  []KafkaRange
}

// KafkaRange is the inclusive offset range of one batch of one Kafka
// partition (a lake.BatchManifest's From and To).
type KafkaRange struct {
	Topic     string
	Partition int32
	From, To  int64
}

// Dialect names the engine that runs the catalog's SQL.
type Dialect string

const (
	Trino  Dialect = "trino"
	DuckDB Dialect = "duckdb"
)

// TableInfo describes one registered table, for silt tables.
type TableInfo struct {
	Name       string
	Columns    []lake.Column // every column, partition keys last, lake types
	Partitions []lake.Partition
	Rows       int64
}

// backend is what differs between the engines; Catalog holds what does not.
type backend interface {
	// ensureTable creates the table if missing and adds the columns s has
	// and the table lacks. It never drops or retypes a column.
	ensureTable(ctx context.Context, s lake.TableSchema) error
	// addPartitions registers ps (all of one table); existing ones are skipped.
	addPartitions(ctx context.Context, table string, ps []lake.Partition) error
	// dropPartitions unregisters ps (all of one table); missing ones are skipped.
	dropPartitions(ctx context.Context, table string, ps []lake.Partition) error
	// partitions lists a registered table's partitions, sorted.
	partitions(ctx context.Context, table string) ([]lake.Partition, error)
	// qualified is the table's name as a query writes it.
	qualified(table string) string
	// schemaName is the information_schema.table_schema tables live in.
	schemaName() string
}

// Catalog registers tables with one engine and hands out its connection
// for queries.
type Catalog struct {
	db      *sql.DB
	dialect Dialect
	be      backend
	close   func() error
	log     *slog.Logger
	layout  lake.Layout
	// reports tells report tables from event types by the lake's schemas
	// (nil: no lake, every table is an event type).
	reports *lake.ReportTables
}

// Options says which engine keeps the catalog and how to reach it. The
// error messages name silt.yaml's catalog keys (catalog.kind,
// catalog.trino.url, ...), which these fields mirror one for one.
type Options struct {
	// Kind is "trino" or "duckdb".
	Kind  string
	Trino TrinoOptions
	// DuckDBPath is the DuckDB database file; empty: an in-memory database.
	DuckDBPath string
	// Layout is the lake's partition layout (lake.layout): the tables'
	// partition keys, and the directories DuckDB's views read.
	Layout lake.Layout
	// Logger gets the catalog's notes (a column added, a repair, a
	// fallback); nil discards them.
	Logger *slog.Logger
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Open connects to the engine opts.Kind names. For DuckDB it opens the
// database file read-write: only one process may hold it, see OpenReader
// for the others.
func Open(ctx context.Context, opts Options, store lake.Store) (*Catalog, error) {
	var (
		c   *Catalog
		err error
	)
	switch opts.Kind {
	case "trino":
		c, err = openTrino(ctx, opts.Trino, opts.Layout, opts.logger())
	case "duckdb":
		c, err = openDuckDB(ctx, opts.DuckDBPath, store, opts.Layout, false)
	default:
		return nil, fmt.Errorf("catalog.kind %q: use duckdb or trino", opts.Kind)
	}
	if err != nil {
		return nil, err
	}
	c.log = opts.logger()
	c.reports = lake.NewReportTables(store)
	return c, nil
}

// OpenReader is Open for commands that only query (silt query, tables,
// report). DuckDB lets one process write a database file and then locks
// out every other, read-only ones too, while silt run holds it for its
// lifetime. So a reader first tries the file read-only and, when it is
// locked, builds the same views in an in-memory database from the lake:
// the views are derived from the lake anyway, so the answers are the same.
func OpenReader(ctx context.Context, opts Options, store lake.Store) (*Catalog, error) {
	if opts.Kind != "duckdb" {
		return Open(ctx, opts, store)
	}
	log := opts.logger()
	c, err := openDuckDB(ctx, opts.DuckDBPath, store, opts.Layout, true)
	if err == nil {
		c.log = log
		c.reports = lake.NewReportTables(store)
		return c, nil
	}
	log.Info("duckdb catalog file unavailable, reading the lake directly", "path", opts.DuckDBPath, "reason", err)
	c, err = openDuckDB(ctx, "", store, opts.Layout, false)
	if err != nil {
		return nil, err
	}
	c.log = log
	c.reports = lake.NewReportTables(store)
	if err := c.RepairAll(ctx, store); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// DB is the engine connection, for reports and ad-hoc queries.
func (c *Catalog) DB() *sql.DB { return c.db }

// Dialect is the engine's SQL dialect.
func (c *Catalog) Dialect() Dialect { return c.dialect }

// Layout is the partition layout of the catalog's tables (Options.Layout).
func (c *Catalog) Layout() lake.Layout { return c.layout }

// Iceberg reports whether the catalog's tables are Iceberg tables
// (catalog.trino.table_format: iceberg): partitioned by hour(event_time),
// with no partition key columns, so a time range prunes on event_time
// alone.
func (c *Catalog) Iceberg() bool {
	be, ok := c.be.(*trinoBackend)
	return ok && be.iceberg
}

// Qualified is how a query names table.
func (c *Catalog) Qualified(table string) string { return c.be.qualified(table) }

// Close releases the connection (and the DuckDB file lock).
func (c *Catalog) Close() error {
	if c.close != nil {
		return c.close()
	}
	return c.db.Close()
}

// errIcebergCommitted: with table_format iceberg the tables are Iceberg
// tables, which catalog/iceberg commits to and Iceberg retention
// deletes from; a Hive CREATE TABLE or partition call there would fail
// with a connector error that names neither cause nor remedy.
var errIcebergCommitted = errors.New("catalog.trino.table_format is iceberg: Iceberg tables are committed through catalog/iceberg (ingest, silt register --all) and expired by the Iceberg retention job, not registered as Hive partitions")

// Register applies what ingest batches wrote. It is idempotent: a table,
// column or partition that exists is left alone.
func (c *Catalog) Register(ctx context.Context, changes []Change) error {
	if len(changes) > 0 && c.Iceberg() {
		return fmt.Errorf("register %s as a Hive table: %w", changes[0].Schema.Table, errIcebergCommitted)
	}
	for _, ch := range changes {
		if err := checkSchema(ch.Schema, c.layout); err != nil {
			return err
		}
		if err := c.be.ensureTable(ctx, ch.Schema); err != nil {
			return fmt.Errorf("register table %s: %w", ch.Schema.Table, err)
		}
		for _, p := range ch.Partitions {
			if p.Table != ch.Schema.Table {
				return fmt.Errorf("register %s: partition %s belongs to another table", ch.Schema.Table, p)
			}
			if err := c.checkPartition(p); err != nil {
				return err
			}
		}
		if err := c.be.addPartitions(ctx, ch.Schema.Table, ch.Partitions); err != nil {
			return fmt.Errorf("register partitions of %s: %w", ch.Schema.Table, err)
		}
	}
	return nil
}

// RepairAll re-derives the whole catalog from the lake: every table with a
// schema, every partition holding an object.
func (c *Catalog) RepairAll(ctx context.Context, store lake.Store) error {
	return c.RepairAllProgress(ctx, store, nil)
}

// RepairProgress is how far RepairAllProgress got: tables and partitions
// registered of those found in the lake.
type RepairProgress struct {
	Tables, TablesTotal         int
	Partitions, PartitionsTotal int
}

// RepairAllProgress is RepairAll calling progress (when not nil) once the
// lake is listed and after each table is registered.
func (c *Catalog) RepairAllProgress(ctx context.Context, store lake.Store, progress func(RepairProgress)) error {
	tables, err := lake.Tables(ctx, store)
	if err != nil {
		return fmt.Errorf("repair catalog: %w", err)
	}
	var changes []Change
	for _, t := range tables {
		s, ok, err := lake.LoadSchema(ctx, store, t)
		if err != nil {
			return fmt.Errorf("repair catalog: %w", err)
		}
		if !ok {
			continue
		}
		ps, err := lake.Partitions(ctx, store, t)
		if err != nil {
			return fmt.Errorf("repair catalog: %w", err)
		}
		changes = append(changes, Change{Schema: s, Partitions: ps})
	}
	// The dead-letter table has a fixed schema and no schema file.
	dead, err := lake.Partitions(ctx, store, lake.DeadLetterTable)
	if err != nil {
		return fmt.Errorf("repair catalog: %w", err)
	}
	if len(dead) > 0 {
		changes = append(changes, Change{Schema: lake.TableSchema{Table: lake.DeadLetterTable}, Partitions: dead})
	}
	p := RepairProgress{TablesTotal: len(changes)}
	for _, ch := range changes {
		p.PartitionsTotal += len(ch.Partitions)
	}
	if progress != nil {
		progress(p)
	}
	// One table at a time, as Register would, so progress can follow.
	for _, ch := range changes {
		if err := c.Register(ctx, []Change{ch}); err != nil {
			return fmt.Errorf("repair catalog: %w", err)
		}
		p.Tables++
		p.Partitions += len(ch.Partitions)
		if progress != nil {
			progress(p)
		}
	}
	c.log.Info("catalog repaired from the lake", "tables", len(changes))
	return nil
}

// DropPartitions unregisters partitions whose data retention deleted.
// Tables that are not registered have nothing to drop.
func (c *Catalog) DropPartitions(ctx context.Context, table string, ps []lake.Partition) error {
	if c.Iceberg() {
		return fmt.Errorf("drop partitions of %s: %w", table, errIcebergCommitted)
	}
	if !validTable(table) {
		return fmt.Errorf("drop partitions: %q is not a table name", table)
	}
	for _, p := range ps {
		if err := c.checkPartition(p); err != nil {
			return fmt.Errorf("drop partitions of %s: %w", table, err)
		}
	}
	if err := c.be.dropPartitions(ctx, table, ps); err != nil {
		return fmt.Errorf("drop partitions of %s: %w", table, err)
	}
	return nil
}
