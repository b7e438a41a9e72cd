//go:build integration

package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// silt stack up, status, down as a user runs them, on a stack of its own
// (the shared one must stay up): status is healthy while it runs; after
// down no process of any service's group is left, its run directory and
// state file are gone, and status says nothing runs.
func TestStackUpDownE2E(t *testing.T) {
	stacktest.CheckEnv(t)
	bin := stacktest.SiltBin(t)
	state := filepath.Join(t.TempDir(), "state.json")
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	silt := func(sub string, args ...string) (string, error) {
		t.Helper()
		out, err := exec.CommandContext(ctx, bin, append([]string{"stack", sub, "--state", state}, args...)...).CombinedOutput()
		return string(out), err
	}
	// Whatever fails below, the services (detached: they outlive silt) go.
	t.Cleanup(func() { _, _ = silt("down") })

	start := time.Now()
	out, err := silt("up")
	// The output holds MinIO's generated keys: shown only on failure.
	require.NoError(t, err, "silt stack up:\n%s", out)
	t.Logf("silt stack up took %s", time.Since(start).Round(100*time.Millisecond))

	st, err := stack.Attach(state)
	require.NoError(t, err)
	dir := st.State().Dir
	require.DirExists(t, dir)
	procs := st.State().Processes
	names := map[string]int{}
	for _, p := range procs {
		names[p.Name] = p.PID
		pids, err := stacktest.GroupPIDs(p.PID)
		require.NoError(t, err)
		require.Contains(t, pids, p.PID, "%s is not running", p.Name)
	}
	require.Len(t, names, 3, "minio, kafka and trino: %v", names)

	out, err = silt("status")
	require.NoError(t, err, "silt stack status on a running stack:\n%s", out)
	for name := range names {
		require.Regexp(t, `(?m)^`+name+`\s.*\sup\s`, out, "status of %s", name)
	}

	// A failure drill: one service stopped (status says so and fails),
	// then started again on its port with its data.
	out, err = silt("stop", "minio")
	require.NoError(t, err, "silt stack stop minio:\n%s", out)
	out, err = silt("status")
	require.Error(t, err, "status with minio stopped:\n%s", out)
	require.Regexp(t, `(?m)^minio\s.*\sdown\s`, out)
	require.Regexp(t, `(?m)^kafka\s.*\sup\s`, out, "the other services keep running")
	out, err = silt("start", "minio")
	require.NoError(t, err, "silt stack start minio:\n%s", out)
	out, err = silt("status")
	require.NoError(t, err, "status after minio's restart:\n%s", out)
	require.Regexp(t, `(?m)^minio\s.*\sup\s`, out)
	st, err = stack.Attach(state)
	require.NoError(t, err)
	for _, p := range st.State().Processes {
		if p.Name == "minio" {
			require.NotEqual(t, names["minio"], p.PID, "minio was not restarted")
			names["minio"] = p.PID
		}
	}
	_, err = silt("stop", "zookeeper")
	require.Error(t, err, "an unknown service")

	out, err = silt("down")
	require.NoError(t, err, "silt stack down:\n%s", out)
	// Down waits for each group leader and then SIGKILLs the group; the
	// kernel takes a moment to end the rest.
	require.Eventually(t, func() bool {
		for _, pgid := range names {
			if pids, err := stacktest.GroupPIDs(pgid); err != nil || len(pids) > 0 {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "processes of the stack's groups %v still alive", names)
	require.NoDirExists(t, dir)
	require.NoFileExists(t, state)

	out, err = silt("status")
	require.Error(t, err, "silt stack status after down:\n%s", out)
	require.Contains(t, out, "no stack running", "status after down: %s", out)
}

// silt stack up --secure --metastore, status, trino and down as a user
// runs them, on a secure stack of its own: the export lines are the
// stack's Env, the metastore runs beside the secured services with Trino's
// Iceberg catalog on it, the trino subcommand logs in with the stack's
// password, a plain up on the secure state is refused, and down leaves
// nothing behind (the metastore's JVM included).
func TestSecureStackUpDownE2E(t *testing.T) {
	stacktest.CheckEnv(t)
	bin := stacktest.SiltBin(t)
	state := filepath.Join(t.TempDir(), "secure-state.json")
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	silt := func(args ...string) (string, error) {
		t.Helper()
		out, err := exec.CommandContext(ctx, bin, append([]string{"stack"}, append(args, "--state", state)...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = silt("down") })

	start := time.Now()
	out, err := silt("up", "--secure", "--metastore")
	require.NoError(t, err, "silt stack up --secure --metastore:\n%s", out)
	t.Logf("silt stack up --secure --metastore took %s", time.Since(start).Round(100*time.Millisecond))

	st, err := stack.Attach(state)
	require.NoError(t, err)
	ep := st.Endpoints()
	require.True(t, ep.Secure)
	for _, kv := range ep.Env() {
		k, v, _ := strings.Cut(kv, "=")
		require.Contains(t, out, "export "+k+"="+shellQuote(v)+"\n")
	}
	require.Contains(t, out, "export SILT_KAFKA_SASL_MECHANISM='scram-sha-512'")
	require.Contains(t, out, "export SILT_S3_SECURE='true'")
	require.Equal(t, 1, strings.Count(out, ep.TrinoPassword), "the Trino password is printed once, in its export line")
	require.Contains(t, out, "# Metastore "+ep.MetastoreURI+", plaintext Thrift on loopback")

	out, err = silt("status")
	require.NoError(t, err, "silt stack status:\n%s", out)
	for _, name := range []string{"minio", "kafka", "trino", "metastore"} {
		require.Regexp(t, `(?m)^`+name+`\s.*\sup\s`, out, "status of %s", name)
	}

	// TRINO_PASSWORD comes from the state file, not from the caller.
	out, err = silt("trino", "--execute", "SELECT 40 + 2")
	require.NoError(t, err, "silt stack trino:\n%s", out)
	require.Contains(t, out, `"42"`)
	// The Iceberg catalog on the metastore creates a table in MinIO over
	// https with the CA and reads it back; the schema's directory marker
	// (the metastore's S3A) and Trino's data and metadata files are all
	// SSE-KMS.
	out, err = silt("trino", "--execute", "CREATE SCHEMA "+ep.TrinoMetastoreIcebergCatalog+".s WITH (location = 's3://"+ep.S3Bucket+"/s/'); "+
		"CREATE TABLE "+ep.TrinoMetastoreIcebergCatalog+".s.t AS SELECT 42 AS x; SELECT x FROM "+ep.TrinoMetastoreIcebergCatalog+".s.t")
	require.NoError(t, err, "silt stack trino on %s:\n%s", ep.TrinoMetastoreIcebergCatalog, out)
	require.Contains(t, out, `"42"`)
	require.Equal(t, 1, stacktest.RequireEncrypted(t, ep, "s/", "s/"), "the metastore's marker of the schema's location")
	t.Logf("SSE-KMS: %d objects under s/", stacktest.RequireEncrypted(t, ep, "s/"))

	out, err = silt("up")
	require.Error(t, err)
	require.Contains(t, out, "state of a secure stack")

	procs := st.State().Processes
	dir := st.State().Dir
	out, err = silt("down")
	require.NoError(t, err, "silt stack down:\n%s", out)
	require.Eventually(t, func() bool {
		for _, p := range procs {
			if pids, err := stacktest.GroupPIDs(p.PID); err != nil || len(pids) > 0 {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "processes of the secure stack still alive")
	require.NoDirExists(t, dir, "the run directory, with the CA key, is gone")
	require.NoFileExists(t, state)
}
