//go:build integration

package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog/iceberg"
	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/testbed/lakecheck"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// icebergWorld is a world whose silt keeps Iceberg tables in the stack's
// Iceberg catalog on the Hive Metastore (silt stack up --metastore).
func icebergWorld(t *testing.T, partitions int32, extraEnv ...string) *world {
	t.Helper()
	return icebergWorldOn(t, stacktest.Get(t), partitions, extraEnv...)
}

// icebergWorldOn is icebergWorld on the stack ep, plain or secure.
func icebergWorldOn(t *testing.T, ep *stack.Endpoints, partitions int32, extraEnv ...string) *world {
	t.Helper()
	if ep.MetastoreURI == "" || ep.TrinoMetastoreIcebergCatalog == "" {
		up := "silt stack up --metastore"
		if ep.Secure {
			up = "silt stack up --secure --metastore"
		}
		stacktest.Missing(t, "the stack has no Hive Metastore with an Iceberg catalog: "+up)
		return nil
	}
	env := append([]string{
		"SILT_TRINO_TABLE_FORMAT=iceberg",
		"SILT_TRINO_ICEBERG_METASTORE_URI=" + ep.MetastoreURI,
		"SILT_TRINO_CATALOG=" + ep.TrinoMetastoreIcebergCatalog,
		"SILT_INGEST_TIMESTAMP_UNIT=micros",
	}, extraEnv...)
	return newWorldOn(t, ep, partitions, env...)
}

// schema is the world's Trino schema (newWorld's SILT_TRINO_SCHEMA).
func (w *world) schema() string { return sanitize(w.topic) }

// trino runs statements with the trino CLI (over https with the
// password on a secure stack) and returns its TSV rows.
func (w *world) trino(t *testing.T, q string) [][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := w.ep.TrinoCommand(ctx, "--output-format", "TSV", "--execute", q).CombinedOutput()
	require.NoError(t, err, "trino CLI: %s\n%s", q, out)
	var rows [][]string
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows
}

// hostCounts is "table/host" -> rows, by Trino over catalog.
func (w *world) hostCounts(t *testing.T, catalog, schema string, tables []string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, table := range tables {
		for _, r := range w.trino(t, fmt.Sprintf(`SELECT host, count(*) FROM %s.%s."%s" GROUP BY host`, catalog, schema, table)) {
			n, err := strconv.ParseInt(r[1], 10, 64)
			require.NoError(t, err)
			out[table+"/"+r[0]] = n
		}
	}
	return out
}

// lakeHostCounts is "table/host" -> rows read by DuckDB from the world's
// lake files (checked exactly once by checkExactlyOnce first).
func (w *world) lakeHostCounts(t *testing.T, tables []string) map[string]int64 {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, lakecheck.Download(context.Background(), w.store, "", dir))
	out := map[string]int64{}
	for _, table := range tables {
		q := fmt.Sprintf(`SELECT host, count(*) FROM read_parquet('%s/%s/*/*/*.parquet', union_by_name=true) GROUP BY host`, dir, table)
		require.NoError(t, lakecheck.Query(context.Background(), q, func(r *sql.Rows) error {
			var host string
			var n int64
			if err := r.Scan(&host, &n); err != nil {
				return err
			}
			out[table+"/"+host] = n
			return nil
		}))
	}
	return out
}

// commitLog is what silt's JSON log says of its Iceberg commits.
type commitLog struct {
	perTable map[string]int
	took     []time.Duration
	lost     int // rounds that lost a race and re-read the table
}

func parseCommitLog(t *testing.T, out string) commitLog {
	t.Helper()
	c := commitLog{perTable: map[string]int{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg   string `json:"msg"`
			Table string `json:"table"`
			Took  int64  `json:"took"` // slog's JSON writes a duration in nanoseconds
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch line.Msg {
		case "iceberg commit":
			c.perTable[line.Table]++
			c.took = append(c.took, time.Duration(line.Took))
		case "iceberg commit lost a race or failed; re-reading the table":
			c.lost++
		}
	}
	return c
}

// warnings are the WARN and ERROR lines of silt's JSON log.
func warnings(out string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			b.WriteString(line)
		}
	}
	return b.String()
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func keys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestE2EIcebergCountsHivePyiceberg: silt ingest with
// table_format iceberg, in several batches; then checkIcebergIngest: the
// trino CLI's counts, snapshots, the same events as Hive tables, and
// pyiceberg.
func TestE2EIcebergCountsHivePyiceberg(t *testing.T) {
	w := icebergWorld(t, 4, "SILT_INGEST_MAX_RECORDS=4000")
	const n = 20_000
	counts := w.produce(t, n, 16)
	p := w.start(t, "ingest", "--config", w.config)
	require.NoError(t, p.cmd.Wait(), p.output())
	w.checkIcebergIngest(t, n, counts, p.output())
}

// checkIcebergIngest checks what one silt ingest (its output given) of n
// produced events (counts per type) left behind: nothing lagging, every
// event in the lake exactly once; the trino CLI's counts per table and
// host equal the lake's; each table has one snapshot per batch that had
// rows for it (each recording its Kafka ranges); the same events
// registered as Hive tables in another schema, through the Hive catalog
// on the same metastore, count the same; and pyiceberg, reading each
// table's latest metadata without Trino, gets the same rows.
func (w *world) checkIcebergIngest(t *testing.T, n int64, counts map[string]int64, output string) {
	t.Helper()
	require.Zero(t, w.groupLag(t))
	w.checkExactlyOnce(t, n, counts)
	tables := keys(counts)

	commits := parseCommitLog(t, output)
	t.Logf("iceberg commits per table %v; commit latency p50 %s p99 %s over %d commits", commits.perTable,
		percentile(commits.took, 0.5), percentile(commits.took, 0.99), len(commits.took))
	for _, table := range tables {
		require.Positive(t, commits.perTable[table], "silt logged no Iceberg commit of %s; its warnings and errors:\n%s", table, warnings(output))
	}

	cat, schema := w.ep.TrinoMetastoreIcebergCatalog, w.schema()
	lakeCounts := w.lakeHostCounts(t, tables)
	require.Equal(t, lakeCounts, w.hostCounts(t, cat, schema, tables), "iceberg rows per table and host")
	t.Logf("trino counts %d events over %d tables and %d table/host pairs equal to the lake's; rows per table %v", n, len(tables), len(lakeCounts), counts)
	for _, table := range tables {
		q := fmt.Sprintf(`SELECT count(*), count(DISTINCT (kafka_partition, kafka_offset)), count(DISTINCT ingested_at) FROM %s.%s."%s"`, cat, schema, table)
		r := w.trino(t, q)[0]
		require.Equal(t, strconv.FormatInt(counts[table], 10), r[0], "%s rows", table)
		require.Equal(t, r[0], r[1], "%s: every (partition, offset) once", table)
		batches := r[2] // each batch stamps its rows with its own ingested_at

		snaps := w.trino(t, fmt.Sprintf(`SELECT operation, summary['%s'], summary['added-records'] FROM %s.%s."%s$snapshots"`, iceberg.RangesKey, cat, schema, table))
		require.Equal(t, batches, strconv.Itoa(len(snaps)), "%s: one snapshot per batch with rows for it", table)
		require.Len(t, snaps, commits.perTable[table], "%s: one snapshot per commit silt logged", table)
		for _, s := range snaps {
			require.Equal(t, "append", s[0])
			require.Regexp(t, `^[^/]+/\d+/\d+-\d+(,[^/]+/\d+/\d+-\d+)*$`, s[1], "%s: the snapshot records its Kafka ranges", table)
			require.Regexp(t, `^[1-9]\d*$`, s[2], "%s: the snapshot added rows", table)
		}
	}

	// The same lake as Hive tables, through the Hive catalog on the same
	// metastore, in a schema of their own.
	hiveSchema := schema + "_hive"
	reg := exec.Command(stacktest.SiltBin(t), "register", "--all", "--config", w.config)
	reg.Env = append(slices.Clone(w.env), "SILT_TRINO_TABLE_FORMAT=hive", "SILT_TRINO_ICEBERG_METASTORE_URI=",
		"SILT_TRINO_CATALOG="+w.ep.TrinoMetastoreCatalog, "SILT_TRINO_SCHEMA="+hiveSchema)
	out, err := reg.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, lakeCounts, w.hostCounts(t, w.ep.TrinoMetastoreCatalog, hiveSchema, tables), "hive rows per table and host")

	// pyiceberg reads the latest metadata straight from the lake.
	for _, table := range tables {
		meta := w.trino(t, fmt.Sprintf(`SELECT file FROM %s.%s."%s$metadata_log_entries" ORDER BY timestamp DESC LIMIT 1`, cat, schema, table))[0][0]
		got := w.pyiceberg(t, meta)
		want := map[string]int64{}
		for k, v := range lakeCounts {
			if h, ok := strings.CutPrefix(k, table+"/"); ok {
				want[h] = v
			}
		}
		require.Equal(t, want, got.Hosts, "%s: pyiceberg rows per host", table)
		require.Equal(t, counts[table], got.Distinct, "%s: pyiceberg distinct (partition, offset)", table)
	}
}

// pyicebergResult is what pyiceberg read from one table.
type pyicebergResult struct {
	Hosts    map[string]int64 `json:"hosts"`
	Distinct int64            `json:"distinct"`
}

// pyiceberg scans the table of metadata with pyiceberg (PyPI, installed
// by .ci/install-deps into ~/.cache/silt/venv) and pyarrow's S3: on a
// secure stack over https, trusting the stack's CA only. pyiceberg 0.12
// passes no CA to pyarrow's S3FileSystem (its tls_ca_file_path), so the
// script wraps the class pyiceberg instantiates to add it.
func (w *world) pyiceberg(t *testing.T, metadata string) pyicebergResult {
	t.Helper()
	home, err := os.UserHomeDir()
	require.NoError(t, err)
	py := filepath.Join(home, ".cache", "silt", "venv", "bin", "python")
	if err := exec.Command(py, "-c", "import pyiceberg").Run(); err != nil {
		stacktest.Missing(t, "pyiceberg is not installed in ~/.cache/silt/venv: run .ci/install-deps")
		return pyicebergResult{}
	}
	script := `
import json, sys
import pyarrow.compute as pc
from pyiceberg.table import StaticTable
meta, endpoint, key, secret, region, ca = sys.argv[1:7]
if ca:
    import pyarrow.fs
    s3fs = pyarrow.fs.S3FileSystem
    pyarrow.fs.S3FileSystem = lambda **kw: s3fs(tls_ca_file_path=ca, **kw)
t = StaticTable.from_metadata(meta, properties={
    "s3.endpoint": endpoint, "s3.access-key-id": key, "s3.secret-access-key": secret,
    "s3.region": region, "s3.force-virtual-addressing": "false"})
a = t.scan(selected_fields=("host", "kafka_partition", "kafka_offset")).to_arrow()
hosts = {}
for h, c in zip(*[col.to_pylist() for col in a.group_by("host").aggregate([("host", "count")]).select(["host", "host_count"]).columns]):
    hosts[h] = c
distinct = a.group_by(["kafka_partition", "kafka_offset"]).aggregate([]).num_rows
print(json.dumps({"hosts": hosts, "distinct": distinct}))
`
	scheme := "http://"
	if w.ep.Secure {
		scheme = "https://"
	}
	cmd := exec.Command(py, "-c", script, metadata, scheme+w.ep.S3Endpoint, w.ep.S3AccessKey, w.ep.S3SecretKey, w.ep.S3Region, w.ep.S3CAFile)
	out, err := cmd.Output()
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	require.NoError(t, err, "pyiceberg: %s", stderr)
	var res pyicebergResult
	require.NoError(t, json.Unmarshal(out, &res), "%s", out)
	return res
}

// TestE2EIcebergKillNineExactlyOnce: silt ingest with Iceberg
// commits is killed with SIGKILL at random moments, at least ten times,
// while the topic is topped up; a kill between a batch's manifests and its
// Iceberg commit leaves that commit to the next process. Afterwards every
// event is in each Iceberg table exactly once by (partition, offset).
func TestE2EIcebergKillNineExactlyOnce(t *testing.T) {
	const chunk, lowWater, wantKills = 20_000, 20_000, 10
	w := icebergWorld(t, 4,
		// Small batches: a commit every few hundred milliseconds.
		"SILT_INGEST_MAX_RECORDS=2000", "SILT_INGEST_TARGET_FILE_BYTES=1MB",
		"SILT_KAFKA_INSTANCE_ID=iceberg-crash-test")
	var n int64
	counts := map[string]int64{}
	topUp := func() {
		for typ, c := range w.produce(t, chunk, uint64(31+n)) {
			counts[typ] += c
		}
		n += chunk
	}
	topUp()

	rng := rand.New(rand.NewPCG(16, 1))
	kills, repaired := 0, 0 // repaired: table commits made by a repair at start
	for runs := 0; kills < wantKills && runs < 4*wantKills; runs++ {
		if w.groupLag(t) < lowWater {
			topUp()
		}
		p := w.start(t, "ingest", "--config", w.config)
		// A process starts, joins the group and drains its first batch in
		// about 4 s here, then spends most of each batch committing (a few
		// hundred ms per table): kills from 3 to 12 s land mostly in or
		// around commits.
		wait := time.Duration(3000+rng.IntN(9000)) * time.Millisecond
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			require.NoError(t, err, p.output())
			t.Logf("run finished before its kill at %s", wait)
		case <-time.After(wait):
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
			waited := <-done
			kills++
			c := parseCommitLog(t, p.output())
			t.Logf("kill %d after %s (%v): %d commits before it, lag %d", kills, wait, waited, len(c.took), w.groupLag(t))
		}
		repaired += repairCommits(p.output())
	}
	require.Equal(t, wantKills, kills, "runs kept finishing before their kill")

	final := w.start(t, "ingest", "--config", w.config)
	require.NoError(t, final.cmd.Wait(), final.output())
	require.Zero(t, w.groupLag(t))
	w.checkExactlyOnce(t, n, counts)
	cat, schema := w.ep.TrinoMetastoreIcebergCatalog, w.schema()
	for table, c := range counts {
		q := fmt.Sprintf(`SELECT count(*), count(DISTINCT (kafka_partition, kafka_offset)) FROM %s.%s."%s"`, cat, schema, table)
		r := w.trino(t, q)[0]
		require.Equal(t, []string{strconv.FormatInt(c, 10), strconv.FormatInt(c, 10)}, r, "%s: rows and distinct (partition, offset)", table)
	}
	repaired += repairCommits(final.output())
	t.Logf("%d events, %d kills; restarted processes re-committed %d table commits that a kill had cut off", n, kills, repaired)
}

// repairCommits counts the commits a process made while repairing its
// tables at start (before it logs the repair done): each is a batch's
// table commit a killed process did not make.
func repairCommits(out string) int {
	before, _, found := strings.Cut(out, `"msg":"iceberg tables repaired from the lake"`)
	if !found {
		return 0
	}
	return strings.Count(before, `"msg":"iceberg commit"`)
}

// TestE2EIcebergConcurrentRegisterCommitsOnce: the lake holds committed
// batches no Iceberg table has yet (ingest --no-register, as after a crash
// right after the manifests); two silt register --all processes commit
// them at once against the real metastore. One commit per table wins, the
// other process re-reads and finds its batches recorded: each table has
// one snapshot and every row once. Then the metastore loses the tables
// (unregister_table, the files stay) and register --all rebuilds them: a
// table from its latest metadata in the lake (history kept), a table whose
// metadata was deleted too from the lake's committed objects.
func TestE2EIcebergConcurrentRegisterCommitsOnce(t *testing.T) {
	w := icebergWorld(t, 4)
	const n = 9_000
	counts := w.produce(t, n, 77)
	ing := w.start(t, "ingest", "--config", w.config, "--no-register")
	require.NoError(t, ing.cmd.Wait(), ing.output())
	w.checkExactlyOnce(t, n, counts)
	tables := keys(counts)

	regs := []*proc{w.start(t, "register", "--all", "--config", w.config), w.start(t, "register", "--all", "--config", w.config)}
	lost := 0
	for _, r := range regs {
		require.NoError(t, r.cmd.Wait(), r.output())
		lost += parseCommitLog(t, r.output()).lost
	}
	t.Logf("commit rounds lost to the other process: %d", lost)
	cat, schema := w.ep.TrinoMetastoreIcebergCatalog, w.schema()
	check := func(what string) {
		t.Helper()
		for _, table := range tables {
			q := fmt.Sprintf(`SELECT count(*), count(DISTINCT (kafka_partition, kafka_offset)) FROM %s.%s."%s"`, cat, schema, table)
			c := strconv.FormatInt(counts[table], 10)
			require.Equal(t, []string{c, c}, w.trino(t, q)[0], "%s: %s rows and distinct (partition, offset)", what, table)
		}
	}
	check("two concurrent registers")
	for _, table := range tables {
		snaps := w.trino(t, fmt.Sprintf(`SELECT count(*) FROM %s.%s."%s$snapshots"`, cat, schema, table))
		require.Equal(t, "1", snaps[0][0], "%s: one commit of the two processes", table)
	}

	// The metastore loses every table; the first also loses its metadata.
	for _, table := range tables {
		w.trino(t, fmt.Sprintf(`CALL %s.system.unregister_table('%s', '%s')`, cat, schema, table))
	}
	metaDir := "_iceberg/" + schema + "/" + tables[0] + "/metadata/"
	objs, err := w.store.List(context.Background(), metaDir)
	require.NoError(t, err)
	require.NotEmpty(t, objs)
	for _, o := range objs {
		require.NoError(t, w.store.Delete(context.Background(), o.Key))
	}
	reg := w.start(t, "register", "--all", "--config", w.config)
	require.NoError(t, reg.cmd.Wait(), reg.output())
	check("rebuilt")
	require.Contains(t, reg.output(), "registered its latest metadata from the lake")
}
