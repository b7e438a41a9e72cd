package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// Iceberg table maintenance through Trino's own procedures: each is one
// Iceberg commit (or, for the expiries, no commit a reader can see), so a
// reader never sees a half-done step. The jobs/compact and jobs/retention
// Iceberg jobs drive these; they never touch an Iceberg table's files
// themselves.

// errNotTrino: the procedures exist only on Trino's Iceberg connector.
var errNotTrino = errors.New("iceberg maintenance runs on Trino (catalog.kind: trino)")

func (c *Catalog) trino() (*trinoBackend, error) {
	be, ok := c.be.(*trinoBackend)
	if !ok {
		return nil, errNotTrino
	}
	return be, nil
}

// hourText is how a timestamp literal of an hour boundary is written.
const hourText = "2006-01-02 15:04:05"

func timestampLiteral(t time.Time) string {
	return "TIMESTAMP " + literal(t.UTC().Format(hourText))
}

// SmallFileHours lists the hours (by event_time) that ended by before and
// hold two or more data files under threshold bytes: what one OPTIMIZE
// per hour would merge. It reads the table's $files metadata table (no
// data), grouping by each file's event_time lower bound: every file of an
// hour(event_time) partition lies in one hour.
func (c *Catalog) SmallFileHours(ctx context.Context, table string, threshold int64, before time.Time) ([]time.Time, error) {
	be, err := c.trino()
	if err != nil {
		return nil, err
	}
	if !validTable(table) {
		return nil, fmt.Errorf("small files: %q is not a table name", table)
	}
	files := Quote(be.catalog) + "." + Quote(be.schema) + "." + Quote(table+"$files")
	q := fmt.Sprintf(`SELECT substr(json_extract_scalar(readable_metrics, '$.event_time.lower_bound'), 1, 13) AS h
FROM %s WHERE content = 0 AND file_size_in_bytes < %d GROUP BY 1 HAVING count(*) > 1`, files, threshold)
	rows, err := c.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("small files of %s: %w", table, err)
	}
	defer rows.Close()
	var hours []time.Time
	for rows.Next() {
		var h sql.NullString
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("small files of %s: %w", table, err)
		}
		if !h.Valid {
			continue // files without event_time statistics: no hour to name
		}
		start, err := time.Parse("2006-01-02T15", h.String)
		if err != nil {
			return nil, fmt.Errorf("small files of %s: event_time bound %q: %w", table, h.String, err)
		}
		if !start.Add(time.Hour).After(before) {
			hours = append(hours, start)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("small files of %s: %w", table, err)
	}
	sort.Slice(hours, func(i, j int) bool { return hours[i].Before(hours[j]) })
	return hours, nil
}

// OptimizeHour rewrites the data files under threshold bytes of one hour
// of table into files of the table's target size, in one Iceberg commit
// (a "replace" snapshot): readers see the old files or the new ones,
// never both. The WHERE names whole hours of event_time, which Trino
// needs to map onto the table's hour(event_time) partitions.
func (c *Catalog) OptimizeHour(ctx context.Context, table string, hour time.Time, threshold int64) error {
	if _, err := c.trino(); err != nil {
		return err
	}
	if !validTable(table) {
		return fmt.Errorf("optimize: %q is not a table name", table)
	}
	hour = hour.UTC().Truncate(time.Hour)
	q := fmt.Sprintf("ALTER TABLE %s EXECUTE optimize(file_size_threshold => '%dB') WHERE event_time >= %s AND event_time < %s",
		c.Qualified(table), threshold, timestampLiteral(hour), timestampLiteral(hour.Add(time.Hour)))
	if err := retryLostRace(ctx, func() error { _, err := c.db.ExecContext(ctx, q); return err }); err != nil {
		return fmt.Errorf("optimize %s hour %s: %w", table, hour.Format(time.RFC3339), err)
	}
	return nil
}

// lostRaceAttempts bounds how often a maintenance commit that lost a race
// with another commit (an ingest batch's) is tried again.
const lostRaceAttempts = 6

// retryLostRace runs commit again, after a short wait, while it fails
// because another commit changed the table first: the metastore refused
// the swap of the metadata pointer ("The table has been modified"), so
// nothing was committed, or Iceberg found a conflicting commit. Each try
// plans afresh from the table's new state; Trino does not retry these
// itself.
func retryLostRace(ctx context.Context, commit func() error) error {
	var err error
	for attempt := range lostRaceAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(ctx.Err(), err)
			case <-time.After(time.Duration(200<<attempt) * time.Millisecond):
			}
		}
		if err = commit(); err == nil || !lostRace(err) {
			return err
		}
	}
	return err
}

func lostRace(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "The table has been modified") || strings.Contains(msg, "Found conflicting files") ||
		strings.Contains(msg, "CommitFailedException")
}

// DeleteBefore deletes every row of table whose event_time is before
// cutoff, a whole hour: the predicate covers whole hour(event_time)
// partitions, so Trino drops their files from the table's metadata in one
// "delete" commit, without rewriting or position-delete files. It returns
// the rows deleted when Trino reports them (-1 when it does not).
func (c *Catalog) DeleteBefore(ctx context.Context, table string, cutoff time.Time) (int64, error) {
	if _, err := c.trino(); err != nil {
		return 0, err
	}
	if !validTable(table) {
		return 0, fmt.Errorf("delete: %q is not a table name", table)
	}
	if !cutoff.Equal(cutoff.Truncate(time.Hour)) {
		return 0, fmt.Errorf("delete from %s: cutoff %s is not a whole hour (a partial hour would rewrite files)", table, cutoff.Format(time.RFC3339))
	}
	var res sql.Result
	err := retryLostRace(ctx, func() (err error) {
		res, err = c.db.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE event_time < %s", c.Qualified(table), timestampLiteral(cutoff)))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete from %s before %s: %w", table, cutoff.Format(time.RFC3339), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return -1, nil
	}
	return n, nil
}

// ExpireSnapshots removes the snapshots of table older than keep (the
// current one always stays), and with them the data and metadata files
// only they referenced: the files compaction replaced and retention
// deleted. Time travel reaches back as far as keep.
func (c *Catalog) ExpireSnapshots(ctx context.Context, table string, keep time.Duration) error {
	return c.icebergProcedure(ctx, table, "expire_snapshots", "expire_snapshots_min_retention", keep)
}

// RemoveOrphanFiles deletes files under table's location that no
// snapshot references and that are older than keep. keep must exceed the
// longest time from a file's upload to its commit (see README, "Iceberg
// or Hive?"): a younger unreferenced file may be one an ingest batch is
// about to commit.
func (c *Catalog) RemoveOrphanFiles(ctx context.Context, table string, keep time.Duration) error {
	return c.icebergProcedure(ctx, table, "remove_orphan_files", "remove_orphan_files_min_retention", keep)
}

// icebergProcedure runs ALTER TABLE … EXECUTE proc(retention_threshold)
// on one connection that first lowers Trino's floor for the threshold
// (minProp, a catalog session property; 7 days by default) to keep:
// silt's configuration is where a deployment states its retention, and
// silt validates its own floor there.
func (c *Catalog) icebergProcedure(ctx context.Context, table, proc, minProp string, keep time.Duration) error {
	be, err := c.trino()
	if err != nil {
		return err
	}
	if !validTable(table) {
		return fmt.Errorf("%s: %q is not a table name", proc, table)
	}
	secs := int64(keep / time.Second)
	if secs < 1 {
		return fmt.Errorf("%s of %s: retention %s is under a second", proc, table, keep)
	}
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s of %s: %w", proc, table, err)
	}
	defer func() { _ = conn.Close() }()
	threshold := fmt.Sprintf("'%ds'", secs)
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION %s.%s = %s", Quote(be.catalog), minProp, threshold)); err != nil {
		return fmt.Errorf("%s of %s: set %s: %w", proc, table, minProp, err)
	}
	q := fmt.Sprintf("ALTER TABLE %s EXECUTE %s(retention_threshold => %s)", c.Qualified(table), proc, threshold)
	if err := retryLostRace(ctx, func() error { _, err := conn.ExecContext(ctx, q); return err }); err != nil {
		return fmt.Errorf("%s of %s: %w", proc, table, err)
	}
	return nil
}

// TableNames lists the tables of the catalog's schema that silt could
// have made (identifiers and _dead_letter).
func (c *Catalog) TableNames(ctx context.Context) ([]string, error) {
	cols, err := c.Columns(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(cols)), nil
}
