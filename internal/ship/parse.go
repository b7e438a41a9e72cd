package ship

import (
	"fmt"
	"regexp"
	"time"
)

// Parser turns one log line into an event's fields: the pattern's named
// groups, and the line's time from the time group.
type Parser struct {
	pattern   *regexp.Regexp
	timeGroup int
	layout    string
	loc       *time.Location
	dated     bool // the layout's times carry a date
}

// NewParser checks that pattern has the named group timeField and that
// layout parses times.
func NewParser(pattern, timeField, layout string, loc *time.Location) (*Parser, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("pattern: %w", err)
	}
	idx := re.SubexpIndex(timeField)
	if idx < 0 {
		return nil, fmt.Errorf("pattern has no named group (?P<%s>...) for the time", timeField)
	}
	if loc == nil {
		loc = time.UTC
	}
	probe, err := time.Parse(layout, time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).Format(layout))
	dated := err == nil && probe.Year() == 2001
	return &Parser{pattern: re, timeGroup: idx, layout: layout, loc: loc, dated: dated}, nil
}

// hasDate is true when the layout's times carry a date; otherwise the
// caller supplies one (see dayClock).
func (p *Parser) hasDate() bool { return p.dated }

// Parse gives the named groups of line and its time. A line the pattern
// does not match, or whose time does not parse, is an error: the caller
// still ships it, with the error.
func (p *Parser) Parse(line string) (map[string]string, time.Time, error) {
	m := p.pattern.FindStringSubmatch(line)
	if m == nil {
		return nil, time.Time{}, fmt.Errorf("line does not match the pattern")
	}
	fields := make(map[string]string, len(m))
	for i, name := range p.pattern.SubexpNames() {
		if name != "" && i < len(m) {
			fields[name] = m[i]
		}
	}
	at, err := time.ParseInLocation(p.layout, m[p.timeGroup], p.loc)
	if err != nil {
		return fields, time.Time{}, fmt.Errorf("time %q does not parse with layout %q", m[p.timeGroup], p.layout)
	}
	return fields, at, nil
}

// dayClock gives times of day a date: it starts on a file's date and
// moves to the next day when the clock goes back by more than 12 hours
// (23:59:59 followed by 00:00:01 is midnight, not a log out of order).
type dayClock struct {
	Date string    `json:"date"`          // YYYY-MM-DD, in the parser's location
	Last time.Time `json:"last,omitzero"` // the last full time given
}

func (d *dayClock) full(clock time.Time, loc *time.Location) (time.Time, error) {
	day, err := time.ParseInLocation("2006-01-02", d.Date, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: %w", d.Date, err)
	}
	h, m, s := clock.Clock()
	at := time.Date(day.Year(), day.Month(), day.Day(), h, m, s, clock.Nanosecond(), loc)
	if !d.Last.IsZero() && d.Last.Sub(at) > 12*time.Hour {
		at = at.AddDate(0, 0, 1)
		d.Date = at.Format("2006-01-02")
	}
	d.Last = at
	return at, nil
}
