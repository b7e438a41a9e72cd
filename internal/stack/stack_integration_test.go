//go:build integration

package stack_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/marcboeker/go-duckdb"
	"github.com/stretchr/testify/require"
	_ "github.com/trinodb/trino-go-client/trino"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

func uniq(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func openLake(t *testing.T, ep *stack.Endpoints) *lake.S3 {
	t.Helper()
	s, err := lake.NewS3(t.Context(), lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Region: ep.S3Region,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	require.NoError(t, err)
	return s
}

// The lake contract against real MinIO: put, get, stat, list, overwrite, delete.
func TestMinIOLakeIntegration(t *testing.T) {
	ep := stacktest.Get(t)
	ctx := t.Context()
	s := openLake(t, ep)
	root := uniq("it_lake_")

	put := func(key, body string) {
		require.NoError(t, s.Put(ctx, key, strings.NewReader(body), int64(len(body))))
	}
	get := func(key string) string {
		b, err := lake.ReadAll(ctx, s, key)
		require.NoError(t, err)
		return string(b)
	}
	put(root+"/b/2.txt", "two")
	put(root+"/a/1.txt", "one!")
	put(root+"/a/x.parquet", "PAR1")
	require.Equal(t, "one!", get(root+"/a/1.txt"))

	obj, err := s.Stat(ctx, root+"/a/1.txt")
	require.NoError(t, err)
	require.Equal(t, int64(4), obj.Size)

	list, err := s.List(ctx, root+"/")
	require.NoError(t, err)
	var keys []string
	for _, o := range list {
		keys = append(keys, o.Key)
	}
	require.Equal(t, []string{root + "/a/1.txt", root + "/a/x.parquet", root + "/b/2.txt"}, keys)

	put(root+"/a/1.txt", "replaced")
	require.Equal(t, "replaced", get(root+"/a/1.txt"))
	obj, err = s.Stat(ctx, root+"/a/1.txt")
	require.NoError(t, err)
	require.Equal(t, int64(8), obj.Size)

	require.NoError(t, s.Delete(ctx, root+"/a/1.txt"))
	require.NoError(t, s.Delete(ctx, root+"/a/1.txt"), "deleting a missing key is not an error")
	_, err = s.Get(ctx, root+"/a/1.txt")
	require.ErrorIs(t, err, lake.ErrNotExist)
	_, err = s.Stat(ctx, root+"/a/1.txt")
	require.ErrorIs(t, err, lake.ErrNotExist)
	list, err = s.List(ctx, root+"/a/")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "s3://lake/"+root+"/b/2.txt", s.URI(root+"/b/2.txt"))
}

// Produce through franz-go to the real broker and read every record back.
func TestKafkaProduceConsumeIntegration(t *testing.T) {
	ep := stacktest.Get(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	topic := uniq("it_topic_")

	admin, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...))
	require.NoError(t, err)
	defer admin.Close()
	resp, err := kadm.NewClient(admin).CreateTopic(ctx, 3, 1, nil, topic)
	require.NoError(t, err)
	require.NoError(t, resp.Err)

	const n = 300
	prod, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	defer prod.Close()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: []byte("k" + strconv.Itoa(i%10)), Value: []byte(strconv.Itoa(i))})
	}
	require.NoError(t, prod.ProduceSync(ctx, recs...).FirstErr())

	cons, err := kgo.NewClient(kgo.SeedBrokers(ep.KafkaBrokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cons.Close()
	seen := map[int]int{}
	parts := map[int32]bool{}
	for len(seen) < n {
		fs := cons.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "got %d of %d records", len(seen), n)
		require.Empty(t, fs.Errors())
		fs.EachRecord(func(r *kgo.Record) {
			v, err := strconv.Atoi(string(r.Value))
			require.NoError(t, err)
			seen[v]++
			parts[r.Partition] = true
		})
	}
	for i := range n {
		require.Equal(t, 1, seen[i], "record %d", i)
	}
	require.Len(t, parts, 3, "keys spread over all 3 partitions")
}

// writeParquet has DuckDB write n rows of (host, bytes, event_time) as
// Snappy Parquet and returns the file; host i%len(hosts) gets row i.
func writeParquet(t *testing.T, n int, hosts []string) string {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	defer db.Close()
	path := filepath.Join(t.TempDir(), "events.parquet")
	list := "['" + strings.Join(hosts, "','") + "']"
	q := fmt.Sprintf(`COPY (
		SELECT %s[(i %% %d) + 1] AS host,
		       CAST(i * 10 AS BIGINT) AS bytes,
		       TIMESTAMP '2026-01-01 00:00:00' + i * INTERVAL 1 SECOND AS event_time
		FROM range(%d) t(i)
	) TO '%s' (FORMAT parquet, COMPRESSION snappy)`, list, len(hosts), n, path)
	_, err = db.Exec(q)
	require.NoError(t, err)
	return path
}

func upload(t *testing.T, s *lake.S3, key, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, s.Put(t.Context(), key, bytes.NewReader(b), int64(len(b))))
}

// Trino's hive catalog reads a Parquet file on MinIO through an external
// table and a registered partition; counts are checked through
// trino-go-client and through the trino CLI as users run it.
func TestTrinoHiveParquetIntegration(t *testing.T) {
	ep := stacktest.Get(t)
	checkHiveCatalog(t, ep, ep.TrinoCatalog)
}

// The same through a standalone Hive Metastore over Thrift, the way the
// docker compose stack configures Trino.
func TestTrinoThriftMetastoreIntegration(t *testing.T) {
	ep := stacktest.Get(t)
	if ep.MetastoreURI == "" {
		stacktest.Missing(t, "the stack runs no Hive Metastore (start it with SILT_STACK_METASTORE=1 or silt stack up --metastore)")
	}
	checkHiveCatalog(t, ep, ep.TrinoMetastoreCatalog)
}

func checkHiveCatalog(t *testing.T, ep *stack.Endpoints, catalog string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	s := openLake(t, ep)
	schema := uniq("it_trino_")
	hosts := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"}
	const n = 1000
	want := map[string]int64{}
	for i := range n {
		want[hosts[i%len(hosts)]]++
	}
	file := writeParquet(t, n, hosts)
	upload(t, s, schema+"/events/part-0.parquet", file)
	upload(t, s, schema+"/events_p/dt=2026-01-01/part-0.parquet", file)
	upload(t, s, schema+"/events_p/dt=2026-01-02/part-0.parquet", file)

	db, err := sql.Open("trino", ep.TrinoURL+"?catalog="+catalog)
	require.NoError(t, err)
	defer db.Close()
	run := func(q string) {
		t.Helper()
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	loc := ep.TrinoSchemaLocation + schema
	run(fmt.Sprintf("CREATE SCHEMA %s WITH (location = '%s/')", schema, loc))
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		for _, q := range []string{"DROP TABLE IF EXISTS %s.events", "DROP TABLE IF EXISTS %s.events_p", "DROP TABLE IF EXISTS %s.by_host", "DROP SCHEMA IF EXISTS %s"} {
			_, _ = db.ExecContext(ctx, fmt.Sprintf(q, schema))
		}
	})
	run(fmt.Sprintf(`CREATE TABLE %s.events (host varchar, bytes bigint, event_time timestamp(3))
		WITH (external_location = '%s/events/', format = 'PARQUET')`, schema, loc))
	run(fmt.Sprintf(`CREATE TABLE %s.events_p (host varchar, bytes bigint, event_time timestamp(3), dt varchar)
		WITH (external_location = '%s/events_p/', format = 'PARQUET', partitioned_by = ARRAY['dt'])`, schema, loc))
	run(fmt.Sprintf(`CALL system.register_partition('%s', 'events_p', ARRAY['dt'], ARRAY['2026-01-01'])`, schema))

	query := func(q string) map[string]int64 {
		t.Helper()
		rows, err := db.QueryContext(ctx, q)
		require.NoError(t, err, q)
		defer rows.Close()
		got := map[string]int64{}
		for rows.Next() {
			var h string
			var c int64
			require.NoError(t, rows.Scan(&h, &c))
			got[h] = c
		}
		require.NoError(t, rows.Err())
		return got
	}
	groupBy := fmt.Sprintf("SELECT host, count(*) FROM %s.events GROUP BY host ORDER BY host", schema)
	require.Equal(t, want, query(groupBy))
	// Only the registered partition is visible: the second dt stays unseen.
	require.Equal(t, want, query(fmt.Sprintf("SELECT host, count(*) FROM %s.events_p GROUP BY host", schema)))

	// Trino writes into the lake too (external CTAS: the file metastore
	// keeps managed tables under its own directory).
	run(fmt.Sprintf(`CREATE TABLE %s.by_host WITH (format = 'PARQUET', external_location = '%s/by_host/')
		AS SELECT host, count(*) AS n FROM %s.events GROUP BY host`, schema, loc, schema))
	require.Equal(t, want, query(fmt.Sprintf("SELECT host, n FROM %s.by_host", schema)))
	written, err := s.List(ctx, schema+"/by_host/")
	require.NoError(t, err)
	require.NotEmpty(t, written, "CTAS data under its external location on MinIO")

	var sum int64
	var maxTime time.Time
	require.NoError(t, db.QueryRowContext(ctx, fmt.Sprintf("SELECT sum(bytes), max(event_time) FROM %s.events", schema)).Scan(&sum, &maxTime))
	require.Equal(t, int64(10*n*(n-1)/2), sum)
	require.Equal(t, time.Date(2026, 1, 1, 0, 0, n-1, 0, time.UTC), maxTime.UTC())

	// The CLI, exactly as a user runs it.
	args := append(append([]string{}, ep.TrinoCLI[1:]...), "--catalog", catalog, "--output-format", "TSV", "--execute", groupBy)
	cmd := exec.CommandContext(ctx, ep.TrinoCLI[0], args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "trino CLI: %s", stderr.String())
	got := map[string]int64{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		h, c, ok := strings.Cut(line, "\t")
		require.True(t, ok, "CLI line %q", line)
		v, err := strconv.ParseInt(c, 10, 64)
		require.NoError(t, err, "CLI line %q", line)
		got[h] = v
		order = append(order, h)
	}
	require.Equal(t, want, got)
	require.True(t, sort.StringsAreSorted(order), "ORDER BY host: %v", order)
}

// A stack file from another process: Attach sees it running and healthy.
// Without SILT_STACK_STATE this binary started the stack itself, and
// writes the state file another process would read.
func TestStackStateAttachIntegration(t *testing.T) {
	st := stacktest.State(t)
	path := os.Getenv("SILT_STACK_STATE")
	if path == "" {
		path = filepath.Join(t.TempDir(), "state.json")
		b, err := json.Marshal(st)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, b, 0o600))
	}
	s, err := stack.Attach(path)
	require.NoError(t, err)
	require.Equal(t, st.Dir, s.State().Dir, "SILT_STACK_STATE names the stack the tests use")
	require.NoError(t, s.Healthy(t.Context()))
	names := map[string]bool{}
	for _, st := range s.Status(t.Context()) {
		require.True(t, st.Running && st.Listening, "%+v", st)
		names[st.Name] = true
	}
	require.True(t, names["minio"] && names["kafka"] && names["trino"], "%v", names)
	require.Equal(t, s.Endpoints().MetastoreURI != "", names["metastore"])
	_, err = stack.Attach(filepath.Join(t.TempDir(), "missing.json"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// Every process of the stack, and anything it forked, listens on loopback
// only (issue 3: "never bind anything but 127.0.0.1"). The live sockets are
// read from /proc, so a port a JVM opens on its own (JMX, a servlet) counts
// as much as the configured ones.
func TestStackListensOnLoopbackOnlyIntegration(t *testing.T) {
	st := stacktest.State(t)
	ep := st.Endpoints
	main := map[string][]string{
		"minio": {ep.S3Endpoint},
		"trino": {strings.TrimPrefix(ep.TrinoServer, "http://")},
		"kafka": {ep.KafkaBrokers[0]},
	}
	if ep.MetastoreURI != "" {
		main["metastore"] = []string{strings.TrimPrefix(ep.MetastoreURI, "thrift://")}
	}
	checkLoopbackOnly(t, st, main)
}

// checkLoopbackOnly fails t for any listening socket of the stack's
// process groups that is not on loopback, and unless each service listens
// on the addresses main gives it. It returns each service's listeners.
func checkLoopbackOnly(t *testing.T, st stack.State, main map[string][]string) map[string][]stacktest.Listener {
	t.Helper()
	require.Len(t, st.Processes, len(main), "one process per service: %+v", st.Processes)
	all := map[string][]stacktest.Listener{}
	for _, p := range st.Processes {
		pids, err := stacktest.GroupPIDs(p.PID)
		require.NoError(t, err)
		require.NotEmpty(t, pids, "%s (process group %d) is not running", p.Name, p.PID)
		var ls []stacktest.Listener
		for _, pid := range pids {
			l, err := stacktest.Listeners(pid)
			require.NoError(t, err, "%s (pid %d)", p.Name, pid)
			ls = append(ls, l...)
		}
		var addrs []string
		for _, l := range ls {
			addrs = append(addrs, l.Addr.String())
			if !stacktest.LoopbackOnly(l.Addr.Addr()) {
				t.Errorf("%s (pid %d) listens on %s, port %d: reachable from outside this machine", p.Name, l.PID, l.Addr.Addr(), l.Addr.Port())
			}
		}
		t.Logf("%s (pids %v) listens on %v", p.Name, pids, addrs)
		// Sanity: the scan sees the service's own ports, so an empty
		// result cannot pass for a clean one.
		wants, ok := main[p.Name]
		require.True(t, ok, "unknown service %s", p.Name)
		for _, want := range wants {
			require.True(t, slices.ContainsFunc(ls, func(l stacktest.Listener) bool {
				return netip.AddrPortFrom(l.Addr.Addr().Unmap(), l.Addr.Port()).String() == want
			}),
				"%s's port %s not among its listeners %v", p.Name, want, addrs)
		}
		all[p.Name] = ls
	}
	return all
}

// docker/hive/Dockerfile links the AWS SDK bundle hadoop-aws was built
// against; the launcher's Maven resolution of the metastore jars says
// which. The unit tier checks only when the jars are cached: here they
// are installed if missing (under CI, a failure to install fails).
func TestDockerAWSSDKMatchesLauncherIntegration(t *testing.T) {
	stacktest.Get(t)
	cache, err := stack.DefaultCacheDir()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	libs, err := stack.InstallMetastoreJars(ctx, cache, os.Stderr)
	require.NoError(t, err, "install the metastore jars")
	require.True(t, stack.CheckAWSSDK(t, libs), "metastore jars in %s incomplete after install", libs)
}
