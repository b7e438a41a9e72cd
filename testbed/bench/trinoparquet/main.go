// Command trinoparquet compares the Parquet silt writes with the Parquet
// Trino writes, side by side on a running stack: the same purchase_sword
// game events written by silt's writer with dictionary encoding off, with
// ingest's defaults and with column indexes into MinIO as Hive tables, and
// by Trino itself (CREATE TABLE AS SELECT from silt's table, Snappy,
// partitioned the same way). It prints each table's files and bytes and
// Trino's median wall time over a few rounds (the tables interleaved
// within each round) for the queries the lake is for, with silt's ratio to
// Trino's. Nothing asserts on time. Instead of those three, -page-kib
// compares page sizes, -page-rows page row limits and -row-groups row
// group sizes; -sort-by adds a table with each file's rows sorted by a
// column. Events are generated as they are written, never all held.
//
//	go run ./testbed/bench/trinoparquet -stack .cache/stack/state.json -events 1000000
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trinodb/trino-go-client/trino"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/jobs/ingest"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/lake/parquetfile"
)

func main() {
	events := flag.Int("events", 1_000_000, "purchase_sword events per table")
	hours := flag.Int("hours", 6, "hours (partitions) the events span")
	rounds := flag.Int("rounds", 3, "rounds of the queries")
	stateFile := flag.String("stack", os.Getenv("SILT_STACK_STATE"), "state file of a running `silt stack`")
	rowGroups := flag.String("row-groups", "", "instead of dictionaries off, the defaults and column indexes, silt's files with each of these row group sizes in MB (e.g. 16,32,64,128), dictionaries on")
	pageKiB := flag.String("page-kib", "", "instead of dictionaries off, the defaults and column indexes, silt's files with each of these page sizes in KiB, uncompressed (e.g. 256,1024), dictionaries on")
	pageRows := flag.String("page-rows", "", "instead of dictionaries off, the defaults and column indexes, silt's files with each of these page row limits (e.g. 20000,50000), dictionaries on")
	sortBy := flag.String("sort-by", "", "also a silt table whose files hold their rows sorted by this column (e.g. host)")
	schema := flag.String("schema", "", "query the tables an earlier run (same table flags) left in this schema again, more rounds for less noise, instead of writing them; without SELECT * of one hour")
	flag.Parse()
	tables, err := silTables(*rowGroups, *pageKiB, *pageRows, *sortBy)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trinoparquet:", err)
		os.Exit(2)
	}
	if err := run(context.Background(), *stateFile, *schema, *events, *hours, *rounds, tables); err != nil {
		fmt.Fprintln(os.Stderr, "trinoparquet:", err)
		os.Exit(1)
	}
}

// table is one way of writing the events.
type table struct {
	name, by string
	// writer are silt's writer options (unused for Trino's); the unit is
	// millis, and a RowGroupBytes of 0 is ingest's default.
	writer parquetfile.Options
	sortBy string
	files  int
	bytes  int64
	times  map[string][]time.Duration // wall time per query name
	cpu    map[string][]time.Duration // Trino's CPU time per query name
}

// silTables are the tables silt's writer writes: dictionaries off, ingest's
// defaults, and the defaults with column indexes; or one table per row
// group size in rowGroupsMB, or per page size in pageKiB, or per page row
// limit in pageRows; and one sorted by sortBy.
func silTables(rowGroupsMB, pageKiB, pageRows, sortBy string) ([]*table, error) {
	var out []*table
	switch {
	case rowGroupsMB != "":
		sizes, err := sizesList("-row-groups", rowGroupsMB)
		if err != nil {
			return nil, err
		}
		for _, mb := range sizes {
			out = append(out, &table{name: fmt.Sprintf("sword_silt_rg%d", mb), by: fmt.Sprintf("silt, %d MB row groups", mb), writer: parquetfile.Options{RowGroupBytes: int64(mb) << 20}})
		}
	case pageRows != "":
		limits, err := sizesList("-page-rows", pageRows)
		if err != nil {
			return nil, err
		}
		for _, n := range limits {
			out = append(out, &table{name: fmt.Sprintf("sword_silt_r%d", n), by: fmt.Sprintf("silt, pages of %d rows", n), writer: parquetfile.Options{PageRows: n}})
		}
	case pageKiB != "":
		sizes, err := sizesList("-page-kib", pageKiB)
		if err != nil {
			return nil, err
		}
		for _, kib := range sizes {
			t := &table{name: fmt.Sprintf("sword_silt_p%d", kib), by: fmt.Sprintf("silt, %d KiB pages", kib), writer: parquetfile.Options{PageBytes: int64(kib) << 10}}
			out = append(out, t)
		}
	default:
		out = []*table{
			{name: "sword_silt_plain", by: "silt, PLAIN only", writer: parquetfile.Options{MaxDictionaryBytes: -1}},
			{name: "sword_silt", by: "silt (default)"},
			{name: "sword_silt_ci", by: "silt, column indexes", writer: parquetfile.Options{ColumnIndexes: true}},
		}
	}
	if sortBy != "" {
		out = append(out, &table{name: "sword_silt_sorted", by: "silt, sorted by " + sortBy, sortBy: sortBy})
	}
	return out, nil
}

func sizesList(flagName, list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s %q: sizes, comma-separated", flagName, list)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, stateFile, reuse string, n, hours, rounds int, silt []*table) error {
	if stateFile == "" {
		return errors.New("no running stack: pass -stack FILE (make bench starts one)")
	}
	st, err := stack.Attach(stateFile)
	if err != nil {
		return fmt.Errorf("attach to stack %s: %w", stateFile, err)
	}
	ep := st.Endpoints()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	schemaName := "bench_parquet_" + hex.EncodeToString(b)
	if reuse != "" {
		schemaName = reuse
	}
	store, err := lake.NewS3(ctx, lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Region: ep.S3Region, Prefix: schemaName,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	if err != nil {
		return fmt.Errorf("open MinIO: %w", err)
	}
	cat, err := catalog.Open(ctx, catalog.Options{Kind: "trino", Trino: catalog.TrinoOptions{
		URL: ep.TrinoURL, Catalog: ep.TrinoCatalog, Schema: schemaName, Location: ep.TrinoSchemaLocation + schemaName + "/",
	}}, store)
	if err != nil {
		return fmt.Errorf("open Trino: %w", err)
	}
	defer func() { _ = cat.Close() }() // a benchmark's catalog: its numbers are out by then
	// Trino's own writes in Snappy, as silt's are.
	db, err := sql.Open("trino", ep.TrinoURL+"?session_properties="+ep.TrinoCatalog+".compression_codec:SNAPPY")
	if err != nil {
		return fmt.Errorf("open Trino: %w", err)
	}
	defer db.Close()

	fmt.Printf("== Parquet: silt's writer vs Trino's, %d purchase_sword events over %d hours, %d rounds (schema %s)\n", n, hours, rounds, schemaName)
	cols, start, events := gameEvents(n, hours)
	trino := &table{name: "sword_trino", by: "Trino CREATE TABLE AS"}
	tables := append(slices.Clone(silt), trino)
	for _, t := range silt {
		if reuse != "" {
			break
		}
		began := time.Now()
		if err := writeTable(ctx, store, cat, t, cols, events); err != nil {
			return err
		}
		fmt.Printf("wrote %s in %s\n", t.name, time.Since(began).Round(time.Millisecond))
	}
	// Trino's file metastore keeps a managed table's files in its own
	// directory: a schema of its own, without silt's location.
	trinoSchema := fmt.Sprintf("%q.%q", ep.TrinoCatalog, schemaName+"_trino")
	trinoTable := trinoSchema + "." + trino.name
	trinoFiles, err := lake.NewS3(ctx, lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Region: ep.S3Region, Prefix: "_metastore/" + schemaName + "_trino",
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true,
	})
	if err != nil {
		return fmt.Errorf("open MinIO: %w", err)
	}
	began := time.Now()
	for _, q := range []string{
		"CREATE SCHEMA IF NOT EXISTS " + trinoSchema,
		// From a table in the events' own order: Trino writes rows in the
		// order it reads them.
		fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s WITH (format = 'PARQUET', partitioned_by = ARRAY['dt', 'hour']) AS SELECT * FROM %s`, trinoTable, cat.Qualified(silt[0].name)),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	fmt.Printf("wrote %s in %s\n", trino.name, time.Since(began).Round(time.Millisecond))
	qualified := func(t *table) string {
		if t == trino {
			return trinoTable
		}
		return cat.Qualified(t.name)
	}
	for _, t := range tables {
		files := store
		if t == trino {
			files = trinoFiles
		}
		objs, err := files.List(ctx, t.name+"/")
		if err != nil {
			return err
		}
		for _, o := range objs {
			if !strings.Contains(o.Key, "/.") { // Trino's hidden files, if any
				t.files++
				t.bytes += o.Size
			}
		}
	}

	hour := lake.PartitionOf("", start.Add(time.Duration(hours/2)*time.Hour))
	window := start.Add(time.Duration(hours/2)*time.Hour + 25*time.Minute)
	queries := []struct{ name, sql string }{
		{"GROUP BY host", "SELECT host, count(*) FROM %s GROUP BY host"},
		{"count(*) WHERE host =", "SELECT count(*) FROM %s WHERE host = 'game-1.example.com'"},
		{"count, max(raw_event) WHERE user_id LIKE", "SELECT count(*), max(raw_event) FROM %s WHERE user_id LIKE 'u-1%%'"},
		// Ten minutes of event time, as a windowed report asks: row group
		// statistics leave one file, page indexes a sixth of its pages.
		{"10 minutes of event_time", fmt.Sprintf("SELECT count(*), count(DISTINCT user_id) FROM %%s WHERE event_time >= TIMESTAMP '%s' AND event_time < TIMESTAMP '%s'",
			window.Format("2006-01-02 15:04:05"), window.Add(10*time.Minute).Format("2006-01-02 15:04:05"))},
		{"SELECT * of one hour", fmt.Sprintf("SELECT * FROM %%s WHERE dt = '%s' AND hour = '%s'", hour.Date, hour.Hour)},
	}
	if silt[0].writer.RowGroupBytes > 0 || reuse != "" {
		// Moving a whole hour through the client dominates SELECT * (it
		// varied most), and says nothing of the row groups.
		queries = queries[:len(queries)-1]
	}
	answers := map[string]string{}
	for _, t := range tables {
		t.times, t.cpu = map[string][]time.Duration{}, map[string][]time.Duration{}
	}
	// Round 0 warms Trino up and is not counted. Each round starts at the
	// next table: Trino compiles a query shape's code once and caches it,
	// and a fixed order handed the first table that cost every round.
	for r := range rounds + 1 {
		for _, q := range queries {
			for i := range tables {
				t := tables[(r+i)%len(tables)]
				began := time.Now()
				answer, id, err := runQuery(ctx, db, fmt.Sprintf(q.sql, qualified(t)))
				if err != nil {
					return fmt.Errorf("%s on %s: %w", q.name, t.name, err)
				}
				wall := time.Since(began)
				cpu, err := queryCPU(ctx, ep.TrinoURL, id)
				if err != nil {
					return fmt.Errorf("%s on %s: %w", q.name, t.name, err)
				}
				if r > 0 {
					t.times[q.name] = append(t.times[q.name], wall)
					t.cpu[q.name] = append(t.cpu[q.name], cpu)
				}
				if prev, ok := answers[q.name]; ok && prev != answer {
					return fmt.Errorf("%s: %s answers %s, another table %s", q.name, t.name, answer, prev)
				}
				answers[q.name] = answer
			}
		}
	}

	fmt.Printf("%-24s %6s %10s %7s", "table", "files", "MB", "bytes")
	for _, q := range queries {
		fmt.Printf(" | %-s", q.name)
	}
	fmt.Println()
	for _, t := range tables {
		fmt.Printf("%-24s %6d %10.1f %6.2fx", t.by, t.files, float64(t.bytes)/1e6, float64(t.bytes)/float64(trino.bytes))
		for _, q := range queries {
			m, tm := median(t.times[q.name]), median(trino.times[q.name])
			c, tc := median(t.cpu[q.name]), median(trino.cpu[q.name])
			fmt.Printf(" | %.2fs (%.2fx) cpu %.3fs (%.2fx)", m.Seconds(), m.Seconds()/tm.Seconds(), c.Seconds(), c.Seconds()/tc.Seconds())
		}
		fmt.Println()
	}
	fmt.Println("(median wall time and Trino's CPU time over the rounds; ratios to Trino's own files)")
	for _, q := range queries {
		fmt.Printf("%s: %.80s\n", q.name, answers[q.name]) // the same from every table
	}
	return nil
}

// eventsFunc calls fn with each event's row and its input size, in order,
// the same events on every call.
type eventsFunc func(fn func(row []any, size int) error) error

// gameEvents is n purchase_sword events from silt's generator, spread
// evenly over hours, as ingest lays them out: system columns, then the
// event's fields. A file holds one Kafka partition's records: partition 0,
// offsets counting up.
func gameEvents(n, hours int) ([]lake.Column, time.Time, eventsFunc) {
	cols := append(append([]lake.Column{}, lake.SystemColumns...),
		lake.Column{Name: "timestamp", Type: lake.TypeVarchar},
		lake.Column{Name: "host", Type: lake.TypeVarchar},
		lake.Column{Name: "user_agent", Type: lake.TypeVarchar},
		lake.Column{Name: "accept", Type: lake.TypeVarchar},
		lake.Column{Name: "user_id", Type: lake.TypeVarchar},
		lake.Column{Name: "session", Type: lake.TypeVarchar},
		lake.Column{Name: "client", Type: lake.TypeVarchar},
		lake.Column{Name: "seq", Type: lake.TypeDouble},
		lake.Column{Name: "sword", Type: lake.TypeVarchar},
		lake.Column{Name: "price", Type: lake.TypeDouble},
	)
	fields := map[string]int{"timestamp": 7, "Host": 8, "User-Agent": 9, "Accept": 10, "user_id": 11, "session": 12, "client": 13, "seq": 14, "sword": 15, "price": 16}
	start := time.Now().UTC().Truncate(time.Hour).Add(-time.Duration(hours+1) * time.Hour)
	ingested := lake.Millis.Of(time.Now())
	step := time.Duration(hours) * time.Hour / time.Duration(n)
	return cols, start, func(fn func([]any, int) error) error {
		g := gen.NewEvents(1, nil, []string{"purchase_sword"})
		for i := range n {
			at := start.Add(time.Duration(i) * step)
			ev := g.Next(nil, at)
			var m map[string]any
			if err := json.Unmarshal(ev.JSON, &m); err != nil {
				return fmt.Errorf("the generator's event %d: %w", i, err)
			}
			row := make([]any, len(cols))
			row[0], row[1], row[2], row[3], row[4], row[5], row[6] = lake.Millis.Of(at), "event", "events", int64(0), int64(i), ingested, string(ev.JSON)
			for k, v := range m {
				if c, ok := fields[k]; ok {
					row[c] = v
				}
			}
			if err := fn(row, len(ev.JSON)); err != nil {
				return err
			}
		}
		return nil
	}
}

// writeTable writes the rows as ingest would with its defaults (objects
// of one hour and up to target_file_bytes of input, its row group size) and
// registers the table. With t.sortBy, each file's rows are gathered and
// written sorted by that column.
func writeTable(ctx context.Context, store lake.Store, cat *catalog.Catalog, t *table, cols []lake.Column, events eventsFunc) error {
	defaults := ingest.DefaultOptions()
	opts := t.writer
	opts.Unit = lake.Millis
	if opts.RowGroupBytes == 0 {
		opts.RowGroupBytes = defaults.RowGroupBytes
	}
	schema := lake.TableSchema{Table: t.name, Columns: cols[len(lake.SystemColumns):]}
	if err := lake.SaveSchema(ctx, store, schema); err != nil {
		return err
	}
	sortCol := -1
	if t.sortBy != "" {
		sortCol = slices.IndexFunc(cols, func(c lake.Column) bool { return c.Name == t.sortBy })
		if sortCol < 0 || cols[sortCol].Type != lake.TypeVarchar {
			return fmt.Errorf("-sort-by %s: not a varchar column", t.sortBy)
		}
	}
	type sized struct {
		row  []any
		size int
	}
	var held []sized // the file's rows, when sorted
	var parts []lake.Partition
	var cur lake.Partition
	var w *parquetfile.Writer
	var key string
	var input int64
	finish := func() error {
		if w == nil {
			return nil
		}
		defer w.Discard()
		slices.SortStableFunc(held, func(a, b sized) int {
			x, _ := a.row[sortCol].(string)
			y, _ := b.row[sortCol].(string)
			return strings.Compare(x, y)
		})
		for _, r := range held {
			if err := w.Write(r.row, r.size); err != nil {
				return err
			}
		}
		held = held[:0]
		rs, size, err := w.Finish()
		if err != nil {
			return err
		}
		w = nil
		return store.Put(ctx, key, rs, size)
	}
	err := events(func(r []any, size int) error {
		p := lake.PartitionOf(t.name, time.UnixMilli(r[0].(int64)).UTC())
		if w != nil && (p != cur || input >= defaults.TargetFileBytes) {
			if err := finish(); err != nil {
				return err
			}
		}
		if w == nil {
			var err error
			w, err = parquetfile.NewWriter(os.TempDir(), cols, opts)
			if err != nil {
				return err
			}
			key, input, cur = lake.ObjectKey(p, "events", 0, r[4].(int64)), 0, p
			if !slices.Contains(parts, p) {
				parts = append(parts, p)
			}
		}
		input += int64(size)
		if sortCol >= 0 {
			held = append(held, sized{r, size})
			return nil
		}
		return w.Write(r, size)
	})
	if err != nil {
		return err
	}
	if err := finish(); err != nil {
		return err
	}
	return cat.Register(ctx, []catalog.Change{{Schema: schema, Partitions: parts}})
}

// queryID keeps the id of the query the client reports progress on.
type queryID struct {
	mu sync.Mutex
	id string
}

func (q *queryID) Update(p trino.QueryProgressInfo) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.id == "" {
		q.id = p.QueryId
	}
}

func (q *queryID) get() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.id
}

// runQuery runs q and returns its rows as text (every row read) and
// Trino's id of the query.
func runQuery(ctx context.Context, db *sql.DB, q string) (string, string, error) {
	id := &queryID{}
	answer, err := readAll(ctx, db, q, id)
	return answer, id.get(), err
}

func readAll(ctx context.Context, db *sql.DB, q string, id trino.ProgressUpdater) (string, error) {
	rows, err := db.QueryContext(ctx, q, sql.Named("X-Trino-Progress-Callback", id), sql.Named("X-Trino-Progress-Callback-Period", time.Hour))
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	var n int
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var all []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		n++
		if len(cols) <= 2 { // an aggregate: compared across tables
			all = append(all, fmt.Sprint(vals...))
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	slices.Sort(all)
	return fmt.Sprintf("%d %s", n, strings.Join(all, ";")), nil
}

// queryCPU is the CPU time Trino spent on a finished query, from the
// coordinator's query info: on a machine whose other load varies, it moves
// less than the wall time does.
func queryCPU(ctx context.Context, trinoURL, id string) (time.Duration, error) {
	if id == "" {
		return 0, errors.New("the client reported no query id")
	}
	u, err := url.Parse(trinoURL)
	if err != nil {
		return 0, fmt.Errorf("trino url: %w", err)
	}
	user := u.User.Username()
	u.User = nil
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.JoinPath("v1", "query", id).String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Trino-User", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("query info of %s: %w", id, err)
	}
	defer resp.Body.Close()
	var info struct {
		QueryStats struct {
			TotalCPUTime string `json:"totalCpuTime"`
		} `json:"queryStats"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return 0, fmt.Errorf("query info of %s: %s: %w", id, resp.Status, err)
	}
	return airliftDuration(info.QueryStats.TotalCPUTime)
}

// airliftDuration parses Trino's durations ("812.34us", "1.20s", "2.05m").
func airliftDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"ns", time.Nanosecond}, {"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			if f, err := strconv.ParseFloat(num, 64); err == nil {
				return time.Duration(f * float64(u.unit)), nil
			}
		}
	}
	return 0, fmt.Errorf("a duration Trino wrote: %q", s)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
