package eventsapi

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"testing"
	"time"

	_ "github.com/marcboeker/go-duckdb"
	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
)

// duck is an engine over a DuckDB whose tables the test makes itself,
// shaped like the lake's views; reports are the tables it says store a
// report's output.
type duck struct {
	db      *sql.DB
	reports map[string]bool
	iceberg bool
}

func (d duck) DB() *sql.DB                   { return d.db }
func (d duck) Dialect() catalog.Dialect      { return catalog.DuckDB }
func (d duck) Qualified(table string) string { return `"` + table + `"` }
func (d duck) Layout() lake.Layout           { return lake.DtHour }
func (d duck) Iceberg() bool                 { return d.iceberg }
func (d duck) ReportTables(_ context.Context, names []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, n := range names {
		if d.reports[n] {
			out[n] = true
		}
	}
	return out, nil
}
func (d duck) Columns(ctx context.Context) (map[string][]lake.Column, error) {
	rows, err := d.db.QueryContext(ctx, "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]lake.Column{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		out[t] = append(out[t], lake.Column{Name: c, Type: lake.TypeVarchar})
	}
	return out, rows.Err()
}

type row struct {
	table, host string
	at          time.Time
	partition   int64
	offset      int64
}

var base = time.Date(2024, 5, 1, 22, 0, 0, 0, time.UTC)

// fixture makes 3 event tables (one without a host column), a
// dead-letter table and a report's table (reportTable, shaped like an
// event table, with reportRows rows in the same hours); 5 events share each minute, so sort ties are common,
// and the times cross midnight, so dt pruning is exercised.
func fixture(t *testing.T) (*httptest.Server, []row) {
	t.Helper()
	return fixtureOf(t, false)
}

// fixtureOf is fixture; with iceberg the event tables are shaped like
// Iceberg tables (no dt or hour column) and the engine says so.
func fixtureOf(t *testing.T, iceberg bool) (*httptest.Server, []row) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	types := []string{"purchase_sword", "join_guild", "nohost"}
	for _, tb := range types {
		host := ", host VARCHAR"
		if tb == "nohost" {
			host = ""
		}
		_, err := db.Exec(fmt.Sprintf(`CREATE TABLE %s (event_time TIMESTAMP, event_time_source VARCHAR, kafka_topic VARCHAR,
			kafka_partition BIGINT, kafka_offset BIGINT, ingested_at TIMESTAMP, raw_event VARCHAR%s, dt VARCHAR, hour VARCHAR)`, tb, host))
		require.NoError(t, err)
	}
	_, err = db.Exec(`CREATE TABLE _dead_letter (event_time TIMESTAMP, kafka_topic VARCHAR, kafka_partition BIGINT, kafka_offset BIGINT, raw_event VARCHAR, dt VARCHAR, hour VARCHAR)`)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO _dead_letter VALUES (?, 'events', 0, 999, '{}', '2024-05-01', '22')`, base.Format(sqlTime))
	require.NoError(t, err)

	_, err = db.Exec(`CREATE TABLE ` + reportTable + ` (event_time TIMESTAMP, event_time_source VARCHAR, kafka_topic VARCHAR,
		kafka_partition BIGINT, kafka_offset BIGINT, ingested_at TIMESTAMP, raw_event VARCHAR, host VARCHAR, events BIGINT, dt VARCHAR, hour VARCHAR)`)
	require.NoError(t, err)
	for i := range reportRows {
		at := base.Add(time.Duration(i) * time.Minute)
		_, err = db.Exec(`INSERT INTO `+reportTable+` VALUES (CAST(? AS TIMESTAMP), 'report', NULL, NULL, NULL, now(), '{}', 'game-0', 5, ?, ?)`,
			at.Format(sqlTime), at.Format(time.DateOnly), at.Format("15"))
		require.NoError(t, err)
	}

	var rows []row
	for i := 0; i < 300; i++ {
		r := row{table: types[i%3], host: fmt.Sprintf("game-%d", i%2), at: base.Add(time.Duration(i/5) * time.Minute),
			partition: int64(i % 4), offset: int64(i)}
		rows = append(rows, r)
		raw := fmt.Sprintf(`{"event_type":%q,"Host":%q,"i":%d}`, r.table, r.host, i)
		if r.table == "nohost" {
			_, err = db.Exec(`INSERT INTO nohost VALUES (CAST(? AS TIMESTAMP), 'event', 'events', ?, ?, now(), ?, ?, ?)`,
				r.at.Format(sqlTime), r.partition, r.offset, raw, r.at.Format(time.DateOnly), r.at.Format("15"))
		} else {
			_, err = db.Exec(fmt.Sprintf(`INSERT INTO %s VALUES (CAST(? AS TIMESTAMP), 'event', 'events', ?, ?, now(), ?, ?, ?, ?)`, r.table),
				r.at.Format(sqlTime), r.partition, r.offset, raw, r.host, r.at.Format(time.DateOnly), r.at.Format("15"))
		}
		require.NoError(t, err)
	}
	if iceberg {
		for _, tb := range append(types, reportTable) {
			for _, key := range []string{"dt", "hour"} {
				_, err = db.Exec("ALTER TABLE " + tb + " DROP COLUMN " + key)
				require.NoError(t, err)
			}
		}
	}
	api := New(duck{db: db, reports: map[string]bool{reportTable: true}, iceberg: iceberg}, nil)
	api.now = func() time.Time { return base }
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv, rows
}

// reportTable stores a report job's rows (table:), reportRows of them.
const (
	reportTable = "hosts_per_minute"
	reportRows  = 7
)

// A report's table is not an event type: counting every type leaves its
// rows out, and asking for it by name finds none.
func TestCountLeavesOutReportTables(t *testing.T) {
	srv, _ := fixture(t)
	require.Equal(t, int64(300), countOf(t, srv, url.Values{}), "the 300 events, none of the report's %d rows", reportRows)
	require.Equal(t, int64(0), countOf(t, srv, url.Values{"event_type": {reportTable}}))
	require.Equal(t, int64(100), countOf(t, srv, url.Values{"host": {"game-0"}}), "game-0's events (half of the two tables with a host), not the report's rows naming it")
}

type response struct {
	Status    string          `json:"status"`
	Result    json.RawMessage `json:"result"`
	Error     string          `json:"error"`
	Timestamp string          `json:"timestamp"`
}

func get(t *testing.T, srv *httptest.Server, path string, q url.Values) (int, response) {
	t.Helper()
	resp, err := http.Get(srv.URL + path + "?" + q.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	var r response
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	return resp.StatusCode, r
}

func countOf(t *testing.T, srv *httptest.Server, q url.Values) int64 {
	t.Helper()
	code, r := get(t, srv, "/api/events/count", q)
	require.Equal(t, http.StatusOK, code, r.Error)
	require.Equal(t, "ok", r.Status)
	require.Equal(t, base.Format(time.RFC3339), r.Timestamp)
	var n int64
	require.NoError(t, json.Unmarshal(r.Result, &n))
	return n
}

func TestCount(t *testing.T) {
	srv, rows := fixture(t)
	checkCounts(t, srv, rows)
}

// On tables shaped like Iceberg's (no dt or hour column: Iceberg
// partitions by hour(event_time)) count and search bound event_time
// alone and answer what the Hive-shaped tables do; a bound on dt would
// name a column these tables do not have.
func TestCountAndSearchOnIcebergTables(t *testing.T) {
	srv, rows := fixtureOf(t, true)
	checkCounts(t, srv, rows)
	checkSearchPages(t, srv, rows)
}

// checkCounts asks fixture's server for counts by type, host and a time
// range across midnight and compares them with rows.
func checkCounts(t *testing.T, srv *httptest.Server, rows []row) {
	t.Helper()
	start, end := base.Add(13*time.Minute), base.Add(131*time.Minute) // crosses midnight
	want := func(table, host string) (n int64) {
		for _, r := range rows {
			if (table == "" || r.table == table) && (host == "" || (r.host == host && r.table != "nohost")) &&
				!r.at.Before(start) && r.at.Before(end) {
				n++
			}
		}
		return n
	}
	unix := func(t time.Time) string { return fmt.Sprint(t.Unix()) }
	for _, tb := range []string{"purchase_sword", "join_guild", "nohost", ""} {
		for _, host := range []string{"", "game-0", "game-1"} {
			q := url.Values{"start_time": {unix(start)}, "end_time": {end.Format(time.RFC3339)}}
			if tb != "" {
				q.Set("event_type", tb)
			}
			if host != "" {
				q.Set("host", host)
			}
			require.Equal(t, want(tb, host), countOf(t, srv, q), "type %q host %q", tb, host)
		}
	}
	require.Equal(t, int64(100), countOf(t, srv, url.Values{"event_type": {"Purchase-Sword"}}), "normalized like ingest does")
	require.Equal(t, int64(300), countOf(t, srv, url.Values{}), "all tables, no dead letters")
	require.Equal(t, int64(0), countOf(t, srv, url.Values{"event_type": {"never_sent"}}))
	require.Positive(t, want("", ""))
}

func TestBadParameters(t *testing.T) {
	srv, _ := fixture(t)
	for _, tc := range []struct {
		path string
		q    url.Values
		has  string
	}{
		{"/api/events/count", url.Values{"event_type": {`x"; DROP TABLE join_guild; --`}}, "event_type"},
		{"/api/events/count", url.Values{"start_time": {"yesterday"}}, "start_time"},
		{"/api/events/count", url.Values{"start_time": {"100"}, "end_time": {"50"}}, "after start_time"},
		{"/api/events/count", url.Values{"evnt_type": {"x"}}, "unknown parameter"},
		{"/api/events/count", url.Values{"limit": {"5"}}, "unknown parameter"},
		{"/api/events/search", url.Values{"limit": {"0"}}, "limit"},
		{"/api/events/search", url.Values{"limit": {"100000"}}, "limit"},
		{"/api/events/search", url.Values{"cursor": {"not-a-cursor"}}, "cursor"},
		{"/api/events/search", url.Values{"cursor": {(&cursor{Time: "1' OR '1'='1"}).encode()}}, "cursor"},
	} {
		code, r := get(t, srv, tc.path, tc.q)
		require.Equal(t, http.StatusBadRequest, code, "%v", tc.q)
		require.Equal(t, "error", r.Status)
		require.Contains(t, r.Error, tc.has)
	}
	// The tables are all still there.
	require.Equal(t, int64(300), countOf(t, srv, url.Values{}))
}

func TestSearchPagesEveryEventOnceInOrder(t *testing.T) {
	srv, rows := fixture(t)
	checkSearchPages(t, srv, rows)
}

// checkSearchPages pages through a search of fixture's server, all types
// and one, and compares the events and their order with rows.
func checkSearchPages(t *testing.T, srv *httptest.Server, rows []row) {
	t.Helper()
	start, end := base.Add(7*time.Minute), base.Add(49*time.Minute)
	for _, tb := range []string{"", "join_guild"} {
		var want []int64
		for _, r := range rows {
			if (tb == "" || r.table == tb) && !r.at.Before(start) && r.at.Before(end) {
				want = append(want, r.offset)
			}
		}
		// Expected order: time, then topic (all equal), partition, offset.
		sort.SliceStable(want, func(i, j int) bool {
			a, b := rows[want[i]], rows[want[j]]
			if !a.at.Equal(b.at) {
				return a.at.Before(b.at)
			}
			if a.partition != b.partition {
				return a.partition < b.partition
			}
			return a.offset < b.offset
		})
		var got []int64
		q := url.Values{"start_time": {start.Format(time.RFC3339)}, "end_time": {fmt.Sprint(end.Unix())}, "limit": {"7"}}
		if tb != "" {
			q.Set("event_type", tb)
		}
		pages := 0
		for {
			code, r := get(t, srv, "/api/events/search", q)
			require.Equal(t, http.StatusOK, code, r.Error)
			var page SearchResult
			require.NoError(t, json.Unmarshal(r.Result, &page))
			require.LessOrEqual(t, len(page.Events), 7)
			for _, e := range page.Events {
				got = append(got, e.KafkaOffset)
				src := rows[e.KafkaOffset]
				require.Equal(t, src.table, e.EventType)
				require.True(t, src.at.Equal(e.EventTime), "%s vs %s", src.at, e.EventTime)
				var ev map[string]any
				require.NoError(t, json.Unmarshal(e.Event, &ev))
				require.Equal(t, float64(e.KafkaOffset), ev["i"])
			}
			pages++
			if page.NextCursor == "" {
				break
			}
			q.Set("cursor", page.NextCursor)
		}
		require.Equal(t, want, got, "type %q", tb)
		require.Equal(t, (len(want)+6)/7, pages)
	}
}
