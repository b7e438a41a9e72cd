package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	_ "github.com/trinodb/trino-go-client/trino" // registers the "trino" database/sql driver

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/lake"
)

// trinoBackend keeps external Hive tables over the lake through Trino's
// Hive connector.
type trinoBackend struct {
	db       *sql.DB
	catalog  string
	schema   string
	location string // the lake root as the connector sees it, ends in '/'

	// syncOnly is set once register_partition turned out to be disabled
	// on the server (hive.allow-register-partition-procedure=false).
	syncOnly bool
}

func openTrino(ctx context.Context, t config.Trino) (*Catalog, error) {
	dsn, err := trinoDSN(t)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("trino", dsn)
	if err != nil {
		return nil, fmt.Errorf("open trino catalog: %w", err)
	}
	loc := t.Location
	if !strings.HasSuffix(loc, "/") {
		loc += "/"
	}
	be := &trinoBackend{db: db, catalog: t.Catalog, schema: t.Schema, location: loc}
	q := fmt.Sprintf("CREATE SCHEMA IF NOT EXISTS %s.%s WITH (location = %s)", Quote(t.Catalog), Quote(t.Schema), literal(loc))
	if _, err := db.ExecContext(ctx, q); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema %s.%s: %w", t.Catalog, t.Schema, err)
	}
	return &Catalog{db: db, dialect: Trino, be: be}, nil
}

// trinoDSN pins the catalog and schema (so reports name tables bare) and
// the session time zone to UTC (so timestamps without a zone, which is
// what the lake holds, are neither shifted by the server nor the client).
// It also bounds how long the client retries one failing HTTP request:
// its default, 2 minutes, held every ingest batch that long while Trino
// was down, though a failed registration costs nothing (the next batch
// repairs it) and the scheduler retries reports. A request_retry_timeout
// in catalog.trino.url wins.
func trinoDSN(t config.Trino) (string, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return "", fmt.Errorf("catalog.trino.url: %w", err)
	}
	q := u.Query()
	for k, v := range map[string]string{"catalog": t.Catalog, "schema": t.Schema, "timezone": "UTC", "request_retry_timeout": "10s"} {
		if q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (b *trinoBackend) qualified(table string) string {
	return Quote(b.catalog) + "." + Quote(b.schema) + "." + Quote(table)
}

func (b *trinoBackend) schemaName() string { return b.schema }

func (b *trinoBackend) ensureTable(ctx context.Context, s lake.TableSchema) error {
	cols := append(s.AllColumns(), lake.PartitionColumns...)
	defs := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = Quote(c.Name) + " " + trinoTypes[c.Type]
	}
	q := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s) WITH (external_location = %s, format = 'PARQUET', partitioned_by = ARRAY['dt', 'hour'])",
		b.qualified(s.Table), strings.Join(defs, ", "), literal(b.location+lake.TablePrefix(s.Table)))
	if _, err := b.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	have, err := b.columns(ctx, s.Table)
	if err != nil {
		return err
	}
	for _, c := range s.AllColumns() {
		typ, ok := have[c.Name]
		if ok {
			if typ != c.Type {
				// Retyping would make old files unreadable; ingest dead-letters
				// conflicting events, so this is someone else's change.
				return fmt.Errorf("column %s is %s in the catalog but %s in the lake: not changing it", c.Name, typ, c.Type)
			}
			continue
		}
		q := fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", b.qualified(s.Table), Quote(c.Name), trinoTypes[c.Type])
		if _, err := b.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("add column %s: %w", c.Name, err)
		}
		slog.Info("catalog column added", "table", s.Table, "column", c.Name, "type", c.Type)
	}
	return nil
}

func (b *trinoBackend) columns(ctx context.Context, table string) (map[string]string, error) {
	q := fmt.Sprintf("SELECT column_name, data_type FROM %s.information_schema.columns WHERE table_schema = %s AND table_name = %s",
		Quote(b.catalog), literal(b.schema), literal(table))
	rows, err := b.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, fmt.Errorf("read columns: %w", err)
		}
		out[name], _ = LakeType(typ)
	}
	return out, rows.Err()
}

func (b *trinoBackend) partitions(ctx context.Context, table string) ([]lake.Partition, error) {
	q := fmt.Sprintf("SELECT dt, hour FROM %s.%s.%s ORDER BY dt, hour", Quote(b.catalog), Quote(b.schema), Quote(table+"$partitions"))
	return queryPartitions(ctx, b.db, table, q)
}

// addPartitions uses the connector's register_partition for exactly the
// partitions a batch wrote that the metastore does not list yet (one
// metastore query for the table's partition names, then one call per new
// partition; no object listing). sync_partition_metadata would list the
// whole table directory in object storage on every batch (and with FULL
// also drop partitions it does not find); it is only the fallback when the
// server disables register_partition.
func (b *trinoBackend) addPartitions(ctx context.Context, table string, ps []lake.Partition) error {
	if len(ps) == 0 {
		return nil
	}
	if b.syncOnly {
		return b.sync(ctx, table)
	}
	existing, err := b.partitions(ctx, table)
	if err != nil {
		return err
	}
	have := map[lake.Partition]bool{}
	for _, p := range existing {
		have[p] = true
	}
	for _, p := range ps {
		if have[p] {
			continue
		}
		have[p] = true
		q := fmt.Sprintf("CALL %s.system.register_partition(schema_name => %s, table_name => %s, partition_columns => ARRAY['dt', 'hour'], partition_values => ARRAY[%s, %s], location => %s)",
			Quote(b.catalog), literal(b.schema), literal(table), literal(p.Date), literal(p.Hour), literal(b.location+strings.TrimSuffix(p.Prefix(), "/")))
		_, err := b.db.ExecContext(ctx, q)
		switch {
		case err == nil:
		case strings.Contains(err.Error(), "already exists"):
			// registered concurrently since we listed: what we wanted
		case strings.Contains(err.Error(), "register_partition procedure is disabled"):
			slog.Warn("trino disables register_partition, falling back to sync_partition_metadata; set hive.allow-register-partition-procedure=true")
			b.syncOnly = true
			return b.sync(ctx, table)
		default:
			return fmt.Errorf("register partition %s: %w", p, err)
		}
	}
	return nil
}

func (b *trinoBackend) dropPartitions(ctx context.Context, table string, ps []lake.Partition) error {
	existing, err := b.partitions(ctx, table)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return nil
		}
		return err
	}
	have := map[lake.Partition]bool{}
	for _, p := range existing {
		have[p] = true
	}
	for _, p := range ps {
		if !have[p] {
			continue
		}
		q := fmt.Sprintf("CALL %s.system.unregister_partition(schema_name => %s, table_name => %s, partition_columns => ARRAY['dt', 'hour'], partition_values => ARRAY[%s, %s])",
			Quote(b.catalog), literal(b.schema), literal(table), literal(p.Date), literal(p.Hour))
		if _, err := b.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("unregister partition %s: %w", p, err)
		}
	}
	return nil
}

func (b *trinoBackend) sync(ctx context.Context, table string) error {
	q := fmt.Sprintf("CALL %s.system.sync_partition_metadata(schema_name => %s, table_name => %s, mode => 'ADD')",
		Quote(b.catalog), literal(b.schema), literal(table))
	if _, err := b.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("sync partitions of %s: %w", table, err)
	}
	return nil
}
