package config

import (
	"fmt"
	"regexp"

	"github.com/silt-etl/silt/internal/ident"
)

// ReportWatermark makes a windowed report job emit only the windows closed
// by the event-time watermark: the newest event time in the table minus
// AllowedLateness.
type ReportWatermark struct {
	AllowedLateness Duration `yaml:"allowed_lateness"`
	// Table is the table whose newest event drives the watermark; empty:
	// the report's table param, or every event table.
	Table string `yaml:"table"`
}

// ReportPublish sends a report job's rows to a Kafka topic, one JSON
// record per row.
type ReportPublish struct {
	Topic string `yaml:"topic"`
	// Key lists the columns making each record's key; empty: window_start
	// and every text column.
	Key []string `yaml:"key"`
}

// ReportTable stores a report job's rows in a lake table registered in
// the catalog.
type ReportTable struct {
	Name string `yaml:"name"`
}

// kafkaTopicName is what Kafka accepts as a topic name.
var kafkaTopicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// validateReportSinks checks a job's watermark, publish and table keys.
func validateReportSinks(key string, j Job, bad badKey) {
	if j.Kind != "report" {
		for _, k := range []struct {
			name string
			set  bool
		}{{"watermark", j.Watermark != nil}, {"publish", j.Publish != nil}, {"table", j.Table != nil}} {
			if k.set {
				bad(key+"."+k.name, "job %q is of kind %s: only report jobs take %s (remove it)", j.Name, j.Kind, k.name)
			}
		}
		return
	}
	if w := j.Watermark; w != nil {
		if w.AllowedLateness.Std() < 0 {
			bad(key+".watermark.allowed_lateness", "%s is negative: use 0s or more, e.g. 30s", w.AllowedLateness)
		}
		if w.Table != "" && !ident.Valid(w.Table) {
			bad(key+".watermark.table", "%q is not a table name (letters, digits and _)", w.Table)
		}
	}
	if p := j.Publish; p != nil {
		if !kafkaTopicName.MatchString(p.Topic) {
			bad(key+".publish.topic", "%q: name the Kafka topic the rows go to (letters, digits, '.', '_', '-'), e.g. aggregate_page_views", p.Topic)
		}
		for i, k := range p.Key {
			if !ident.Valid(k) {
				bad(fmt.Sprintf("%s.publish.key[%d]", key, i), "%q is not a column name (letters, digits and _)", k)
			}
		}
	}
	if t := j.Table; t != nil && !ident.Valid(t.Name) {
		bad(key+".table.name", "%q: name the lake table the rows go to (letters, digits and _), e.g. moving_averages", t.Name)
	}
}

// validateReportTables refuses two report jobs writing one table: each
// job replaces its own objects, and rows of two would mix. It refuses
// report tables on Iceberg too: they replace their objects in place,
// which an Iceberg table, referencing each file by size in its
// snapshots, does not allow.
func (c *Config) validateReportTables(bad badKey) {
	owner := map[string]string{}
	iceberg := c.Catalog.Kind == "trino" && c.Catalog.Trino.TableFormat == "iceberg"
	for i, j := range c.Jobs {
		if j.Table == nil || j.Table.Name == "" {
			continue
		}
		if iceberg {
			bad(fmt.Sprintf("jobs[%d].table", i), "catalog.trino.table_format is iceberg, but a report's table replaces its Parquet objects in place, which Iceberg tables do not allow: remove table (publish still works) or use table_format: hive")
			continue
		}
		if other, ok := owner[j.Table.Name]; ok {
			bad(fmt.Sprintf("jobs[%d].table.name", i), "%q is also job %q's table: give each report job a table of its own", j.Table.Name, other)
			continue
		}
		owner[j.Table.Name] = j.Name
	}
}
