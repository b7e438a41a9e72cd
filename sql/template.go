package sql

import (
	"fmt"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/silt-etl/silt/internal/ident"
	"github.com/silt-etl/silt/lake"
)

// Engine is what rendering needs to know of the engine and its catalog.
type Engine struct {
	Dialect string                   // "trino" or "duckdb"
	Tables  map[string][]lake.Column // registered tables and their columns
	// ReportTables are the registered tables that store a report's
	// output, not an event type: events leaves them out (else a report
	// storing its rows would count them as events on its next run); from
	// still reads them by name.
	ReportTables map[string]bool
	Qualify      func(table string) string
}

// The template functions, the only engine-dependent SQL in reports:
//
//	{{events "event_time:timestamp" "host"}}  every event table having all
//	    these columns (of these types; varchar unless given, or the system
//	    column's type) as one relation: event_type (the table name) and the
//	    columns, UNION ALL over the tables; an empty relation when none has.
//	    Report tables (a report job's table:) are not event tables.
//	{{from "log" "event_time:timestamp" "level"}}  one table's columns, the
//	    same empty relation when the table or a column is missing.
//	{{name .key}}  a string param as a column or table name, checked to be
//	    an identifier ([a-z_][a-z0-9_]*): "{{name .key}}" in the query, or
//	    (name .table) and (printf "%s:double" (name .value)) as arguments
//	    of from, so one report serves any table and columns.
//	{{window "event_time" .window}}  the start of the window (aligned to
//	    the Unix epoch, UTC) holding the timestamp column: .window is a
//	    duration param (10s, 1m, 1h; whole seconds, up to 7 days) or, as
//	    before durations, an int param counting minutes.
//
// Params print as literals: {{.start}} is TIMESTAMP '2024-05-01 10:00:00.000'.
var placeholderFuncs = template.FuncMap{
	"name":   func(any) (string, error) { return "", nil },
	"events": func(...string) (string, error) { return "", nil },
	"from":   func(string, ...string) (string, error) { return "", nil },
	"window": func(string, any) (string, error) { return "", nil },
}

var castTypes = map[string]map[string]string{
	"trino":  {lake.TypeVarchar: "varchar", lake.TypeDouble: "double", lake.TypeBigint: "bigint", lake.TypeBoolean: "boolean", lake.TypeTimestamp: "timestamp(3)"},
	"duckdb": {lake.TypeVarchar: "VARCHAR", lake.TypeDouble: "DOUBLE", lake.TypeBigint: "BIGINT", lake.TypeBoolean: "BOOLEAN", lake.TypeTimestamp: "TIMESTAMP"},
}

// Render gives the report's query for e with the resolved values.
func (r *Report) Render(e Engine, values map[string]any) (string, error) {
	types, ok := castTypes[e.Dialect]
	if !ok {
		return "", fmt.Errorf("render %s: unknown dialect %q", r.Name, e.Dialect)
	}
	g := &gen{e: e, types: types}
	t, err := r.body.Clone()
	if err != nil {
		return "", err
	}
	t.Funcs(template.FuncMap{"name": paramName, "events": g.events, "from": g.from, "window": g.window})
	var b strings.Builder
	if err := t.Execute(&b, values); err != nil {
		return "", fmt.Errorf("render %s: %w", r.Name, err)
	}
	return b.String(), nil
}

type gen struct {
	e     Engine
	types map[string]string
}

type colSpec struct{ name, typ string }

func parseSpecs(specs []string) ([]colSpec, error) {
	out := make([]colSpec, len(specs))
	for i, s := range specs {
		name, typ, ok := strings.Cut(s, ":")
		if !ok {
			typ = lake.TypeVarchar
			for _, c := range lake.SystemColumns {
				if c.Name == name {
					typ = c.Type
				}
			}
		}
		if !ident.Valid(name) {
			return nil, fmt.Errorf("column %q is not an identifier", name)
		}
		if _, known := castTypes["trino"][typ]; !known {
			return nil, fmt.Errorf("column %s: type %q: use varchar, double, bigint, boolean or timestamp", name, typ)
		}
		out[i] = colSpec{name, typ}
	}
	return out, nil
}

// has reports whether table has every column with the wanted type.
func (g *gen) has(table string, cols []colSpec) bool {
	have, ok := g.e.Tables[table]
	if !ok {
		return false
	}
	for _, c := range cols {
		found := false
		for _, h := range have {
			found = found || (h.Name == c.name && h.Type == c.typ)
		}
		if !found {
			return false
		}
	}
	return true
}

func (g *gen) selectList(cols []colSpec, null bool) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		src := `"` + c.name + `"`
		if null {
			src = "NULL"
		}
		parts[i] = fmt.Sprintf(`CAST(%s AS %s) AS "%s"`, src, g.types[c.typ], c.name)
	}
	return strings.Join(parts, ", ")
}

func (g *gen) events(specs ...string) (string, error) {
	cols, err := parseSpecs(specs)
	if err != nil {
		return "", fmt.Errorf("events: %w", err)
	}
	names := make([]string, 0, len(g.e.Tables))
	for n := range g.e.Tables {
		if ident.Valid(n) && !g.e.ReportTables[n] && g.has(n, cols) { // leaves out _dead_letter
			names = append(names, n)
		}
	}
	sort.Strings(names)
	sep := ", "
	if len(cols) == 0 {
		sep = ""
	}
	if len(names) == 0 {
		return fmt.Sprintf("(SELECT CAST(NULL AS %s) AS event_type%s%s WHERE false)", g.types[lake.TypeVarchar], sep, g.selectList(cols, true)), nil
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("SELECT CAST('%s' AS %s) AS event_type%s%s FROM %s", n, g.types[lake.TypeVarchar], sep, g.selectList(cols, false), g.e.Qualify(n))
	}
	return "(" + strings.Join(parts, " UNION ALL ") + ")", nil
}

func (g *gen) from(table string, specs ...string) (string, error) {
	if !ident.Valid(table) {
		return "", fmt.Errorf("from: table %q is not an identifier", table)
	}
	cols, err := parseSpecs(specs)
	if err != nil {
		return "", fmt.Errorf("from %s: %w", table, err)
	}
	if len(cols) == 0 {
		return "", fmt.Errorf("from %s: name the columns the query uses", table)
	}
	if !g.has(table, cols) {
		return fmt.Sprintf("(SELECT %s WHERE false)", g.selectList(cols, true)), nil
	}
	return fmt.Sprintf("(SELECT %s FROM %s)", g.selectList(cols, false), g.e.Qualify(table)), nil
}

// window truncates to whole seconds since the epoch, divides, multiplies
// back: plain integer arithmetic both engines agree on, where their
// bucketing functions differ in origin and result type.
func (g *gen) window(column string, size any) (string, error) {
	if !ident.Valid(column) {
		return "", fmt.Errorf("window: column %q is not an identifier", column)
	}
	var s int64
	switch v := size.(type) {
	case Duration:
		s = int64(time.Duration(v) / time.Second)
		if s < 1 || s > 7*24*3600 {
			return "", fmt.Errorf("window: %s: use 1s to 168h", time.Duration(v))
		}
	case Int, int:
		m, _ := v.(Int)
		if n, ok := v.(int); ok {
			m = Int(n)
		}
		if m < 1 || m > 7*24*60 {
			return "", fmt.Errorf("window: %d minutes: use 1 to 10080", m)
		}
		s = int64(m) * 60
	default:
		return "", fmt.Errorf("window: the size must be a duration param (10s, 1m, 1h) or an int param of minutes, got %T", size)
	}
	const epoch = "TIMESTAMP '1970-01-01 00:00:00'"
	secs := fmt.Sprintf(`date_diff('second', %s, "%s")`, epoch, column)
	if g.e.Dialect == "trino" {
		return fmt.Sprintf("date_add('second', %s / %d * %d, %s)", secs, s, s, epoch), nil
	}
	return fmt.Sprintf("(%s + to_seconds(%s // %d * %d))", epoch, secs, s, s), nil
}

// paramName is a string param's text when it is an identifier; anything
// else (quotes, spaces, SQL) is an error, so a name never carries SQL.
func paramName(v any) (string, error) {
	var text string
	switch n := v.(type) {
	case String:
		text = string(n)
	case string:
		text = n
	default:
		return "", fmt.Errorf("name: want a string param, got %T", v)
	}
	if !ident.Valid(text) {
		return "", fmt.Errorf("name: %q is not a table or column name (letters, digits and _)", text)
	}
	return text, nil
}
