//go:build integration

package catalog_test

import (
	"encoding/json"
	"fmt"
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

// The events API's field filters (field.params.os_type=android: a key in a
// JSON text column; field.host=…: a column) and the search's total give
// the same answers on Trino and DuckDB, and the counts the events say.
func TestEventsAPIFieldFiltersDifferentialIntegration(t *testing.T) {
	tl := newTrinoLake(t)
	tc := tl.open(t)
	schema := lake.TableSchema{Table: "session_start", Columns: []lake.Column{{Name: "host", Type: lake.TypeVarchar}, {Name: "params", Type: lake.TypeVarchar}}}
	var events []catalogtest.Event
	want := map[string]int64{}
	oses := []string{"android", "ios", "android", "web"}
	for i := range 60 {
		os, host := oses[i%len(oses)], fmt.Sprintf("h%d", i%3)
		params := fmt.Sprintf(`{"os_type":%q,"app":{"version":"1.%d"}}`, os, i%2)
		if i == 59 {
			params = "not json"
		} else {
			want[os]++
			if host == "h1" && i%2 == 1 && os == "android" {
				want["h1 android 1.1"]++
			}
		}
		events = append(events, catalogtest.Event{Table: "session_start", Time: t0.Add(time.Duration(i) * time.Minute),
			Fields: map[string]any{"host": host, "params": params}})
	}
	changes, err := catalogtest.Write(t.Context(), tl.store, []lake.TableSchema{schema}, events, 0)
	require.NoError(t, err)
	require.NoError(t, tc.Register(t.Context(), changes))
	dc := openDuck(t, copyLake(t, tl.store))

	for _, c := range []*catalog.Catalog{tc, dc} {
		srv := httptest.NewServer(eventsapi.New(c, nil))
		count := func(q url.Values) int64 {
			var n int64
			apiResult(t, srv.URL+"/api/events/count?"+q.Encode(), &n)
			return n
		}
		require.Equal(t, want["android"], count(url.Values{"field.params.os_type": {"android"}}), "%s", c.Dialect())
		require.Equal(t, want["h1 android 1.1"], count(url.Values{"field.host": {"h1"}, "field.params.os_type": {"android"},
			"field.params.app.version": {"1.1"}}), "%s", c.Dialect())
		require.Zero(t, count(url.Values{"field.params.os_type": {"not json"}}), "%s", c.Dialect())
		var page eventsapi.SearchResult
		apiResult(t, srv.URL+"/api/events/search?"+url.Values{"field.params.os_type": {"ios"}, "limit": {"4"}}.Encode(), &page)
		require.Len(t, page.Events, 4)
		require.Equal(t, want["ios"], page.Total, "%s", c.Dialect())
		srv.Close()
	}
}

// apiResult calls the events API and decodes its result.
func apiResult(t *testing.T, u string, result any) {
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
