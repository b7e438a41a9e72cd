package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTableFormatDefaultEnvironmentAndIcebergNeeds(t *testing.T) {
	cfg, err := Load("")
	require.NoError(t, err)
	require.Equal(t, "hive", cfg.Catalog.Trino.TableFormat, "the default")

	file := filepath.Join(t.TempDir(), "silt.yaml")
	trino := "kafka: {brokers: ['127.0.0.1:9092']}\n" +
		"lake: {kind: s3, s3: {endpoint: '127.0.0.1:9000', bucket: lake, access_key: a, secret_key: b}}\n" +
		"catalog: {kind: trino, trino: {url: 'http://silt@127.0.0.1:8080', catalog: iceberg_hms, schema: silt}}\n"
	require.NoError(t, os.WriteFile(file, []byte(trino), 0o600))

	t.Setenv("SILT_TRINO_TABLE_FORMAT", "delta")
	_, err = Load(file)
	require.ErrorContains(t, err, `catalog.trino.table_format: "delta": use hive or iceberg`)

	t.Setenv("SILT_TRINO_TABLE_FORMAT", "iceberg")
	_, err = Load(file)
	require.ErrorContains(t, err, `catalog.trino.iceberg.metastore_uri: "": name the Hive Metastore of Trino's Iceberg catalog, e.g. thrift://127.0.0.1:9083`)
	require.ErrorContains(t, err, `ingest.timestamp_unit: "millis", but catalog.trino.table_format is iceberg, whose timestamps are microseconds: set timestamp_unit: micros`)

	t.Setenv("SILT_TRINO_ICEBERG_METASTORE_URI", "thrift://127.0.0.1:9083")
	t.Setenv("SILT_INGEST_TIMESTAMP_UNIT", "micros")
	cfg, err = Load(file)
	require.NoError(t, err)
	require.Equal(t, "iceberg", cfg.Catalog.Trino.TableFormat)
	require.Equal(t, "thrift://127.0.0.1:9083", cfg.Catalog.Trino.Iceberg.MetastoreURI)

	t.Setenv("SILT_TRINO_TABLE_FORMAT", "hive")
	_, err = Load(file)
	require.ErrorContains(t, err, "catalog.trino.iceberg.metastore_uri: set, but catalog.trino.table_format is hive")
}
