// Package deadletters reads the lake's dead-letter table (records ingest
// could not route or type, with the reason) for `silt deadletters` and the
// status page. DuckDB reads the Parquet objects: in place on a local lake,
// from a local copy of the objects needed on an S3 lake (DuckDB's own S3
// reader is an extension it would download at run time).
package deadletters

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	_ "github.com/marcboeker/go-duckdb" // registers the "duckdb" database/sql driver

	"github.com/silt-etl/silt/lake"
)

// Letter is one dead letter.
type Letter struct {
	// At is the Kafka record's time (the dead-letter table's event_time).
	At         time.Time `json:"at"`
	Topic      string    `json:"topic"`
	Partition  int32     `json:"partition"`
	Offset     int64     `json:"offset"`
	IngestedAt time.Time `json:"ingested_at"`
	// Reason is the whole reason ("not_json: ..."), Kind its leading word.
	Reason string `json:"reason"`
	Kind   string `json:"kind"`
	// Raw is the record as text (invalid UTF-8 replaced); RawBase64 holds
	// the exact bytes when it was not valid UTF-8.
	Raw       string `json:"raw"`
	RawBase64 string `json:"raw_base64,omitempty"`
}

// Excerpt is the first n characters of the raw text with every control and
// format character (escape sequences, newlines, bidirectional overrides)
// shown as a \u escape, so it is safe to print on a terminal or in a
// single table cell; "…" marks a cut. HTML still needs escaping.
func (l Letter) Excerpt(n int) string { return SafeExcerpt(l.Raw, n) }

// SafeExcerpt is Letter.Excerpt of any text.
func SafeExcerpt(s string, n int) string {
	var b strings.Builder
	count := 0
	for _, r := range s {
		if count == n {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			fmt.Fprintf(&b, `\u%04x`, r)
		} else {
			b.WriteRune(r)
		}
		count++
	}
	return b.String()
}

// Filter selects dead letters.
type Filter struct {
	// Since keeps dead letters whose Kafka record time is at or after it
	// (zero: all).
	Since time.Time
	// Kind keeps one reason kind (not_json, type_conflict, ...); empty: all.
	Kind string
	// Limit is how many of the latest to return (0: all).
	Limit int
}

// Summary is the dead letters a filter selects: counts by reason kind and
// the latest ones.
type Summary struct {
	Total  int64
	ByKind []KindCount // most first
	ByHour []HourCount // by Kafka record hour (UTC), newest first, then by kind
	Latest []Letter    // newest first
}

// HourCount is how many dead letters of one reason kind have a Kafka
// record time in one hour: the counts by reason over time.
type HourCount struct {
	Hour  time.Time
	Kind  string
	Count int64
}

// KindCount is how many dead letters have one reason kind.
type KindCount struct {
	Kind  string
	Count int64
}

// Reader reads the dead-letter table of one lake. It keeps local copies of
// an S3 lake's objects between reads (refreshed when an object changes), so
// a status page refreshing every few seconds downloads each object once.
// Close removes them.
type Reader struct {
	store lake.Store

	mu      sync.Mutex
	dir     string                 // local copies of remote objects; "" until first needed
	copies  map[string]lake.Object // key -> the object as copied
	ownsDir bool
}

// NewReader reads store's dead letters. cacheDir holds local copies of a
// remote lake's objects (empty: a temporary directory, removed by Close).
func NewReader(store lake.Store, cacheDir string) *Reader {
	return &Reader{store: store, dir: cacheDir, copies: map[string]lake.Object{}}
}

// Close removes the local copies the reader made.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ownsDir && r.dir != "" {
		return os.RemoveAll(r.dir)
	}
	return nil
}

// pathed is a store whose objects are files DuckDB can open (lake.Local).
type pathed interface{ Path(key string) string }

// Read counts and lists the dead letters f selects. Records that appear in
// two objects (compaction's window between writing a merged object and
// deleting its inputs) count once.
func (r *Reader) Read(ctx context.Context, f Filter) (Summary, error) {
	var sum Summary
	files, err := r.files(ctx, f.Since)
	if err != nil || len(files) == 0 {
		return sum, err
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return sum, fmt.Errorf("open duckdb: %w", err)
	}
	defer db.Close()
	quoted := make([]string, len(files))
	for i, p := range files {
		quoted[i] = "'" + strings.ReplaceAll(p, "'", "''") + "'"
	}
	var since int64 = -1 << 62
	if !f.Since.IsZero() {
		since = f.Since.UnixMilli()
	}
	selected := fmt.Sprintf(`WITH d AS (
  SELECT * FROM read_parquet([%s], union_by_name=true)
  WHERE epoch_ms(event_time) >= $1 AND ($2 = '' OR split_part(reason, ':', 1) = $2)
  QUALIFY row_number() OVER (PARTITION BY kafka_topic, kafka_partition, kafka_offset) = 1
)`, strings.Join(quoted, ", "))

	rows, err := db.QueryContext(ctx, selected+` SELECT split_part(reason, ':', 1) AS kind, count(*) AS n FROM d GROUP BY 1 ORDER BY n DESC, kind`, since, f.Kind)
	if err != nil {
		return sum, fmt.Errorf("count dead letters: %w", err)
	}
	for rows.Next() {
		var kc KindCount
		if err := rows.Scan(&kc.Kind, &kc.Count); err != nil {
			rows.Close()
			return sum, fmt.Errorf("count dead letters: %w", err)
		}
		sum.ByKind = append(sum.ByKind, kc)
		sum.Total += kc.Count
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sum, fmt.Errorf("count dead letters: %w", err)
	}

	rows, err = db.QueryContext(ctx, selected+` SELECT date_trunc('hour', event_time) AS hour, split_part(reason, ':', 1) AS kind, count(*) AS n
FROM d GROUP BY 1, 2 ORDER BY 1 DESC, 2`, since, f.Kind)
	if err != nil {
		return sum, fmt.Errorf("count dead letters by hour: %w", err)
	}
	for rows.Next() {
		var hc HourCount
		if err := rows.Scan(&hc.Hour, &hc.Kind, &hc.Count); err != nil {
			rows.Close()
			return sum, fmt.Errorf("count dead letters by hour: %w", err)
		}
		hc.Hour = hc.Hour.UTC()
		sum.ByHour = append(sum.ByHour, hc)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sum, fmt.Errorf("count dead letters by hour: %w", err)
	}

	q := selected + ` SELECT event_time, kafka_topic, kafka_partition, kafka_offset, ingested_at, reason, raw_event, raw_base64
FROM d ORDER BY event_time DESC, kafka_topic, kafka_partition, kafka_offset DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err = db.QueryContext(ctx, q, since, f.Kind)
	if err != nil {
		return sum, fmt.Errorf("read dead letters: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l Letter
		var part int64
		var ingested sql.NullTime
		var reason, raw, b64 sql.NullString
		if err := rows.Scan(&l.At, &l.Topic, &part, &l.Offset, &ingested, &reason, &raw, &b64); err != nil {
			return sum, fmt.Errorf("read dead letters: %w", err)
		}
		l.Partition, l.IngestedAt = int32(part), ingested.Time.UTC()
		l.At = l.At.UTC()
		l.Reason, l.Raw, l.RawBase64 = reason.String, raw.String, b64.String
		l.Kind, _, _ = strings.Cut(l.Reason, ":")
		sum.Latest = append(sum.Latest, l)
	}
	if err := rows.Err(); err != nil {
		return sum, fmt.Errorf("read dead letters: %w", err)
	}
	return sum, nil
}

// files are local paths of the dead-letter objects in partitions that can
// hold records from since on, copying a remote lake's objects as needed.
func (r *Reader) files(ctx context.Context, since time.Time) ([]string, error) {
	objs, err := r.store.List(ctx, lake.TablePrefix(lake.DeadLetterTable))
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	var keep []lake.Object
	listed := make(map[string]bool, len(objs))
	for _, o := range objs {
		listed[o.Key] = true
		if !strings.HasSuffix(o.Key, ".parquet") {
			continue
		}
		if !since.IsZero() {
			p, ok := lake.ParsePartitionPrefix(o.Key)
			if !ok {
				continue
			}
			start, err := p.Start()
			if err != nil || !start.Add(time.Hour).After(since) {
				continue
			}
		}
		keep = append(keep, o)
	}
	if ps, ok := r.store.(pathed); ok {
		out := make([]string, len(keep))
		for i, o := range keep {
			out[i] = ps.Path(o.Key)
		}
		return out, nil
	}
	return r.copy(ctx, keep, listed)
}

// copy brings objs into the reader's directory, each once per version,
// and removes copies of objects no longer listed (compacted or expired).
func (r *Reader) copy(ctx context.Context, objs []lake.Object, listed map[string]bool) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dir == "" {
		dir, err := os.MkdirTemp("", "silt-deadletters-")
		if err != nil {
			return nil, fmt.Errorf("local copies of dead letters: %w", err)
		}
		r.dir, r.ownsDir = dir, true
	}
	for key := range r.copies {
		if !listed[key] {
			_ = os.Remove(filepath.Join(r.dir, filepath.FromSlash(key)))
			delete(r.copies, key)
		}
	}
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		path := filepath.Join(r.dir, filepath.FromSlash(o.Key))
		if had, ok := r.copies[o.Key]; !ok || had.Size != o.Size || !had.Modified.Equal(o.Modified) {
			if err := download(ctx, r.store, o.Key, path); err != nil {
				if errors.Is(err, lake.ErrNotExist) {
					continue // compacted away since the listing
				}
				return nil, err
			}
			r.copies[o.Key] = o
		}
		out = append(out, path)
	}
	sort.Strings(out)
	return out, nil
}

func download(ctx context.Context, st lake.Store, key, path string) error {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("copy %s: %w", key, err)
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("copy %s: %w", key, err)
	}
	tmp := path + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("copy %s: %w", key, err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("copy %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("copy %s: %w", key, err)
	}
	return os.Rename(tmp, path)
}
