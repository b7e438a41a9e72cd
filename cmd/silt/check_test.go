package main

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/probe"
)

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestCheckNamesEachFailingServiceWithItsKeyAndNoSecret(t *testing.T) {
	t.Setenv("SILT_KAFKA_BROKERS", closedPort(t))
	t.Setenv("SILT_KAFKA_SASL_MECHANISM", "scram-sha-512")
	t.Setenv("SILT_KAFKA_SASL_USERNAME", "silt")
	t.Setenv("SILT_KAFKA_SASL_PASSWORD", "kafka-pw-QQQQ")
	t.Setenv("SILT_LAKE_ROOT", t.TempDir())
	t.Setenv("SILT_SMTP_ADDR", closedPort(t))
	t.Setenv("SILT_SMTP_FROM", "silt@example.com")
	t.Setenv("SILT_SMTP_TO", "ops@example.com")
	t.Setenv("SILT_SMTP_PASSWORD", "smtp-pw-ZZZZ")
	t.Setenv("SILT_SMTP_USERNAME", "silt")
	cfg, err := config.Load("")
	require.NoError(t, err)

	probes, err := serviceProbes(cfg, nil)
	require.NoError(t, err)
	start := time.Now()
	results := probe.RunAll(context.Background(), probes, 10*time.Second, cfg.Redact)
	require.Less(t, time.Since(start), 10*time.Second, "a closed port is named at once, not at the timeout")

	byService := map[string]probe.Result{}
	for _, r := range results {
		byService[r.Service] = r
	}
	require.Len(t, byService, 3, "kafka, lake and alerts: %+v", results)
	require.False(t, byService["kafka"].OK)
	require.Contains(t, byService["kafka"].Cause, "kafka.brokers")
	require.Contains(t, byService["kafka"].Target, "SASL scram-sha-512 as silt")
	require.True(t, byService["lake"].OK, "%+v", byService["lake"])
	require.False(t, byService["alerts"].OK)
	require.Error(t, probe.Failed(results))

	var out bytes.Buffer
	printChecks(&out, results)
	require.Regexp(t, `(?m)^kafka\s+FAIL\s`, out.String())
	require.Regexp(t, `(?m)^lake\s+ok\s`, out.String())
	require.Regexp(t, `(?m)^alerts\s+FAIL\s`, out.String())
	for _, secret := range []string{"kafka-pw-QQQQ", "smtp-pw-ZZZZ"} {
		require.NotContains(t, out.String(), secret)
	}
}

func TestWithoutCredentialsKeepsOnlySchemeAndHost(t *testing.T) {
	require.Equal(t, "https://trino.example.com:8443", withoutCredentials("https://silt:pw@trino.example.com:8443?catalog=hive"))
	require.Equal(t, "https://hooks.example.com", withoutCredentials("https://hooks.example.com/services/T000/B000/secret-token"))
	require.Equal(t, "(catalog.trino.url)", withoutCredentials("not a url"))
}

// aws-msk-iam signs with the AWS chain's keys, never lake.s3's static ones
// (those may be a MinIO's).
func TestMSKIAMTakesTheAWSChainNotTheLakeKeys(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIACHAINCHAINCHAIN1")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "chain-secret")
	t.Setenv("AWS_SESSION_TOKEN", "chain-token")
	t.Setenv("SILT_KAFKA_BROKERS", "b-1.demo.kafka.eu-west-1.amazonaws.com:9098")
	t.Setenv("SILT_KAFKA_TLS_ENABLED", "true")
	t.Setenv("SILT_KAFKA_SASL_MECHANISM", "aws-msk-iam")
	t.Setenv("SILT_LAKE_KIND", "s3")
	t.Setenv("SILT_S3_ENDPOINT", "127.0.0.1:9000")
	t.Setenv("SILT_S3_BUCKET", "lake")
	t.Setenv("SILT_S3_ACCESS_KEY", "minio-user")
	t.Setenv("SILT_S3_SECRET_KEY", "minio-secret")
	cfg, err := config.Load("")
	require.NoError(t, err)
	o := kafkaConn(cfg)
	require.NotNil(t, o.AWSCredentials)
	ak, sk, tok, err := o.AWSCredentials(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"AKIACHAINCHAINCHAIN1", "chain-secret", "chain-token"}, []string{ak, sk, tok})
	opts, err := o.ClientOpts()
	require.NoError(t, err)
	require.Len(t, opts, 3, "a TLS dialer, its dial timeout and the SASL mechanism")
}
