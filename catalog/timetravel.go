package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/silt-etl/silt/lake"
)

// AsOf is a point in an Iceberg table's history: a snapshot id (one
// table's) or a time (every table's state then).
type AsOf struct {
	Snapshot int64     // when not 0
	Time     time.Time // when Snapshot is 0
}

// ParseAsOf reads --as-of: a snapshot id (digits) or a time, RFC 3339 or
// "2006-01-02 15:04:05[.000]" taken as UTC.
func ParseAsOf(s string) (AsOf, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n == 0 {
			return AsOf{}, errors.New("--as-of 0: a snapshot id is never 0")
		}
		return AsOf{Snapshot: n}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return AsOf{Time: t.UTC()}, nil
		}
	}
	return AsOf{}, fmt.Errorf("--as-of %q: give a snapshot id (from the table's $snapshots) or a time (2026-05-01T10:00:00Z, or 2026-05-01 10:00:00 in UTC)", s)
}

// clause is Trino's query period for a.
func (a AsOf) clause() string {
	if a.Snapshot != 0 {
		return fmt.Sprintf(" FOR VERSION AS OF %d", a.Snapshot)
	}
	return " FOR TIMESTAMP AS OF TIMESTAMP '" + a.Time.UTC().Format("2006-01-02 15:04:05.000") + " UTC'"
}

func (a AsOf) String() string {
	if a.Snapshot != 0 {
		return "snapshot " + strconv.FormatInt(a.Snapshot, 10)
	}
	return a.Time.UTC().Format(time.RFC3339Nano)
}

// ErrTimeTravelNeedsIceberg: DuckDB's views and Trino's Hive tables keep
// no history.
var ErrTimeTravelNeedsIceberg = errors.New("time travel needs table_format iceberg (catalog.trino.table_format: iceberg, with catalog.trino.catalog an Iceberg catalog); Hive tables and DuckDB keep no history")

// TimeTravel is a catalog whose queries read its tables as of one point:
// reports run on it unchanged (it is a report.Engine), every table they
// name carries Trino's FOR TIMESTAMP/VERSION AS OF.
type TimeTravel struct {
	c    *Catalog
	asOf AsOf
}

// AsOf is c read as of a. It fails unless c is a Trino catalog whose
// connector is Iceberg (asked of Trino's system.metadata.catalogs).
func (c *Catalog) AsOf(ctx context.Context, a AsOf) (*TimeTravel, error) {
	be, ok := c.be.(*trinoBackend)
	if !ok {
		return nil, ErrTimeTravelNeedsIceberg
	}
	var connector string
	err := c.db.QueryRowContext(ctx, "SELECT connector_name FROM system.metadata.catalogs WHERE catalog_name = "+literal(be.catalog)).Scan(&connector)
	if err != nil {
		return nil, fmt.Errorf("time travel: which connector serves catalog %s: %w", be.catalog, err)
	}
	if connector != "iceberg" {
		return nil, fmt.Errorf("catalog %s is a %s catalog: %w", be.catalog, connector, ErrTimeTravelNeedsIceberg)
	}
	return &TimeTravel{c: c, asOf: a}, nil
}

func (t *TimeTravel) DB() *sql.DB      { return t.c.db }
func (t *TimeTravel) Dialect() Dialect { return t.c.dialect }

// Qualified names table as of the point.
func (t *TimeTravel) Qualified(table string) string { return t.c.Qualified(table) + t.asOf.clause() }

// Columns lists the tables that existed at the point, with their columns
// now (columns only grow; a column added later reads as NULL then, Trino
// reads a snapshot with the table's current schema). A table created
// after the point is left out, so a report over every event table reads
// it as absent instead of failing; a snapshot id names one table, which
// alone is listed.
func (t *TimeTravel) Columns(ctx context.Context) (map[string][]lake.Column, error) {
	cols, err := t.c.Columns(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]lake.Column{}
	for name, cs := range cols {
		ok, err := t.existed(ctx, name)
		if err != nil {
			return nil, err
		}
		if ok {
			out[name] = cs
		}
	}
	if t.asOf.Snapshot != 0 && len(out) == 0 {
		return nil, fmt.Errorf("--as-of %s: no table has that snapshot", t.asOf)
	}
	return out, nil
}

// ReportTables is Catalog.ReportTables (a mark is never removed, so
// today's marks hold at the point too).
func (t *TimeTravel) ReportTables(ctx context.Context, names []string) (map[string]bool, error) {
	return t.c.ReportTables(ctx, names)
}

// existed reports whether table has a snapshot at or before the point
// (for a snapshot id: that snapshot).
func (t *TimeTravel) existed(ctx context.Context, table string) (bool, error) {
	be := t.c.be.(*trinoBackend) // AsOf checked it
	snaps := Quote(be.catalog) + "." + Quote(be.schema) + "." + Quote(table+"$snapshots")
	where := "committed_at <= TIMESTAMP '" + t.asOf.Time.UTC().Format("2006-01-02 15:04:05.000") + " UTC'"
	if t.asOf.Snapshot != 0 {
		where = "snapshot_id = " + strconv.FormatInt(t.asOf.Snapshot, 10)
	}
	var n int64
	if err := t.c.db.QueryRowContext(ctx, "SELECT count(*) FROM "+snaps+" WHERE "+where).Scan(&n); err != nil {
		return false, fmt.Errorf("time travel: history of %s: %w", table, err)
	}
	return n > 0, nil
}

// Query runs ad-hoc SQL as of the point: every reference to one of the
// catalog's tables after FROM, JOIN or a comma of a FROM list (bare,
// schema.table or catalog.schema.table, quoted or not) gets the query
// period. A snapshot id belongs to one table, so the query may name only
// that one; a query naming none of the tables is an error rather than a
// silently current answer.
func (t *TimeTravel) Query(ctx context.Context, q string) (string, error) {
	cols, err := t.c.Columns(ctx)
	if err != nil {
		return "", err
	}
	be := t.c.be.(*trinoBackend)
	out, named, err := applyPeriod(q, cols, be.catalog, be.schema, t.asOf.clause())
	if err != nil {
		return "", fmt.Errorf("--as-of: %w", err)
	}
	if len(named) == 0 {
		return "", fmt.Errorf("--as-of: the query reads none of the tables of %s.%s", be.catalog, be.schema)
	}
	if t.asOf.Snapshot != 0 && len(named) > 1 {
		return "", fmt.Errorf("--as-of %s: a snapshot id belongs to one table and the query reads %s: give a time instead", t.asOf, strings.Join(named, ", "))
	}
	return out, nil
}

// sqlToken is one token of a query: its text and kind.
type sqlToken struct {
	text string
	kind byte // 'w' word, 'q' quoted identifier, 's' string, ' ' space or comment, 'p' punctuation, 'n' number
}

func tokenize(q string) ([]sqlToken, error) {
	var toks []sqlToken
	for i := 0; i < len(q); {
		c := q[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			for i < len(q) && strings.IndexByte(" \t\n\r", q[i]) >= 0 {
				i++
			}
			toks = append(toks, sqlToken{q[start:i], ' '})
		case strings.HasPrefix(q[i:], "--"):
			for i < len(q) && q[i] != '\n' {
				i++
			}
			toks = append(toks, sqlToken{q[start:i], ' '})
		case strings.HasPrefix(q[i:], "/*"):
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return nil, errors.New("unterminated /* comment")
			}
			i += end + 4
			toks = append(toks, sqlToken{q[start:i], ' '})
		case c == '\'' || c == '"':
			i++
			for {
				if i >= len(q) {
					return nil, fmt.Errorf("unterminated %c", c)
				}
				if q[i] == c {
					if i+1 < len(q) && q[i+1] == c { // doubled: escaped
						i += 2
						continue
					}
					i++
					break
				}
				i++
			}
			kind := byte('s')
			if c == '"' {
				kind = 'q'
			}
			toks = append(toks, sqlToken{q[start:i], kind})
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			for i < len(q) && (q[i] == '_' || q[i] == '$' || q[i] >= 'a' && q[i] <= 'z' || q[i] >= 'A' && q[i] <= 'Z' || q[i] >= '0' && q[i] <= '9') {
				i++
			}
			toks = append(toks, sqlToken{q[start:i], 'w'})
		case c >= '0' && c <= '9':
			for i < len(q) && (q[i] >= '0' && q[i] <= '9' || q[i] == '.' || q[i] == 'e' || q[i] == 'E') {
				i++
			}
			toks = append(toks, sqlToken{q[start:i], 'n'})
		default:
			i++
			toks = append(toks, sqlToken{q[start:i], 'p'})
		}
	}
	return toks, nil
}

// identName is a word or quoted identifier as Trino resolves it: words
// fold to lower case, quoted ones keep their text.
func identName(tok sqlToken) (string, bool) {
	switch tok.kind {
	case 'w':
		return strings.ToLower(tok.text), true
	case 'q':
		return strings.ReplaceAll(tok.text[1:len(tok.text)-1], `""`, `"`), true
	}
	return "", false
}

// fromListEnd are the words after which a FROM list's commas no longer
// separate relations.
var fromListEnd = map[string]bool{"where": true, "group": true, "having": true, "order": true, "limit": true, "offset": true, "fetch": true,
	"union": true, "intersect": true, "except": true, "window": true, "on": true, "using": true, "select": true}

// applyPeriod inserts period after every reference to one of tables
// (of catalog.schema) in a relation position. It returns the tables named.
func applyPeriod(q string, tables map[string][]lake.Column, catalogName, schema, period string) (string, []string, error) {
	toks, err := tokenize(q)
	if err != nil {
		return "", nil, err
	}
	next := func(i int) int { // the next significant token at or after i
		for i < len(toks) && toks[i].kind == ' ' {
			i++
		}
		return i
	}
	insertAfter := map[int]bool{}
	named := map[string]bool{}
	// inFrom per parenthesis depth: a comma there starts another relation.
	inFrom := map[int]bool{}
	depth := 0
	expectRelation := false
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		if tok.kind == ' ' {
			continue
		}
		word := ""
		if tok.kind == 'w' {
			word = strings.ToLower(tok.text)
		}
		switch {
		case tok.text == "(":
			depth++
			inFrom[depth] = false
			expectRelation = false
			continue
		case tok.text == ")":
			inFrom[depth] = false
			depth--
			expectRelation = false
			continue
		case word == "from" || word == "join":
			inFrom[depth] = true
			expectRelation = true
			continue
		case tok.text == "," && inFrom[depth]:
			expectRelation = true
			continue
		case fromListEnd[word]:
			inFrom[depth] = false
		}
		if !expectRelation {
			continue
		}
		expectRelation = false
		// An identifier chain a[.b[.c]].
		var parts []string
		j := i
		for {
			name, ok := identName(toks[j])
			if !ok {
				break
			}
			parts = append(parts, name)
			k := next(j + 1)
			if k < len(toks) && toks[k].text == "." {
				if m := next(k + 1); m < len(toks) {
					j = m
					continue
				}
			}
			break
		}
		if len(parts) == 0 || len(parts) > 3 {
			continue
		}
		table := parts[len(parts)-1]
		if _, ok := tables[table]; !ok {
			continue
		}
		if len(parts) >= 2 && parts[len(parts)-2] != strings.ToLower(schema) {
			continue
		}
		if len(parts) == 3 && parts[0] != strings.ToLower(catalogName) {
			continue
		}
		if k := next(j + 1); k < len(toks) && strings.EqualFold(toks[k].text, "for") {
			return "", nil, fmt.Errorf("%s already has a FOR … AS OF of its own", table)
		}
		insertAfter[j] = true
		named[table] = true
		i = j
	}
	var b strings.Builder
	for i, tok := range toks {
		b.WriteString(tok.text)
		if insertAfter[i] {
			b.WriteString(period)
		}
	}
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	return b.String(), names, nil
}
