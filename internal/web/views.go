package web

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/silt-etl/silt/internal/deadletters"
)

//go:embed views.html
var viewTemplates string

var views = template.Must(template.New("views").Parse(viewTemplates))

// DeadLetters reads the dead-letter table (deadletters.Reader).
type DeadLetters interface {
	Read(ctx context.Context, f deadletters.Filter) (deadletters.Summary, error)
}

// deadLetterExcerpt is how much of a dead letter's raw text the view shows.
const deadLetterExcerpt = 200

// defaultDeadWindow is how far back the dead-letters view looks unless
// ?since= says otherwise, and defaultDeadLimit how many it lists.
const (
	defaultDeadWindow = 24 * time.Hour
	defaultDeadLimit  = 50
)

type tablesPage struct {
	Now        time.Time
	SmallBytes string
	Tables     []tableStatsView
	Err        string
	// Iceberg: the tables are Iceberg tables, whose lake numbers need a note.
	Iceberg bool
}

type tableStatsView struct {
	TableStats
	Size string
}

func (s *Server) tablesView(w http.ResponseWriter, r *http.Request) {
	d := tablesPage{Now: s.opts.Now().UTC(), SmallBytes: "not set"}
	if l, ok := s.opts.TableStats.(*LakeTableStats); ok && l.TargetFileBytes > 0 {
		d.SmallBytes = "under " + humanBytes(l.TargetFileBytes/4)
	}
	if l, ok := s.opts.TableStats.(*LakeTableStats); ok {
		d.Iceberg = l.Iceberg
	}
	if s.opts.TableStats == nil {
		d.Err = "no lake to read tables from"
	} else {
		tables, err := s.opts.TableStats.TableStats(r.Context())
		if err != nil {
			d.Err = err.Error()
		}
		for _, t := range tables {
			d.Tables = append(d.Tables, tableStatsView{TableStats: t, Size: humanBytes(t.Bytes)})
		}
	}
	s.render(w, "tables", d)
}

type deadLettersPage struct {
	Window, Since, Kind string
	Total               int64
	ByKind              []deadletters.KindCount
	ByHour              []deadletters.HourCount
	Latest              []letterView
	Err                 string
}

type letterView struct {
	deadletters.Letter
	Excerpt string
	Binary  bool
}

func (s *Server) deadLettersView(w http.ResponseWriter, r *http.Request) {
	window := defaultDeadWindow
	if v := r.URL.Query().Get("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			http.Error(w, fmt.Sprintf("since=%q: give a duration such as 24h or 90m", v), http.StatusBadRequest)
			return
		}
		window = d
	}
	limit := defaultDeadLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 10_000 {
			http.Error(w, fmt.Sprintf("limit=%q: give 1 to 10000", v), http.StatusBadRequest)
			return
		}
		limit = n
	}
	d := deadLettersPage{Window: "in the last " + shortDuration(window), Since: shortDuration(window), Kind: r.URL.Query().Get("reason")}
	if s.opts.DeadLetters == nil {
		d.Err = "no lake to read dead letters from"
	} else {
		sum, err := s.opts.DeadLetters.Read(r.Context(), deadletters.Filter{Since: s.opts.Now().Add(-window), Kind: d.Kind, Limit: limit})
		if err != nil {
			d.Err = err.Error()
		}
		d.Total, d.ByKind, d.ByHour = sum.Total, sum.ByKind, sum.ByHour
		for _, l := range sum.Latest {
			d.Latest = append(d.Latest, letterView{Letter: l, Excerpt: l.Excerpt(deadLetterExcerpt), Binary: l.RawBase64 != ""})
		}
	}
	s.render(w, "deadletters", d)
}

// render executes a view into a buffer first, so a template error is a
// clean 500.
func (s *Server) render(w http.ResponseWriter, name string, data any) {
	var buf bytes.Buffer
	if err := views.ExecuteTemplate(&buf, name, data); err != nil {
		s.opts.Logger.Error("render "+name, "err", err)
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// shortDuration prints 24h0m0s as 24h and 1h30m0s as 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
