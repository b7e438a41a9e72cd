package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/deadletters"
	"github.com/silt-etl/silt/internal/embedded"
	"github.com/silt-etl/silt/jobs/ingest"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/lakecheck"
)

// Raw texts of records that ingest dead-letters and that would run in a
// page that did not escape them: as the raw text and inside the reason.
const (
	scriptRaw    = `<script>document.title="pwned-raw"</script>`
	imgRaw       = `<img src=x onerror="document.title='pwned-img'">`
	scriptReason = `{"event_type":"<script>document.title='pwned-reason'</script>"}`
)

var viewNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// ingestedLake is a lake written by the real ingest job: 300 game events
// over two hours in three tables, with 10-byte target files so every
// object is "small", and three hostile dead letters.
func ingestedLake(t *testing.T) *lake.Local {
	t.Helper()
	b, err := embedded.StartBroker(0, "", []string{"events"}, 2)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.DefaultProduceTopic("events"))
	require.NoError(t, err)
	defer cl.Close()
	var recs []*kgo.Record
	types := []string{"purchase_sword", "join_guild", "chat"}
	for i := range 300 {
		at := viewNow.Add(-2 * time.Hour).Add(time.Duration(i) * 20 * time.Second)
		recs = append(recs, &kgo.Record{Timestamp: at, Value: fmt.Appendf(nil,
			`{"event_type":%q,"timestamp":%q,"host":"game-%d","amount":%d}`, types[i%3], at.Format(time.RFC3339), i%4, i)})
	}
	for i, raw := range []string{scriptRaw, imgRaw, scriptReason} {
		recs = append(recs, &kgo.Record{Timestamp: viewNow.Add(-time.Duration(3-i) * time.Minute), Value: []byte(raw)})
	}
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
	opts := ingest.DefaultOptions()
	opts.Kafka.Brokers = b.Addrs()
	opts.Kafka.SessionTimeout = 6 * time.Second
	opts.SpoolDir = t.TempDir()
	opts.MaxWait = 20 * time.Second
	opts.TargetFileBytes = 4000 // several objects per partition
	j := ingest.New(opts, store)
	defer j.Close()
	st, err := j.RunBatch(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 3, st.DeadLetters)
	return store
}

// countingStore counts Gets of Parquet objects, to see the footer cache
// at work.
type countingStore struct {
	lake.Store
	gets atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.HasSuffix(key, ".parquet") {
		c.gets.Add(1)
	}
	return c.Store.Get(ctx, key)
}

// The tables view's numbers are the lake's: rows as DuckDB counts them,
// files and bytes as listed, small files by compaction's rule, columns
// from the schema, the newest partition.
func TestTablesViewMatchesTheLake(t *testing.T) {
	store := ingestedLake(t)
	ctx := context.Background()
	rep, err := lakecheck.Check(ctx, store.Root())
	require.NoError(t, err)

	counting := &countingStore{Store: store}
	stats := &LakeTableStats{Store: counting, TargetFileBytes: 40_000} // small: under 10,000 bytes
	got, err := stats.TableStats(ctx)
	require.NoError(t, err)
	require.Len(t, got, 4, "three event tables and the dead letters")
	for _, ts := range got {
		require.Equal(t, rep.Rows[ts.Name], ts.Rows, "rows of %s", ts.Name)
		objs, err := store.List(ctx, lake.TablePrefix(ts.Name))
		require.NoError(t, err)
		var bytes int64
		small, files := 0, 0
		for _, o := range objs {
			if filepath.Ext(o.Key) == ".parquet" {
				files++
				bytes += o.Size
				if o.Size < 10_000 {
					small++
				}
			}
		}
		require.Equal(t, files, ts.Files, ts.Name)
		require.Equal(t, bytes, ts.Bytes, ts.Name)
		require.Equal(t, small, ts.SmallFiles, ts.Name)
		require.Positive(t, ts.SmallFiles, ts.Name)
		ps, err := lake.Partitions(ctx, store, ts.Name)
		require.NoError(t, err)
		require.Equal(t, len(ps), ts.Partitions, ts.Name)
		require.Empty(t, ts.RowsErr)
	}
	byName := map[string]TableStats{}
	for _, ts := range got {
		byName[ts.Name] = ts
	}
	require.EqualValues(t, 100, byName["chat"].Rows)
	require.Equal(t, "dt=2026-11-22/hour=11", byName["chat"].Newest)
	require.Equal(t, 2, byName["chat"].Partitions, "events from 10:00 to 11:39: hours 10 and 11")
	require.Contains(t, byName["chat"].Columns, lake.Column{Name: "amount", Type: lake.TypeDouble})
	require.Contains(t, byName["chat"].Columns, lake.Column{Name: "dt", Type: lake.TypeVarchar})
	require.Equal(t, append(append([]lake.Column{}, lake.DeadLetterColumns...), lake.PartitionColumns...), byName[lake.DeadLetterTable].Columns)

	// Footers are read once per object.
	first := counting.gets.Load()
	require.Positive(t, first)
	_, err = stats.TableStats(ctx)
	require.NoError(t, err)
	require.Equal(t, first, counting.gets.Load(), "a second view reads no footer again")

	code, body := get(t, New(Options{TableStats: stats, Now: func() time.Time { return viewNow }}), "/tables")
	require.Equal(t, http.StatusOK, code)
	row := regexp.MustCompile(`(?s)<tr class="table" data-table="chat">.*?</tr>`).FindString(body)
	require.Contains(t, row, `<td class="num rows">100</td>`)
	require.Contains(t, row, fmt.Sprintf(`<td class="num files">%d</td>`, byName["chat"].Files))
	require.Contains(t, row, `<td class="newest">dt=2026-11-22/hour=11</td>`)
	require.Contains(t, row, `<code>amount</code> <span class="muted">double</span>`)
	require.Contains(t, body, "under 9.8 KiB")
}

// On an Iceberg deployment the tables view lists no dt/hour columns (an
// Iceberg table has none), counts no small files (Iceberg compaction
// picks hours from the table's $files, not from lake objects) and says
// that its lake numbers can exceed what the tables reference.
func TestTablesViewOnIcebergTables(t *testing.T) {
	store := ingestedLake(t)
	stats := &LakeTableStats{Store: store, TargetFileBytes: 40_000, Iceberg: true}
	got, err := stats.TableStats(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 4, "three event tables and the dead letters")
	for _, ts := range got {
		require.True(t, ts.Iceberg, ts.Name)
		require.Zero(t, ts.SmallFiles, "%s: small files do not apply", ts.Name)
		require.Positive(t, ts.Files, ts.Name)
		for _, c := range ts.Columns {
			require.NotContains(t, []string{"dt", "hour"}, c.Name, "%s has no partition key columns", ts.Name)
		}
	}

	code, body := get(t, New(Options{TableStats: stats, Now: func() time.Time { return viewNow }}), "/tables")
	require.Equal(t, http.StatusOK, code)
	row := regexp.MustCompile(`(?s)<tr class="table" data-table="chat">.*?</tr>`).FindString(body)
	require.Contains(t, row, `<td class="num small"><span class="muted" title="not applicable to Iceberg tables: compaction reads the table's $files">n/a</span></td>`)
	require.Contains(t, body, `id="iceberg-note"`)
	require.Contains(t, body, "until snapshot expiry")
}

// Every user-supplied string on the dead-letters view is escaped: raw
// text and reasons that hold markup render as text.
func TestDeadLettersViewEscapesEverything(t *testing.T) {
	store := ingestedLake(t)
	r := deadletters.NewReader(store, "")
	defer func() { _ = r.Close() }()
	s := New(Options{DeadLetters: r, Now: func() time.Time { return viewNow }})
	code, body := get(t, s, "/deadletters")
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, body, "<script")
	require.NotContains(t, body, "<img")
	require.Contains(t, body, `&lt;script&gt;document.title=&#34;pwned-raw&#34;&lt;/script&gt;`)
	require.Contains(t, body, `&lt;img src=x onerror=&#34;document.title=&#39;pwned-img&#39;&#34;&gt;`)
	require.Contains(t, body, `<tr class="kind" data-kind="not_json"><td><a href="/deadletters?reason=not_json&amp;since=24h">not_json</a></td><td class="num">2</td></tr>`)
	require.Contains(t, body, `data-kind="bad_event_type"`)
	require.Equal(t, 3, strings.Count(body, `<tr class="letter">`))
	// By reason over time: the three fell in the hour before viewNow.
	require.Contains(t, body, `<tr class="hour" data-hour="2026-11-22T11" data-kind="not_json"><td>2026-11-22 11:00</td><td>not_json</td><td class="num">2</td></tr>`)
	require.Contains(t, body, `<tr class="hour" data-hour="2026-11-22T11" data-kind="bad_event_type"><td>2026-11-22 11:00</td><td>bad_event_type</td><td class="num">1</td></tr>`)
	require.Equal(t, 2, strings.Count(body, `<tr class="hour"`))

	code, body = get(t, s, "/deadletters?reason=bad_event_type&since=90m")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 1, strings.Count(body, `<tr class="letter">`))
	require.Contains(t, body, "in the last 1h30m")
	require.Contains(t, body, `&lt;script&gt;document.title=&#39;pwned-reason&#39;&lt;/script&gt;`)
	require.NotContains(t, body, "<script")

	code, body = get(t, s, "/deadletters?since=90s")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 1, strings.Count(body, `<tr class="letter">`), "one is a minute old, two are older than 90 s")
	code, _ = get(t, s, "/deadletters?since=yesterday")
	require.Equal(t, http.StatusBadRequest, code)
}

// In a real browser, the hostile dead letters show as text and none of
// them runs: the page title stays silt's, and no element they spell
// exists. The screenshot lands in test-artifacts/.
func TestDeadLettersAndTablesViewsInHeadlessBrowser(t *testing.T) {
	bin := chromium(t)
	store := ingestedLake(t)
	r := deadletters.NewReader(store, "")
	defer func() { _ = r.Close() }()
	srv := httptest.NewServer(New(Options{DeadLetters: r, TableStats: &LakeTableStats{Store: store, TargetFileBytes: 40_000},
		Now: func() time.Time { return viewNow }}))
	defer srv.Close()

	dom := string(runChromium(t, bin, "--dump-dom", srv.URL+"/deadletters"))
	require.Contains(t, dom, "<title>dead letters · silt</title>")
	require.NotContains(t, dom, "pwned-raw</title>")
	require.NotContains(t, dom, "<script")
	require.NotContains(t, dom, "<img")
	require.Contains(t, dom, `&lt;script&gt;document.title="pwned-raw"&lt;/script&gt;`, "the raw text, shown as text")
	shot := filepath.Join(artifactDir(t), "dead-letters.png")
	runChromium(t, bin, "--screenshot="+shot, "--window-size=1280,700", srv.URL+"/deadletters")

	dom = string(runChromium(t, bin, "--dump-dom", srv.URL+"/tables"))
	require.Contains(t, dom, `data-table="purchase_sword"`)
	require.Contains(t, dom, `<td class="num rows">100</td>`)
	runChromium(t, bin, "--screenshot="+filepath.Join(artifactDir(t), "tables.png"), "--window-size=1280,700", srv.URL+"/tables")
}

// The status page's tables section says, on an Iceberg deployment, that
// its partition counts are the lake's hour directories, which outlive an
// hour retention deleted from a table; on Hive it adds nothing.
func TestStatusTablesNoteOnIcebergOnly(t *testing.T) {
	store := ingestedLake(t)
	_, body := get(t, New(Options{Tables: LakeTables{Store: store, Iceberg: true}, Now: func() time.Time { return viewNow }}), "/")
	require.Contains(t, body, `id="tables-note"`)
	require.Contains(t, body, "until snapshot expiry")
	require.Contains(t, body, "dt=2026-11-22/hour=11", "the partitions are still listed")
	_, body = get(t, New(Options{Tables: LakeTables{Store: store}, Now: func() time.Time { return viewNow }}), "/")
	require.NotContains(t, body, `id="tables-note"`)
}
