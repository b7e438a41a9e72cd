//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/internal/eventsapi"
	"github.com/silt-etl/silt/internal/gen"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// producedEvent is one event the test sent: where Kafka put it and what
// the events API must answer about it.
type producedEvent struct {
	table     string
	at        time.Time
	host      string
	guild     string // join_guild's own field; empty for the other types
	partition int32
	offset    int64
}

// produceSpread sends n events whose event times are spaced apart so
// they fall into several hours (and so several Iceberg hour partitions),
// and returns each with its Kafka partition and offset.
func (w *world) produceSpread(t *testing.T, n int, first time.Time, spacing time.Duration) []producedEvent {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.ep.KafkaBrokers...), kgo.DefaultProduceTopic(w.topic))
	require.NoError(t, err)
	defer cl.Close()
	g := gen.NewEvents(41, nil, nil)
	recs := make([]*kgo.Record, n)
	out := make([]producedEvent, n)
	for i := range n {
		at := first.Add(time.Duration(i) * spacing)
		ev := g.Next(nil, at)
		var fields struct {
			Guild string `json:"guild"`
		}
		require.NoError(t, json.Unmarshal(ev.JSON, &fields))
		out[i] = producedEvent{table: ev.Type, at: at, host: ev.Host, guild: fields.Guild}
		recs[i] = &kgo.Record{Value: ev.JSON}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
	for i, r := range recs {
		out[i].partition, out[i].offset = r.Partition, r.Offset
	}
	return out
}

// TestE2EIcebergTablesAndEventsAPI: after silt ingest commits events
// spread over several hours to Iceberg tables (table_format iceberg: no
// dt/hour columns, partitioned by hour(event_time)), `silt tables
// --partitions` lists every table with its rows and exactly the hours it
// holds, and the events API over the same catalog counts and searches by
// time range, host and field exactly as the produced events say. Both
// read Hive partition columns on Hive tables and failed on Iceberg ones
// ("Column 'dt' cannot be resolved").
func TestE2EIcebergTablesAndEventsAPI(t *testing.T) {
	w := icebergWorld(t, 2, "SILT_INGEST_MAX_RECORDS=150")
	const n = 420
	first := time.Now().UTC().Truncate(time.Hour).Add(-6*time.Hour + 7*time.Minute + 13*time.Second)
	events := w.produceSpread(t, n, first, 47*time.Second) // about 5.5 hours
	p := w.start(t, "ingest", "--config", w.config)
	require.NoError(t, p.cmd.Wait(), p.output())
	require.Zero(t, w.groupLag(t))

	rows := map[string]int64{}
	hours := map[string]map[string]bool{} // table -> dt=…/hour=… it holds
	for _, e := range events {
		rows[e.table]++
		if hours[e.table] == nil {
			hours[e.table] = map[string]bool{}
		}
		hours[e.table][lake.DtHour.PartitionOf(e.table, e.at).Dir()] = true
	}

	t.Run("tables", func(t *testing.T) {
		cmd := exec.Command(stacktest.SiltBin(t), "tables", "--partitions", "--config", w.config)
		cmd.Env = w.env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		got := parseTablesOutput(t, string(out))
		require.Len(t, got, len(rows), "one entry per event type:\n%s", out)
		for table, want := range rows {
			g, ok := got[table]
			require.True(t, ok, "%s listed:\n%s", table, out)
			require.Equal(t, want, g.rows, "%s rows", table)
			var wantHours []string
			for h := range hours[table] {
				wantHours = append(wantHours, h)
			}
			sort.Strings(wantHours)
			require.Equal(t, wantHours, g.partitions, "%s: its hours as partitions", table)
			require.Contains(t, g.columns, "event_time timestamp", table)
			require.NotContains(t, g.columns, "dt varchar", "%s: an Iceberg table has no dt column", table)
		}
	})

	cat, err := catalog.Open(t.Context(), catalog.Options{Kind: "trino", Trino: catalog.TrinoOptions{
		URL: w.ep.TrinoURL, Catalog: w.ep.TrinoMetastoreIcebergCatalog, Schema: w.schema(),
		Location: w.ep.TrinoSchemaLocation + w.topic + "/", TableFormat: "iceberg",
	}}, w.store)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cat.Close()) })
	srv := httptest.NewServer(eventsapi.New(cat, nil))
	t.Cleanup(srv.Close)

	matching := func(table, host, guild string, from, to time.Time) []producedEvent {
		var out []producedEvent
		for _, e := range events {
			if (table == "" || e.table == table) && (host == "" || e.host == host) && (guild == "" || e.guild == guild) &&
				(from.IsZero() || !e.at.Before(from)) && (to.IsZero() || e.at.Before(to)) {
				out = append(out, e)
			}
		}
		return out
	}
	h0 := first.Truncate(time.Hour)
	ranges := []struct{ from, to time.Time }{
		{h0.Add(time.Hour + 20*time.Minute), h0.Add(3*time.Hour + 5*time.Minute)}, // inside hours, across two boundaries
		{h0.Add(2 * time.Hour), h0.Add(3 * time.Hour)},                            // exactly one hour
		{first.Add(47 * time.Second), first.Add(47 * 11 * time.Second)},           // bounds on event times themselves
		{h0.Add(4 * time.Hour), time.Time{}},                                      // open end
		{time.Time{}, h0.Add(time.Hour + 30*time.Minute)},                         // open start
		{time.Time{}, time.Time{}},                                                // everything
	}
	t.Run("count", func(t *testing.T) {
		for _, r := range ranges {
			for _, f := range []struct{ table, host, guild string }{
				{}, {table: "purchase_sword"}, {host: "game-2.example.com"}, {table: "join_guild", guild: "guild-03"}, {guild: "guild-07"},
			} {
				q := apiQuery(f.table, f.host, f.guild, r.from, r.to)
				want := int64(len(matching(f.table, f.host, f.guild, r.from, r.to)))
				require.Equal(t, want, apiCount(t, srv, q), "count %v", q)
			}
		}
	})
	t.Run("search", func(t *testing.T) {
		for _, r := range ranges[:3] {
			for _, table := range []string{"", "join_guild"} {
				want := matching(table, "", "", r.from, r.to)
				require.NotEmpty(t, want, "the range holds events")
				sort.SliceStable(want, func(i, j int) bool {
					a, b := want[i], want[j]
					if !a.at.Equal(b.at) {
						return a.at.Before(b.at)
					}
					if a.partition != b.partition {
						return a.partition < b.partition
					}
					return a.offset < b.offset
				})
				var wantKeys []string
				for _, e := range want {
					wantKeys = append(wantKeys, fmt.Sprintf("%s %s %d/%d", e.table, e.at.Format(time.RFC3339), e.partition, e.offset))
				}
				q := apiQuery(table, "", "", r.from, r.to)
				q.Set("limit", "13")
				var got []string
				for {
					page := apiSearch(t, srv, q)
					require.Equal(t, int64(len(want)), page.Total, "search total %v", q)
					for _, e := range page.Events {
						got = append(got, fmt.Sprintf("%s %s %d/%d", e.EventType, e.EventTime.Format(time.RFC3339), e.KafkaPartition, e.KafkaOffset))
					}
					if page.NextCursor == "" {
						break
					}
					q.Set("cursor", page.NextCursor)
				}
				require.Equal(t, wantKeys, got, "search %v: every event once, in order", q)
			}
		}
	})
}

func apiQuery(table, host, guild string, from, to time.Time) url.Values {
	q := url.Values{}
	if table != "" {
		q.Set("event_type", table)
	}
	if host != "" {
		q.Set("host", host)
	}
	if guild != "" {
		q.Set("field.guild", guild)
	}
	if !from.IsZero() {
		q.Set("start_time", from.Format(time.RFC3339))
	}
	if !to.IsZero() {
		q.Set("end_time", to.Format(time.RFC3339))
	}
	return q
}

// apiGet decodes an events API answer's result into result.
func apiGet(t *testing.T, srv *httptest.Server, path string, q url.Values, result any) {
	t.Helper()
	resp, err := http.Get(srv.URL + path + "?" + q.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Result json.RawMessage `json:"result"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s %v: %s", path, q, body.Error)
	require.NoError(t, json.Unmarshal(body.Result, result))
}

func apiCount(t *testing.T, srv *httptest.Server, q url.Values) int64 {
	t.Helper()
	var n int64
	apiGet(t, srv, "/api/events/count", q, &n)
	return n
}

func apiSearch(t *testing.T, srv *httptest.Server, q url.Values) eventsapi.SearchResult {
	t.Helper()
	var page eventsapi.SearchResult
	apiGet(t, srv, "/api/events/search", q, &page)
	return page
}

// listedTable is one table as `silt tables --partitions` prints it.
type listedTable struct {
	rows       int64
	columns    string
	partitions []string
}

var tableLine = regexp.MustCompile(`^(\w+)  (\d+) rows, (\d+) partitions`)

// parseTablesOutput reads `silt tables --partitions`: a line per table
// ("name  N rows, P partitions (first .. last)"), its columns, then one
// indented line per partition.
func parseTablesOutput(t *testing.T, out string) map[string]listedTable {
	t.Helper()
	got := map[string]listedTable{}
	var cur string
	for line := range strings.SplitSeq(out, "\n") {
		if m := tableLine.FindStringSubmatch(line); m != nil {
			cur = m[1]
			rows, err := strconv.ParseInt(m[2], 10, 64)
			require.NoError(t, err)
			got[cur] = listedTable{rows: rows}
			continue
		}
		lt, ok := got[cur]
		if !ok {
			continue // log lines before the first table
		}
		if cols, ok := strings.CutPrefix(line, "  columns: "); ok {
			lt.columns = cols
		} else if p, ok := strings.CutPrefix(line, "  "); ok {
			lt.partitions = append(lt.partitions, p)
		}
		got[cur] = lt
	}
	return got
}
