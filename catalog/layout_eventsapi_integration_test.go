//go:build integration

package catalog_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/internal/eventsapi"
	"github.com/silt-etl/silt/lake"
)

// TestEventsAPIPrunesYearMonthDayHourIntegration: the count and search
// APIs on Trino (Hive Metastore catalog) over a lake written
// year=/month=/day=/hour= read only the partitions of the range's days. A
// partition outside the range holds an object that is not Parquet, so a
// query that reads it fails: the counts must be exact with it there, and
// a range that includes it must fail (which shows it is read when not
// pruned).
func TestEventsAPIPrunesYearMonthDayHourIntegration(t *testing.T) {
	ctx := t.Context()
	tl := newTrinoLake(t)
	if tl.ep.TrinoMetastoreCatalog == "" {
		t.Fatal("the plain stack runs no Hive Metastore catalog (trino_metastore_catalog): start it with one")
	}
	tl.cfg.Trino.Catalog = tl.ep.TrinoMetastoreCatalog
	tl.cfg.Layout = lake.YearMonthDayHour
	start := time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)
	events := catalogtest.Generate(9, 200, start, 48*time.Hour) // Dec 31 and Jan 1
	changes, err := catalogtest.WriteLayout(ctx, tl.store, lake.YearMonthDayHour, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	// Dec 29, 10:00: a partition of log that no range below reaches.
	poisoned := lake.YearMonthDayHour.PartitionOf("log", time.Date(2024, 12, 29, 10, 0, 0, 0, time.UTC))
	junk := []byte("not parquet")
	require.NoError(t, tl.store.Put(ctx, poisoned.Prefix()+"junk.parquet", bytes.NewReader(junk), int64(len(junk))))
	for i := range changes {
		if changes[i].Schema.Table == "log" {
			changes[i].Partitions = append(changes[i].Partitions, poisoned)
		}
	}
	c := tl.open(t)
	require.NoError(t, c.Register(ctx, changes))
	srv := httptest.NewServer(eventsapi.New(c, nil))
	defer srv.Close()

	for _, r := range [][2]string{
		{"2024-12-31T06:00:00Z", "2025-01-01T12:00:00Z"}, // across the year
		{"2024-12-30T00:00:00Z", "2025-01-05T00:00:00Z"}, // every event, still after Dec 29
		{"2025-01-01T00:00:00Z", ""},
	} {
		from, _ := time.Parse(time.RFC3339, r[0])
		to, _ := time.Parse(time.RFC3339, r[1])
		want := map[string]int64{}
		for _, e := range events {
			if !e.Time.Before(from) && (r[1] == "" || e.Time.Before(to)) {
				want[e.Table]++
			}
		}
		q := url.Values{"start_time": {r[0]}, "event_type": {"log"}}
		if r[1] != "" {
			q.Set("end_time", r[1])
		}
		var n int64
		apiResult(t, srv.URL+"/api/events/count?"+q.Encode(), &n)
		require.Equal(t, want["log"], n, "count %v", r)
		q.Set("limit", "5")
		var page eventsapi.SearchResult
		apiResult(t, srv.URL+"/api/events/search?"+q.Encode(), &page)
		require.Equal(t, want["log"], page.Total, "search %v", r)
		require.Len(t, page.Events, 5)
	}

	// Reaching Dec 29 reads the object that is not Parquet, and fails.
	resp, err := http.Get(srv.URL + "/api/events/count?" + url.Values{"start_time": {"2024-12-29T00:00:00Z"}, "event_type": {"log"}}.Encode())
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode, "a range over the poisoned partition reads it: %s", body)
}
