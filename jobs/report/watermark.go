package report

import (
	"context"
	"fmt"
	"time"

	reportsql "github.com/silt-etl/silt/sql"
)

// WatermarkOptions make a windowed report emit only windows closed by the
// event-time watermark: the newest event time in the table minus
// AllowedLateness. Events may arrive out of order by up to that much and
// still count in their window before it is emitted.
//
// An event later than that (its window already emitted) is not dropped:
// every run recomputes every closed window from the report's start, so the
// next run re-emits the late event's window (and the rows whose moving
// average spans it) with it included, replacing the window's rows in the
// lake table and publishing newer records under the same keys. An event
// older than the report's start is not reported.
type WatermarkOptions struct {
	AllowedLateness time.Duration
	// Table is the table whose newest event time drives the watermark:
	// empty means the report's table param, or, for a report without one,
	// every event table.
	Table string
}

// watermarkQueries find the newest event time: of one table, or of every
// event table (for reports over all of them, such as
// event_counts_by_window).
var (
	tableWatermark = mustParse("watermark", `-- name: watermark
-- params: table=string
SELECT max(event_time) AS newest FROM {{from (name .table) "event_time"}} t`)
	eventsWatermark = mustParse("watermark", `-- name: watermark
SELECT max(event_time) AS newest FROM {{events "event_time"}} e`)
)

func mustParse(source, text string) *reportsql.Report {
	r, err := reportsql.Parse(source, text)
	if err != nil {
		panic(err)
	}
	return r
}

// NewestEventTime is the newest event time in table (every event table
// when table is empty); ok is false when there is none.
func NewestEventTime(ctx context.Context, e Engine, table string) (newest time.Time, ok bool, err error) {
	q, values := eventsWatermark, map[string]any{}
	if table != "" {
		q, values = tableWatermark, map[string]any{"table": reportsql.String(table)}
	}
	res, err := Execute(ctx, e, q, values)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("watermark of %s: %w", tableLabel(table), err)
	}
	if len(res.Rows) != 1 || res.Rows[0][0] == nil {
		return time.Time{}, false, nil
	}
	t, isTime := res.Rows[0][0].(time.Time)
	if !isTime {
		return time.Time{}, false, fmt.Errorf("watermark of %s: max(event_time) is a %T, not a timestamp", tableLabel(table), res.Rows[0][0])
	}
	return t, true, nil
}

func tableLabel(table string) string {
	if table == "" {
		return "every event table"
	}
	return "table " + table
}

// WindowSize is the window a report's resolved values ask for: the window
// duration param, else (for the older form) window_minutes; ok is false
// when the report has neither, or they are zero.
func WindowSize(values map[string]any) (time.Duration, bool) {
	if d, ok := values["window"].(reportsql.Duration); ok && d > 0 {
		return time.Duration(d), true
	}
	if m, ok := values["window_minutes"].(reportsql.Int); ok && m > 0 {
		return time.Duration(m) * time.Minute, true
	}
	return 0, false
}

// floorTo aligns t down to a multiple of size since the Unix epoch, as
// the reports' windows are (event times are after 1970).
func floorTo(t time.Time, size time.Duration) time.Time {
	s := int64(size / time.Second)
	return time.Unix(t.Unix()/s*s, 0).UTC()
}

// CloseWindows narrows a windowed report's range to the windows the
// watermark closed: end becomes the start of the window holding
// newest - lateness (when earlier than end), and start is aligned down to
// a window, so that every row is of a whole window and a re-run of the
// same slot gives the same rows. Without an event (ok false) nothing is
// closed: end becomes start.
func CloseWindows(values map[string]any, size time.Duration, newest time.Time, ok bool, lateness time.Duration) (watermark time.Time) {
	start := time.Time(values["start"].(reportsql.Timestamp))
	end := time.Time(values["end"].(reportsql.Timestamp))
	start = floorTo(start, size)
	closedBy := start
	if ok {
		watermark = newest.Add(-lateness)
		if w := floorTo(watermark, size); w.After(start) {
			closedBy = w
		}
	}
	values["start"] = reportsql.Timestamp(start)
	if closedBy.Before(end) {
		values["end"] = reportsql.Timestamp(closedBy)
	}
	return watermark
}
