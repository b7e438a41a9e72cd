package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestIcebergRetentionKeysDefaultsEnvironmentAndFloors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "silt.yaml")
	yaml := "kafka: {brokers: ['127.0.0.1:9092']}\n" +
		"lake: {kind: s3, s3: {endpoint: '127.0.0.1:9000', bucket: lake, access_key: a, secret_key: b}}\n" +
		"ingest: {timestamp_unit: micros}\n" +
		"catalog: {kind: trino, trino: {url: 'http://silt@127.0.0.1:8080', catalog: iceberg_hms, schema: silt, table_format: iceberg,\n" +
		"  iceberg: {metastore_uri: 'thrift://127.0.0.1:9083'}}}\n"
	require.NoError(t, os.WriteFile(file, []byte(yaml), 0o600))
	cfg, err := Load(file)
	require.NoError(t, err)
	require.Equal(t, 7*24*time.Hour, cfg.Catalog.Trino.Iceberg.SnapshotRetention.Std())
	require.Equal(t, 7*24*time.Hour, cfg.Catalog.Trino.Iceberg.OrphanFileRetention.Std())

	t.Setenv("SILT_TRINO_ICEBERG_SNAPSHOT_RETENTION", "48h")
	t.Setenv("SILT_TRINO_ICEBERG_ORPHAN_FILE_RETENTION", "3h")
	cfg, err = Load(file)
	require.NoError(t, err)
	require.Equal(t, 48*time.Hour, cfg.Catalog.Trino.Iceberg.SnapshotRetention.Std())
	require.Equal(t, 3*time.Hour, cfg.Catalog.Trino.Iceberg.OrphanFileRetention.Std())

	t.Setenv("SILT_TRINO_ICEBERG_SNAPSHOT_RETENTION", "1s")
	t.Setenv("SILT_TRINO_ICEBERG_ORPHAN_FILE_RETENTION", "10m")
	_, err = Load(file)
	require.ErrorContains(t, err, "catalog.trino.iceberg.snapshot_retention: 1s: keep snapshots at least a minute")
	require.ErrorContains(t, err, "catalog.trino.iceberg.orphan_file_retention: 10m0s: at least 1h, so files of a commit or OPTIMIZE still in flight are never taken for orphans")
}
