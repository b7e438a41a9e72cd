package eventsapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/internal/eventsapi"
	"github.com/silt-etl/silt/lake"
)

// The count and search APIs over a lake written year=/month=/day=/hour=
// (a real DuckDB catalog over it) answer exactly what the events hold for
// ranges that start and end inside days, months and a year, and cross
// them: a wrong bound on year, month or day would drop whole days.
func TestCountAndSearchByTimeRangeOnYearMonthDayHour(t *testing.T) {
	ctx := t.Context()
	store, err := lake.NewLocal(t.TempDir())
	require.NoError(t, err)
	start := time.Date(2024, 11, 29, 20, 0, 0, 0, time.UTC)
	// An event every 5 hours to Jan 2, 2025, each one in an hour of its
	// own.
	var events []catalogtest.Event
	for i, g := range catalogtest.Generate(5, 34*24/5, start, time.Hour) {
		g.Time = start.Add(time.Duration(i)*5*time.Hour + time.Duration(i)*time.Minute)
		events = append(events, g)
	}
	_, err = catalogtest.WriteLayout(ctx, store, lake.YearMonthDayHour, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	c, err := catalog.Open(ctx, catalog.Options{Kind: "duckdb", Layout: lake.YearMonthDayHour}, store)
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	require.NoError(t, c.RepairAll(ctx, store))
	srv := httptest.NewServer(eventsapi.New(c, nil))
	defer srv.Close()

	for _, r := range []struct{ from, to string }{
		{"2024-12-31T12:34:56Z", "2025-01-01T18:00:00Z"}, // across the year
		{"2024-11-30T20:30:00Z", "2024-12-01T05:00:00Z"}, // across a month
		{"2024-12-09T10:00:00Z", "2024-12-21T10:00:00Z"}, // days 09 to 21: text order is date order
		{"2024-12-25T00:00:00Z", ""},                     // open end
		{"", "2024-12-02T05:00:00Z"},                     // open start
	} {
		from, _ := time.Parse(time.RFC3339, r.from)
		to, _ := time.Parse(time.RFC3339, r.to)
		var want int64
		wantType := map[string]int64{}
		for _, e := range events {
			if (r.from == "" || !e.Time.Before(from)) && (r.to == "" || e.Time.Before(to)) {
				want++
				wantType[e.Table]++
			}
		}
		require.Positive(t, want, "%v holds events", r)
		q := url.Values{}
		if r.from != "" {
			q.Set("start_time", r.from)
		}
		if r.to != "" {
			q.Set("end_time", r.to)
		}
		var n int64
		getResult(t, srv.URL+"/api/events/count?"+q.Encode(), &n)
		require.Equal(t, want, n, "count %v", r)
		q.Set("event_type", "log")
		getResult(t, srv.URL+"/api/events/count?"+q.Encode(), &n)
		require.Equal(t, wantType["log"], n, "count of log %v", r)
		q.Set("limit", "3")
		var page eventsapi.SearchResult
		getResult(t, srv.URL+"/api/events/search?"+q.Encode(), &page)
		require.Equal(t, wantType["log"], page.Total, "search total %v", r)
		require.Len(t, page.Events, min(3, int(wantType["log"])))
	}
}

func getResult(t *testing.T, u string, result any) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", u, body)
	var envelope struct {
		Result json.RawMessage `json:"result"`
	}
	require.NoError(t, json.Unmarshal(body, &envelope))
	require.NoError(t, json.Unmarshal(envelope.Result, result))
}
