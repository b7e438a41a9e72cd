//go:build integration

package e2e

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/testbed/stacktest"
)

// TestSecureE2EIcebergOverTLSKMSAndMetastore is
// TestE2EIcebergCountsHivePyiceberg on the secure stack (silt stack up
// --secure --metastore): the built silt ingests from Kafka over SASL_SSL
// (SCRAM-SHA-512) into MinIO over https with the stack's CA and SSE-KMS,
// and commits Iceberg tables through the metastore, whose S3A reaches
// MinIO over https too; the trino CLI over https with the password counts
// per table and host what was produced, each table has one snapshot per
// batch with rows, the same events registered as Hive tables count the
// same, and pyiceberg, over https with the CA, reads the same rows. Every
// object under the test's prefix — silt's Parquet and batch manifests,
// and the Iceberg metadata, manifest lists and manifests iceberg-go
// wrote — is encrypted with the stack's KMS key, and no secret is in
// what silt printed.
func TestSecureE2EIcebergOverTLSKMSAndMetastore(t *testing.T) {
	ep := stacktest.Secure(t)
	w := icebergWorldOn(t, ep, 4, "SILT_INGEST_MAX_RECORDS=3000",
		"SILT_S3_SSE=kms", "SILT_S3_SSE_KMS_KEY_ID="+ep.S3KMSKeyID)
	const n = 12_000
	counts := w.produce(t, n, 23)
	p := w.start(t, "ingest", "--config", w.config)
	require.NoError(t, p.cmd.Wait(), p.output())
	w.checkIcebergIngest(t, n, counts, p.output())

	encrypted := stacktest.RequireEncrypted(t, ep, w.topic+"/")
	metadata := stacktest.RequireEncrypted(t, ep, w.topic+"/_iceberg/", ".metadata.json", ".avro")
	t.Logf("SSE-KMS with key %s: %d objects under %s/, of them %d Iceberg metadata files, manifest lists and manifests",
		ep.S3KMSKeyID, encrypted, w.topic, metadata)

	for _, secret := range []string{ep.KafkaSCRAMPassword, ep.S3SecretKey, ep.TrinoPassword} {
		require.NotContains(t, p.output(), secret, "a secret in silt ingest's output")
	}
}
