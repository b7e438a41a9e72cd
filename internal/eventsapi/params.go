package eventsapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"sort"
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
	// fields are field.<column>[.<key>…]=value conditions, all of which
	// must hold.
	fields []fieldFilter
}

// fieldFilter is one field.<column>[.<key>…]=value: a text column equal
// to value, or, with keys, the text at that path in a JSON column (nested
// event fields like params.os_type are stored as JSON text).
type fieldFilter struct {
	column string
	keys   []string
	value  string
}

// fieldPrefix starts the query keys that filter on event fields.
const fieldPrefix = "field."

// jsonKey is what a key in field.<column>.<key> may hold: it is written
// into a JSON path, so nothing that could end or escape it.
var jsonKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// parseField reads field.<column>[.<key>…]; the column is normalized like
// ingest names columns (User-Agent: user_agent).
func parseField(key, value string) (fieldFilter, error) {
	parts := strings.Split(strings.TrimPrefix(key, fieldPrefix), ".")
	col, err := ident.Normalize(parts[0])
	if err != nil {
		return fieldFilter{}, &badRequest{fmt.Sprintf("%s: %q is not a column: %v", key, parts[0], err)}
	}
	for _, k := range parts[1:] {
		if !jsonKey.MatchString(k) {
			return fieldFilter{}, &badRequest{fmt.Sprintf("%s: %q is not a field name (letters, digits and _)", key, k)}
		}
	}
	return fieldFilter{column: col, keys: parts[1:], value: value}, nil
}

func parseFilter(q url.Values, allowed ...string) (*filter, error) {
	ok := map[string]bool{"event_type": true, "host": true, "start_time": true, "end_time": true}
	for _, k := range allowed {
		ok[k] = true
	}
	f := &filter{limit: defaultLimit, host: q.Get("host")}
	for _, k := range sortedKeys(q) {
		switch {
		case ok[k]:
		case strings.HasPrefix(k, fieldPrefix):
			ff, err := parseField(k, q.Get(k))
			if err != nil {
				return nil, err
			}
			f.fields = append(f.fields, ff)
		default:
			return nil, &badRequest{fmt.Sprintf("unknown parameter %q (filter on event fields with field.<name>=value)", k)}
		}
	}
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

// sortedKeys are q's keys in order, so conditions (and errors) do not
// depend on map order.
func sortedKeys(q url.Values) []string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
