package sql

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/silt-etl/silt/internal/ident"
)

// Param is one declared parameter: name=type[:default].
type Param struct {
	Name    string
	Type    string // int, float, timestamp, duration or string
	Default string // empty: required
}

func parseParams(s string) ([]Param, error) {
	var out []Param
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, spec, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("param %q: write name=type or name=type:default", part)
		}
		typ, def, _ := strings.Cut(spec, ":")
		p := Param{Name: strings.TrimSpace(name), Type: strings.TrimSpace(typ), Default: strings.TrimSpace(def)}
		if !ident.Valid(p.Name) || seen[p.Name] {
			return nil, fmt.Errorf("param %q: not a name, or declared twice", p.Name)
		}
		seen[p.Name] = true
		switch p.Type {
		case "int", "float", "timestamp", "string", "duration":
		default:
			return nil, fmt.Errorf("param %s: type %q: use int, float, timestamp, duration or string", p.Name, p.Type)
		}
		if p.Default != "" {
			// A default must parse whatever the run time is.
			if _, err := p.parse(p.Default, time.Unix(0, 0)); err != nil {
				return nil, fmt.Errorf("param %s default: %w", p.Name, err)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// The values a query sees. Each prints as a SQL literal valid on both
// engines, built from the parsed value, never from the caller's text.
type (
	Int       int64
	Float     float64
	Timestamp time.Time
	String    string
	// Duration is a whole number of seconds, written 10s, 1m30s or 1h;
	// it prints as that number of seconds.
	Duration time.Duration
)

func (v Int) String() string { return strconv.FormatInt(int64(v), 10) }
func (v Float) String() string {
	return "DOUBLE '" + strconv.FormatFloat(float64(v), 'g', -1, 64) + "'"
}
func (v Timestamp) String() string {
	return "TIMESTAMP '" + time.Time(v).UTC().Format("2006-01-02 15:04:05.000") + "'"
}
func (v String) String() string { return "'" + strings.ReplaceAll(string(v), "'", "''") + "'" }
func (v Duration) String() string {
	return strconv.FormatInt(int64(time.Duration(v)/time.Second), 10)
}

// parse turns text into the param's typed value. Timestamps are absolute
// (RFC 3339, or 2006-01-02[ 15:04[:05]] in UTC) or relative to the run's
// scheduled time: now, now-1h, now+30m.
func (p Param) parse(text string, scheduledAt time.Time) (any, error) {
	switch p.Type {
	case "int":
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", text)
		}
		return Int(n), nil
	case "float":
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || f != f {
			return nil, fmt.Errorf("%q is not a number", text)
		}
		return Float(f), nil
	case "timestamp":
		t, err := parseTime(text, scheduledAt)
		if err != nil {
			return nil, err
		}
		return Timestamp(t.UTC().Truncate(time.Millisecond)), nil
	case "string":
		return String(text), nil
	case "duration":
		d, err := time.ParseDuration(text)
		if err != nil || d < 0 || d%time.Second != 0 {
			return nil, fmt.Errorf("%q is not a duration in whole seconds: write it like 10s, 1m or 1h", text)
		}
		return Duration(d), nil
	}
	return nil, fmt.Errorf("unknown type %q", p.Type)
}

func parseTime(text string, now time.Time) (time.Time, error) {
	if rest, ok := strings.CutPrefix(text, "now"); ok {
		if rest == "" {
			return now, nil
		}
		d, err := time.ParseDuration(strings.TrimPrefix(rest, "+"))
		if err != nil || (rest[0] != '+' && rest[0] != '-') {
			return time.Time{}, fmt.Errorf("%q: write now, now-1h or now+30m", text)
		}
		return now.Add(d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, text); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2024-05-01T10:00:00Z), 2024-05-01 10:00 (UTC) or now-1h", text)
}

// Values resolves the declared params from given (text, e.g. --param k=v
// or a job's params) and the defaults. Unknown names are an error, so a
// typo does not silently run with the default.
func (r *Report) Values(given map[string]string, scheduledAt time.Time) (map[string]any, error) {
	out := map[string]any{}
	known := map[string]bool{}
	for _, p := range r.Params {
		known[p.Name] = true
		text, ok := given[p.Name]
		if !ok {
			if p.Default == "" {
				return nil, fmt.Errorf("report %s: param %s (%s) is required", r.Name, p.Name, p.Type)
			}
			text = p.Default
		}
		v, err := p.parse(text, scheduledAt)
		if err != nil {
			return nil, fmt.Errorf("report %s: param %s: %w", r.Name, p.Name, err)
		}
		out[p.Name] = v
	}
	for k := range given {
		if !known[k] {
			return nil, fmt.Errorf("report %s has no param %q", r.Name, k)
		}
	}
	return out, nil
}
