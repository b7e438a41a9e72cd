package eventsapi

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sessionFixture is the events aggregator's data: session events with
// params as JSON text (as ingest stores nested values), one of them not
// JSON, and a table without params.
func sessionFixture(t *testing.T) (*httptest.Server, map[string]int64) {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)
	for _, ddl := range []string{
		`CREATE TABLE session_start (event_time TIMESTAMP, kafka_topic VARCHAR, kafka_partition BIGINT, kafka_offset BIGINT,
			raw_event VARCHAR, host VARCHAR, user_agent VARCHAR, params VARCHAR, dt VARCHAR, hour VARCHAR)`,
		`CREATE TABLE purchase (event_time TIMESTAMP, kafka_topic VARCHAR, kafka_partition BIGINT, kafka_offset BIGINT,
			raw_event VARCHAR, host VARCHAR, dt VARCHAR, hour VARCHAR)`,
	} {
		_, err := db.Exec(ddl)
		require.NoError(t, err)
	}
	want := map[string]int64{}
	oses := []string{"android", "ios", "android", "web"}
	for i := range 40 {
		at := base.Add(time.Duration(i) * time.Minute)
		os := oses[i%len(oses)]
		params := fmt.Sprintf(`{"os_type":%q,"app":{"version":"1.%d"}}`, os, i%3)
		if i == 39 {
			params = "not json"
		} else {
			want[os]++
			if i%3 == 2 && os == "android" {
				want["android 1.2"]++
			}
		}
		_, err := db.Exec(`INSERT INTO session_start VALUES (CAST(? AS TIMESTAMP), 'events', 0, ?, '{}', 'h', ?, ?, ?, ?)`,
			at.Format(sqlTime), i, []string{"GameClient/4.2", "curl/8", "curl/8"}[i%3], params, at.Format(time.DateOnly), at.Format("15"))
		require.NoError(t, err)
		if i%3 == 0 && os == "android" && i != 39 {
			want["GameClient/4.2 android"]++
		}
		_, err = db.Exec(`INSERT INTO purchase VALUES (CAST(? AS TIMESTAMP), 'events', 1, ?, '{}', 'h', ?, ?)`,
			at.Format(sqlTime), i, at.Format(time.DateOnly), at.Format("15"))
		require.NoError(t, err)
	}
	api := New(duck{db: db}, nil)
	api.now = func() time.Time { return base }
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv, want
}

// field.<column>[.<key>…]=value filters on an event's own fields, nested
// ones in JSON columns included; the search answers the total with its page.
func TestFieldFiltersAndSearchTotal(t *testing.T) {
	srv, want := sessionFixture(t)
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	require.Equal(t, want["android"], countOf(t, srv, q("field.params.os_type", "android")), "across tables: purchase has no params")
	require.Equal(t, want["ios"], countOf(t, srv, q("event_type", "session_start", "field.params.os_type", "ios")))
	require.Equal(t, want["android 1.2"], countOf(t, srv, q("field.params.os_type", "android", "field.params.app.version", "1.2")))
	require.Equal(t, want["GameClient/4.2 android"], countOf(t, srv, q("field.User-Agent", "GameClient/4.2", "field.params.os_type", "android")),
		"a header-style name is the normalized column")
	require.Zero(t, countOf(t, srv, q("field.nosuch", "x")), "a column no table has matches nothing")
	require.Zero(t, countOf(t, srv, q("field.params.os_type", "not json")), "text that is not JSON matches no key")

	code, r := get(t, srv, "/api/events/search", q("field.params.os_type", "android", "limit", "3"))
	require.Equal(t, http.StatusOK, code, r.Error)
	var page SearchResult
	require.NoError(t, json.Unmarshal(r.Result, &page))
	require.Len(t, page.Events, 3)
	require.Equal(t, want["android"], page.Total, "the total of every page")
	require.NotEmpty(t, page.NextCursor)
	code, r = get(t, srv, "/api/events/search", q("field.params.os_type", "android", "limit", "3", "cursor", page.NextCursor))
	require.Equal(t, http.StatusOK, code, r.Error)
	var next SearchResult
	require.NoError(t, json.Unmarshal(r.Result, &next))
	require.Equal(t, want["android"], next.Total, "the total does not shrink with the cursor")

	for key, msg := range map[string]string{
		"field.params.os'type": "is not a field name",
		"field.9x":             "is not a column",
		"fields.params":        "unknown parameter",
	} {
		code, r := get(t, srv, "/api/events/count", q(key, "x"))
		require.Equal(t, http.StatusBadRequest, code, key)
		require.Contains(t, r.Error, msg, key)
	}
}
