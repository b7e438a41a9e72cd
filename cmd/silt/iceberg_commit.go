package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/iceberg"
	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/jobs/ingest"
	"github.com/silt-etl/silt/lake"
)

// icebergCommitter commits ingest batches to the Iceberg tables of cfg's
// catalog (catalog.trino.table_format: iceberg), reaching the files with
// the lake's own S3 settings. It connects on first use.
func icebergCommitter(ctx context.Context, cfg *config.Config, store lake.Store, log *slog.Logger) (*iceberg.Tables, error) {
	s3 := cfg.Lake.S3
	return iceberg.Open(ctx, iceberg.Options{
		MetastoreURI: cfg.Catalog.Trino.Iceberg.MetastoreURI,
		Namespace:    cfg.Catalog.Trino.Schema,
		Location:     cfg.Catalog.Trino.Location,
		S3: iceberg.S3Options{
			Endpoint: s3.Endpoint, Secure: s3.Secure, Region: s3.Region,
			AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, SessionToken: s3.SessionToken, CAFile: s3.CAFile,
			SSE: s3.SSE, SSEKMSKeyID: s3.SSEKMSKeyID,
		},
		Logger: log,
	}, store)
}

// registrarFor is what ingest tells about each batch: the Iceberg
// committer with table_format iceberg, else the (Hive or DuckDB) catalog.
// The Trino catalog still answers every query in both cases.
func registrarFor(ctx context.Context, cfg *config.Config, store lake.Store, hive ingest.Registrar, log *slog.Logger) (ingest.Registrar, func(), error) {
	if !icebergTables(cfg) {
		return hive, func() {}, nil
	}
	t, err := icebergCommitter(ctx, cfg, store, log)
	if err != nil {
		return nil, nil, err
	}
	return t, func() {
		if err := t.Close(); err != nil {
			log.Warn("close Iceberg committer", "err", err)
		}
	}, nil
}

// batchRegistrar is registrar when set, else the catalog.
func (d *jobDeps) batchRegistrar() ingest.Registrar {
	if d.registrar != nil {
		return d.registrar
	}
	return d.catalog
}

// registerIceberg is silt register --all with table_format iceberg: it
// commits to each Iceberg table every committed batch's objects it lacks
// (re-creating a table the metastore lost, from its latest metadata in
// the lake when there is one), then prints each table's rows as Trino
// counts them.
func registerIceberg(ctx context.Context, cfg *config.Config, store lake.Store, pp *progressPrinter) (err error) {
	tables, err := icebergCommitter(ctx, cfg, store, slog.Default())
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, tables.Close()) }()
	err = tables.RepairAllProgress(ctx, store, func(p catalog.RepairProgress) {
		pp.update(int64(p.Partitions), int64(p.PartitionsTotal), fmt.Sprintf("tables %d of %d", p.Tables, p.TablesTotal), p.Tables == p.TablesTotal)
	})
	if err != nil {
		return err
	}
	cat, err := catalog.Open(ctx, catalogOptions(cfg, slog.Default()), store)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cat.Close()) }()
	names, err := lake.Tables(ctx, store)
	if err != nil {
		return err
	}
	for _, name := range names {
		var rows int64
		if err := cat.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+cat.Qualified(name)).Scan(&rows); err != nil {
			return fmt.Errorf("count rows of %s: %w", name, err)
		}
		fmt.Printf("%s: %d rows\n", name, rows)
	}
	return nil
}
