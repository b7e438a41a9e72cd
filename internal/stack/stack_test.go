package stack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Down must stop the whole process group: a service's own children too.
func TestStopKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	// The shell ignores TERM so the grace period runs out, and its
	// background child must die with the group all the same.
	cmd := exec.Command("sh", "-c", `trap '' TERM; sleep 300 & echo $! > `+pidFile+`; wait`)
	p, err := startProcess("sh", cmd, filepath.Join(dir, "sh.log"), false)
	require.NoError(t, err)
	var child int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil || len(b) == 0 {
			return false
		}
		child, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	require.True(t, p.Running())

	require.NoError(t, p.stop(context.Background(), 200*time.Millisecond))
	require.False(t, p.Running())
	require.Eventually(t, func() bool {
		_, err := startTicks(child)
		return err != nil
	}, 5*time.Second, 20*time.Millisecond, "child %d survived", child)
}

// A process that cannot be stopped must not leave the run directory
// behind; the state file stays so that stack down can be run again.
func TestDownRemovesDirWhenStopFails(t *testing.T) {
	dir, err := os.MkdirTemp("", "silt-stack-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	stateFile := filepath.Join(t.TempDir(), "state.json")
	// Ignores TERM, so only the (here canceled) grace period could end it.
	cmd := exec.Command("sh", "-c", "trap '' TERM; while :; do sleep 1; done")
	p, err := startProcess("stubborn", cmd, filepath.Join(dir, "stubborn.log"), false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Kill(-p.PID, syscall.SIGKILL) })
	s := &Stack{state: State{Dir: dir, Processes: []*Process{p}}, stateFile: stateFile}
	require.NoError(t, writeState(stateFile, &s.state))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = s.Down(ctx)
	require.ErrorContains(t, err, "stop stubborn")
	require.ErrorIs(t, err, context.Canceled)
	require.NoDirExists(t, dir, "the run directory goes even when a stop fails")
	require.FileExists(t, stateFile, "kept for another stack down")

	// The failed stop still sent SIGKILL; a second Down finds it gone.
	require.Eventually(t, func() bool { return !p.Running() }, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, s.Down(context.Background()))
	require.NoFileExists(t, stateFile)
}

// A state file read back by another process tells a reused PID from ours,
// and a process that has exited but whose pid still exists (a zombie) from
// a running one: neither can be told by kill(pid, 0).
func TestAttachedProcessChecksStartTime(t *testing.T) {
	cmd := exec.Command("sleep", "300")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ticks, err := startTicks(cmd.Process.Pid)
	require.NoError(t, err)
	// As Attach reads it: a pid and a start time, no exit channel.
	p := &Process{Name: "sleep", PID: cmd.Process.Pid, StartTicks: ticks}
	require.True(t, p.Running())
	reused := *p
	reused.StartTicks = ticks + 1
	require.False(t, reused.Running(), "same pid, other start time: not our process")

	require.NoError(t, cmd.Process.Kill())
	require.Eventually(t, func() bool { return !p.Running() }, 5*time.Second, 10*time.Millisecond, "killed, still running")
	require.NoError(t, syscall.Kill(p.PID, 0), "unreaped, the pid still exists: Running must not go by it")
	_ = cmd.Wait()
	require.False(t, p.Running())
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stack", "state.json")
	in := State{Dir: "/tmp/silt-stack-x", Processes: []*Process{{Name: "kafka", PID: 42, StartTicks: 7, Log: "k.log"}},
		Endpoints: Endpoints{S3Endpoint: "127.0.0.1:9000", KafkaBrokers: []string{"127.0.0.1:9092"}, TrinoCLI: []string{"java", "-jar", "cli.jar"}}}
	require.NoError(t, writeState(path, &in))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the state holds the MinIO password")
	s, err := Attach(path)
	require.NoError(t, err)
	require.Equal(t, in.Endpoints, *s.Endpoints())
	require.Equal(t, 42, s.State().Processes[0].PID)
	require.Contains(t, s.Endpoints().Env(), "SILT_KAFKA_BROKERS=127.0.0.1:9092")
}

// Trino's tarball hard-links duplicate jars across plugin directories.
func TestUntarHardLinks(t *testing.T) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := []byte("jar bytes")
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "trino-1/plugin/a/x.jar", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
	_, err := tw.Write(body)
	require.NoError(t, err)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "trino-1/plugin/b/x.jar", Linkname: "trino-1/plugin/a/x.jar", Typeflag: tar.TypeLink}))
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "trino-1/../evil", Mode: 0o644, Typeflag: tar.TypeReg}))
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	src := filepath.Join(t.TempDir(), "t.tar.gz")
	require.NoError(t, os.WriteFile(src, buf.Bytes(), 0o644))

	dst := t.TempDir()
	err = untarGz(src, dst)
	require.ErrorContains(t, err, "leaves the target directory")
	got, err := os.ReadFile(filepath.Join(dst, "plugin", "b", "x.jar"))
	require.NoError(t, err)
	require.Equal(t, body, got)
}

func TestJavaMajor(t *testing.T) {
	for release, want := range map[string]int{
		`JAVA_VERSION="25.0.3"`:    25,
		`JAVA_VERSION="17.0.15"`:   17,
		`JAVA_VERSION="1.8.0_402"`: 8,
		`IMPLEMENTOR="x"`:          0,
	} {
		home := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(home, "release"), []byte("IMPLEMENTOR=\"a\"\n"+release+"\n"), 0o644))
		require.Equal(t, want, javaMajor(home), release)
	}
	require.Equal(t, 0, javaMajor(t.TempDir()))
}

// The catalog files Trino gets, parsed as Trino reads them: every line a
// key=value, no key twice, MinIO reached on loopback, path-style, plain
// HTTP, and the metastore lines of each kind.
func TestHiveCatalogIsLoopbackPathStyle(t *testing.T) {
	for kind, metastore := range map[string][]string{
		"file":   fileMetastore("lake"),
		"thrift": thriftMetastore("thrift://127.0.0.1:9083"),
	} {
		t.Run(kind, func(t *testing.T) {
			text := hiveCatalog(metastore, "127.0.0.1:9000", "ak", "sk")
			props := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
				k, v, ok := strings.Cut(line, "=")
				require.True(t, ok, "line %q is not key=value", line)
				_, dup := props[k]
				require.False(t, dup, "%s is set twice", k)
				props[k] = v
			}
			endpoint, err := url.Parse(props["s3.endpoint"])
			require.NoError(t, err)
			require.Equal(t, "http", endpoint.Scheme, "s3.endpoint")
			require.Equal(t, "127.0.0.1:9000", endpoint.Host, "s3.endpoint")
			for k, want := range map[string]string{
				"connector.name":                          "hive",
				"fs.native-s3.enabled":                    "true",
				"s3.path-style-access":                    "true",
				"s3.region":                               region,
				"s3.aws-access-key":                       "ak",
				"s3.aws-secret-key":                       "sk",
				"hive.non-managed-table-writes-enabled":   "true",
				"hive.allow-register-partition-procedure": "true",
				"hive.storage-format":                     "PARQUET",
			} {
				require.Equal(t, want, props[k], k)
			}
			switch kind {
			case "file":
				require.Equal(t, "file", props["hive.metastore"])
				require.Equal(t, "s3://lake/_metastore", props["hive.metastore.catalog.dir"])
				require.Equal(t, "true", props["hive.non-managed-table-creates-enabled"])
				require.NotContains(t, props, "hive.metastore.uri")
			case "thrift":
				uri, err := url.Parse(props["hive.metastore.uri"])
				require.NoError(t, err)
				require.Equal(t, "thrift", uri.Scheme)
				require.Equal(t, "127.0.0.1", uri.Hostname())
				require.NotContains(t, props, "hive.metastore", "thrift is the default metastore type")
			}
		})
	}
}

// The StorageTool reads a cluster id starting with "-" as an option.
func TestClusterIDIsNotAnOption(t *testing.T) {
	for range 10000 { // one random id in 64 started with "-"
		id := clusterID()
		require.Len(t, id, 22)
		require.NotEqual(t, byte('-'), id[0], id)
	}
}
