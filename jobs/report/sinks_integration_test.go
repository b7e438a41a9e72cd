//go:build integration

package report_test

import (
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func uniqueName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return prefix + hex.EncodeToString(b)
}

// A report job's table in Trino (Hive tables over MinIO) and its topic on
// the stack's Kafka: run twice for one slot, then after a late tick; the
// table holds each window once, the topic's latest record per key is the
// row (checkReportSinks).
func TestReportSinksTrinoAndKafkaIntegration(t *testing.T) {
	ep := stacktest.Get(t)
	name := uniqueName(t, "it_report_sinks_")
	store, err := lake.NewS3(t.Context(), lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Region: ep.S3Region, Prefix: name,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)
	cat, err := catalog.Open(t.Context(), catalog.Options{Kind: "trino", Trino: catalog.TrinoOptions{
		URL: ep.TrinoURL, Catalog: ep.TrinoCatalog, Schema: name, Location: ep.TrinoSchemaLocation + name + "/",
	}}, store)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cat.Close()) })
	checkReportSinks(t, sinkRig{store: store, cat: cat, kafka: stacktest.KafkaOpts(t, ep), topic: name, table: "tick_averages"})
}

// The same on the embedded engine, DuckDB over a local lake, publishing
// to the secure stack's Kafka (SASL_SSL, SCRAM-SHA-512).
func TestReportSinksDuckDBAndSecureKafkaIntegration(t *testing.T) {
	ep := stacktest.Secure(t)
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	cat, err := catalog.Open(t.Context(), catalog.Options{Kind: "duckdb", DuckDBPath: filepath.Join(t.TempDir(), "silt.duckdb")}, store)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cat.Close()) })
	checkReportSinks(t, sinkRig{store: store, cat: cat, kafka: stacktest.KafkaOpts(t, ep), topic: uniqueName(t, "it_report_sinks_"), table: "tick_averages"})
}
