// Package sql holds silt's reports: .sql files with a small header,
// embedded in the binary, plus any a user keeps in reports.dir. One report
// runs unchanged on Trino and DuckDB: its SQL is the engines' common
// subset, and the few things that differ (time buckets, the list of event
// tables) come from template functions, see Render.
//
// A report file starts with header lines:
//
//	-- name: error_alert
//	-- description: log-level counts per window, alert when ERROR > threshold
//	-- schedule: @every 1m
//	-- params: window_minutes=int:1, threshold=int:1, start=timestamp:now-1h, end=timestamp:now
//	-- alert: errors > threshold
//
// and the rest is a Go text/template of the query.
package sql

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/silt-etl/silt/internal/ident"
)

//go:embed reports/*.sql
var builtin embed.FS

// Report is one parsed report file.
type Report struct {
	Name        string
	Description string
	Schedule    string // a default for jobs that do not set one; may be empty
	Params      []Param
	Alert       *Condition // nil: never alerts
	Source      string     // where it was read from
	body        *template.Template
}

// Parse reads a report file. source names it in errors.
func Parse(source string, text string) (*Report, error) {
	r := &Report{Source: source}
	lines := strings.Split(text, "\n")
	i := 0
	for ; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" {
			continue
		}
		rest, ok := strings.CutPrefix(line, "--")
		if !ok {
			break
		}
		key, val, ok := strings.Cut(strings.TrimSpace(rest), ":")
		if !ok {
			continue // a plain comment
		}
		val = strings.TrimSpace(val)
		var err error
		switch strings.TrimSpace(key) {
		case "name":
			r.Name = val
		case "description":
			r.Description = val
		case "schedule":
			r.Schedule = val
		case "params":
			r.Params, err = parseParams(val)
		case "alert":
			r.Alert, err = parseCondition(val)
		}
		if err != nil {
			return nil, fmt.Errorf("report %s: line %d: %w", source, i+1, err)
		}
	}
	if !ident.Valid(r.Name) {
		return nil, fmt.Errorf("report %s: header '-- name:' %q is missing or not a name like host_breakdown", source, r.Name)
	}
	if r.Alert != nil {
		if err := r.Alert.check(r.Params); err != nil {
			return nil, fmt.Errorf("report %s: alert: %w", source, err)
		}
	}
	body := strings.Join(lines[i:], "\n")
	if strings.TrimSpace(body) == "" {
		return nil, fmt.Errorf("report %s: no query after the header", source)
	}
	t, err := template.New(r.Name).Option("missingkey=error").Funcs(placeholderFuncs).Parse(body)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", source, err)
	}
	r.body = t
	return r, nil
}

// Load reads the built-in reports and then every *.sql file in dir (if
// not empty); a user's report replaces a built-in one of the same name.
func Load(dir string) (map[string]*Report, error) {
	out := map[string]*Report{}
	add := func(fsys fs.FS, root, label string) error {
		pattern := "*.sql"
		if root != "." {
			pattern = root + "/" + pattern
		}
		names, err := fs.Glob(fsys, pattern)
		if err != nil {
			return err
		}
		sort.Strings(names)
		for _, n := range names {
			raw, err := fs.ReadFile(fsys, n)
			if err != nil {
				return fmt.Errorf("read report %s: %w", n, err)
			}
			r, err := Parse(label+filepath.Base(n), string(raw))
			if err != nil {
				return err
			}
			out[r.Name] = r
		}
		return nil
	}
	if err := add(builtin, "reports", "builtin:"); err != nil {
		return nil, err
	}
	if dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("reports.dir: %w", err)
		}
		if err := add(os.DirFS(dir), ".", dir+string(filepath.Separator)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Names lists reports sorted by name.
func Names(reports map[string]*Report) []string {
	out := make([]string, 0, len(reports))
	for n := range reports {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
