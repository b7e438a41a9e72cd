package eventsapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/silt-etl/silt/internal/ident"
)

const (
	defaultLimit = 100
	maxLimit     = 1000
	// sqlTime is how times are bound: a string every engine casts to a
	// plain (UTC) TIMESTAMP, as the lake stores event_time.
	sqlTime = "2006-01-02 15:04:05.000000"
)

// filter is a request's validated parameters.
type filter struct {
	table      string // a registered table, or "" for all
	host       string
	start, end time.Time // zero: unbounded; end is exclusive
	limit      int
	after      *cursor
}

func parseFilter(q url.Values, allowed ...string) (*filter, error) {
	ok := map[string]bool{"event_type": true, "host": true, "start_time": true, "end_time": true}
	for _, k := range allowed {
		ok[k] = true
	}
	for k := range q {
		if !ok[k] {
			return nil, &badRequest{fmt.Sprintf("unknown parameter %q", k)}
		}
	}
	f := &filter{limit: defaultLimit, host: q.Get("host")}
	if et := q.Get("event_type"); et != "" {
		t, err := ident.Normalize(et)
		if err != nil {
			return nil, &badRequest{fmt.Sprintf("event_type %q: %v", et, err)}
		}
		f.table = t
	}
	var err error
	if f.start, err = parseTime("start_time", q.Get("start_time")); err != nil {
		return nil, err
	}
	if f.end, err = parseTime("end_time", q.Get("end_time")); err != nil {
		return nil, err
	}
	if !f.start.IsZero() && !f.end.IsZero() && !f.end.After(f.start) {
		return nil, &badRequest{"end_time must be after start_time"}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return nil, &badRequest{fmt.Sprintf("limit %q: a whole number from 1 to %d", s, maxLimit)}
		}
		f.limit = n
	}
	if s := q.Get("cursor"); s != "" {
		c, err := decodeCursor(s)
		if err != nil {
			return nil, &badRequest{"cursor is not one this API handed out"}
		}
		f.after = c
	}
	return f, nil
}

// parseTime takes Unix seconds (fractions allowed) or RFC 3339.
func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
			return time.Time{}, &badRequest{fmt.Sprintf("%s %q: out of range", name, s)}
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &badRequest{fmt.Sprintf("%s %q: write Unix seconds or RFC 3339 (2024-05-01T12:00:00Z)", name, s)}
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, &badRequest{fmt.Sprintf("%s %q: out of range", name, s)}
	}
	return t.UTC(), nil
}

// cursor is the sort key of the last event of a page; the next page
// starts strictly after it. (topic, partition, offset) makes it unique.
type cursor struct {
	Time      string `json:"t"`
	Topic     string `json:"k"`
	Partition int64  `json:"p"`
	Offset    int64  `json:"o"`
}

func (c *cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	// Its time goes back into SQL as a bound value, but it must still
	// be a time, not whatever a client wrote.
	if _, err := time.Parse(sqlTime, c.Time); err != nil || strings.ContainsAny(c.Topic, "\x00") {
		return nil, fmt.Errorf("bad cursor")
	}
	return &c, nil
}
