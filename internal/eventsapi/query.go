package eventsapi

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
)

// where renders the filter on one table as SQL with ? placeholders and
// its arguments. Times are bound as strings and cast, so both engines
// compare them as plain UTC timestamps like the lake's event_time; bounds
// on the partition keys of the engine's layout (see dayBound) let the
// engine prune partitions outside the range's days. Iceberg tables have
// no partition key columns (a column named dt there would be an event's
// own field): iceberg leaves those bounds out, and Iceberg prunes its
// hour(event_time) partitions by the event_time bounds.
// cols are the table's columns: a host or field filter on a column the
// table lacks matches nothing. Field filters on JSON keys use each
// engine's JSON function; a value that is not JSON matches nothing.
func (f *filter) where(cols map[string]bool, dialect catalog.Dialect, layout lake.Layout, iceberg bool) (string, []any) {
	hasHost := cols["host"]
	var conds []string
	var args []any
	if !f.start.IsZero() {
		conds = append(conds, "event_time >= CAST(? AS TIMESTAMP)")
		args = append(args, f.start.Format(sqlTime))
		if !iceberg {
			c, a := dayBound(layout, ">", f.start)
			conds, args = append(conds, c), append(args, a...)
		}
	}
	if !f.end.IsZero() {
		conds = append(conds, "event_time < CAST(? AS TIMESTAMP)")
		args = append(args, f.end.Format(sqlTime))
		if !iceberg {
			c, a := dayBound(layout, "<", f.end)
			conds, args = append(conds, c), append(args, a...)
		}
	}
	if f.host != "" {
		if !hasHost {
			conds = append(conds, "1 = 0")
		} else {
			conds = append(conds, "host = ?")
			args = append(args, f.host)
		}
	}
	for _, ff := range f.fields {
		switch {
		case !cols[ff.column]:
			conds = append(conds, "1 = 0")
		case len(ff.keys) == 0:
			conds = append(conds, `CAST("`+ff.column+`" AS VARCHAR) = ?`)
			args = append(args, ff.value)
		default:
			// jsonKey admits only identifier keys, so the path is safe as
			// a literal, which both engines require.
			path := "'$." + strings.Join(ff.keys, ".") + "'"
			col := `"` + ff.column + `"`
			if dialect == catalog.Trino {
				conds = append(conds, "json_extract_scalar("+col+", "+path+") = ?")
			} else {
				conds = append(conds, "(CASE WHEN json_valid("+col+") THEN json_extract_string("+col+", "+path+") END) = ?")
			}
			args = append(args, ff.value)
		}
	}
	if c := f.after; c != nil {
		conds = append(conds, `(event_time > CAST(? AS TIMESTAMP) OR (event_time = CAST(? AS TIMESTAMP) AND `+
			`(kafka_topic > ? OR (kafka_topic = ? AND (kafka_partition > ? OR (kafka_partition = ? AND kafka_offset > ?))))))`)
		args = append(args, c.Time, c.Time, c.Topic, c.Topic, c.Partition, c.Partition, c.Offset)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// dayBound is the condition on layout's partition keys that a partition's
// day is on or after (cmp ">") or on or before (cmp "<") the day of t:
// dt >= '2024-05-01', or, for year_month_day_hour, the same order over
// year, month and day (zero-padded text, so it sorts as dates do). The
// year alone is also bounded, a plain range an engine prunes on even when
// it does not evaluate the whole condition per partition.
func dayBound(layout lake.Layout, cmp string, t time.Time) (string, []any) {
	t = t.UTC()
	if layout != lake.YearMonthDayHour {
		return "dt " + cmp + "= ?", []any{t.Format(time.DateOnly)}
	}
	y, m, d := t.Format("2006"), t.Format("01"), t.Format("02")
	return "year " + cmp + "= ? AND (year " + cmp + " ? OR (year = ? AND (month " + cmp + " ? OR (month = ? AND day " + cmp + "= ?))))",
		[]any{y, y, y, m, m, d}
}

// tablesFor resolves the filter's table (checked against the registered
// ones, so only a known identifier ever reaches SQL) or all of them.
func (a *API) tablesFor(ctx context.Context, f *filter) ([]string, map[string]map[string]bool, error) {
	all, err := a.eventTables(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list tables: %w", err)
	}
	if f.table == "" {
		return sortedNames(all), all, nil
	}
	if _, ok := all[f.table]; !ok {
		return nil, nil, nil
	}
	return []string{f.table}, all, nil
}

func (a *API) count(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	tables, cols, err := a.tablesFor(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(tables) == 0 {
		a.ok(w, 0) // an event type nobody sent yet has no events
		return
	}
	n, err := a.countMatching(r.Context(), f, tables, cols)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.ok(w, n)
}

// countMatching counts the events of tables that f matches.
func (a *API) countMatching(ctx context.Context, f *filter, tables []string, cols map[string]map[string]bool) (int64, error) {
	var parts []string
	var args []any
	for _, t := range tables {
		wh, wargs := f.where(cols[t], a.eng.Dialect(), a.eng.Layout(), a.eng.Iceberg())
		parts = append(parts, "SELECT count(*) AS n FROM "+a.eng.Qualified(t)+wh)
		args = append(args, wargs...)
	}
	q := "SELECT CAST(sum(n) AS BIGINT) FROM (" + strings.Join(parts, " UNION ALL ") + ") AS c"
	var n sql.NullInt64
	if err := a.eng.DB().QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n.Int64, nil
}

// Event is one search hit: where it is in Kafka and the event as sent.
type Event struct {
	EventType      string          `json:"event_type"`
	EventTime      time.Time       `json:"event_time"`
	KafkaTopic     string          `json:"kafka_topic"`
	KafkaPartition int64           `json:"kafka_partition"`
	KafkaOffset    int64           `json:"kafka_offset"`
	Event          json.RawMessage `json:"event"`
}

// SearchResult is one page; NextCursor is empty on the last page. Total
// is how many events match the filter on every page together.
type SearchResult struct {
	Events     []Event `json:"events"`
	NextCursor string  `json:"next_cursor,omitempty"`
	Total      int64   `json:"total"`
}

func (a *API) search(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query(), "limit", "cursor")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	tables, cols, err := a.tablesFor(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res := SearchResult{Events: []Event{}}
	if len(tables) == 0 {
		a.ok(w, res)
		return
	}
	const order = " ORDER BY event_time, kafka_topic, kafka_partition, kafka_offset LIMIT "
	lim := strconv.Itoa(f.limit + 1) // one more says whether a next page exists
	var parts []string
	var args []any
	for _, t := range tables {
		wh, wargs := f.where(cols[t], a.eng.Dialect(), a.eng.Layout(), a.eng.Iceberg())
		// Each table is limited on its own too, so the engine never
		// sorts more than limit+1 rows of any table.
		parts = append(parts, "SELECT * FROM (SELECT '"+t+"' AS event_type, event_time, kafka_topic, kafka_partition, kafka_offset, raw_event FROM "+
			a.eng.Qualified(t)+wh+order+lim+") AS t"+strconv.Itoa(len(parts)))
		args = append(args, wargs...)
	}
	q := "SELECT event_type, event_time, kafka_topic, kafka_partition, kafka_offset, raw_event FROM (" +
		strings.Join(parts, " UNION ALL ") + ") AS e" + order + lim
	rows, err := a.eng.DB().QueryContext(r.Context(), q, args...)
	if err != nil {
		a.fail(w, r, fmt.Errorf("search events: %w", err))
		return
	}
	defer rows.Close()
	for rows.Next() {
		var e Event
		var raw sql.NullString
		if err := rows.Scan(&e.EventType, &e.EventTime, &e.KafkaTopic, &e.KafkaPartition, &e.KafkaOffset, &raw); err != nil {
			a.fail(w, r, fmt.Errorf("search events: %w", err))
			return
		}
		e.EventTime = e.EventTime.UTC()
		if json.Valid([]byte(raw.String)) {
			e.Event = json.RawMessage(raw.String)
		} else {
			e.Event, _ = json.Marshal(raw.String)
		}
		res.Events = append(res.Events, e)
	}
	if err := rows.Err(); err != nil {
		a.fail(w, r, fmt.Errorf("search events: %w", err))
		return
	}
	all := *f
	all.after = nil
	if res.Total, err = a.countMatching(r.Context(), &all, tables, cols); err != nil {
		a.fail(w, r, err)
		return
	}
	if len(res.Events) > f.limit {
		res.Events = res.Events[:f.limit]
		last := res.Events[f.limit-1]
		res.NextCursor = (&cursor{Time: last.EventTime.Format(sqlTime), Topic: last.KafkaTopic,
			Partition: last.KafkaPartition, Offset: last.KafkaOffset}).encode()
	}
	a.ok(w, res)
}
