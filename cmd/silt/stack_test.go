package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/stack"
)

// silt stack certs writes the PEM files for the docker compose variant,
// the hosts as the server certificate's names, and keeps an existing CA
// unless told otherwise.
func TestStackCerts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	require.NoError(t, runStack(t.Context(), []string{"certs", "--dir", dir, "--hosts", "kafka,minio,trino"}))
	for _, f := range []string{"ca.crt", "ca.key", "server.crt", "server.key", "server.pem", "client.crt", "client.key", "client-expired.crt", "client-expired.key"} {
		require.FileExists(t, filepath.Join(dir, f))
	}
	b, err := os.ReadFile(filepath.Join(dir, "server.crt"))
	require.NoError(t, err)
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"localhost", "kafka", "minio", "trino"}, c.DNSNames)

	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	require.NoError(t, err)
	err = runStack(t.Context(), []string{"certs", "--dir", dir})
	require.ErrorContains(t, err, "already holds a CA")
	same, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	require.NoError(t, err)
	require.Equal(t, ca, same, "the CA is kept")
	require.NoError(t, runStack(t.Context(), []string{"certs", "--dir", dir, "--force"}))
	other, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	require.NoError(t, err)
	require.NotEqual(t, ca, other)

	require.ErrorIs(t, runStack(t.Context(), []string{"certs"}), errUsage, "--dir is required")
}

// --secure has its own default state file, so a plain and a secure stack
// run side by side; --metastore does not go with it.
func TestStackSecureFlags(t *testing.T) {
	t.Setenv("SILT_CACHE_DIR", t.TempDir())
	plain, err := stateFile("", false)
	require.NoError(t, err)
	secure, err := stateFile("", true)
	require.NoError(t, err)
	require.NotEqual(t, plain, secure)
	want, err := stack.DefaultSecureStateFile()
	require.NoError(t, err)
	require.Equal(t, want, secure)
	given, err := stateFile("/x/state.json", true)
	require.NoError(t, err)
	require.Equal(t, "/x/state.json", given)

	require.ErrorIs(t, runStack(t.Context(), []string{"sideways"}), errUsage)
}
