package lake

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DeadLetterTable holds events that could not be routed or typed. Its
// leading underscore keeps it apart from every normalized event type.
const DeadLetterTable = "_dead_letter"

// MetaPrefix holds silt's own state: batch manifests, table schemas, runs.
const MetaPrefix = "_silt/"

// Layout is how a table's partition directories are named. Both name one
// directory per hour of event time (UTC); they differ in the Hive
// partition keys an engine sees. The zero value is DtHour, silt's default.
type Layout uint8

const (
	// DtHour is <table>/dt=YYYY-MM-DD/hour=HH/, partition keys dt and hour.
	DtHour Layout = iota
	// YearMonthDayHour is <table>/year=YYYY/month=MM/day=DD/hour=HH/,
	// partition keys year, month, day and hour (zero-padded text, so keys
	// sort as time does).
	YearMonthDayHour
)

// Layouts are the layouts silt knows, by the names silt.yaml uses.
var Layouts = []Layout{DtHour, YearMonthDayHour}

// String is the layout's name in silt.yaml (lake.layout).
func (l Layout) String() string {
	switch l {
	case DtHour:
		return "dt_hour"
	case YearMonthDayHour:
		return "year_month_day_hour"
	}
	return fmt.Sprintf("layout(%d)", uint8(l))
}

// ParseLayout reads a layout's name (lake.layout); empty is DtHour.
func ParseLayout(name string) (Layout, error) {
	if name == "" {
		return DtHour, nil
	}
	for _, l := range Layouts {
		if l.String() == name {
			return l, nil
		}
	}
	return DtHour, fmt.Errorf("%q: use dt_hour (dt=YYYY-MM-DD/hour=HH) or year_month_day_hour (year=YYYY/month=MM/day=DD/hour=HH)", name)
}

var (
	dtHourColumns           = []Column{{"dt", TypeVarchar}, {"hour", TypeVarchar}}
	yearMonthDayHourColumns = []Column{{"year", TypeVarchar}, {"month", TypeVarchar}, {"day", TypeVarchar}, {"hour", TypeVarchar}}
)

// Columns are the layout's Hive partition keys, in directory order, as the
// catalog declares them.
func (l Layout) Columns() []Column {
	if l == YearMonthDayHour {
		return append([]Column(nil), yearMonthDayHourColumns...)
	}
	return append([]Column(nil), dtHourColumns...)
}

// ColumnNames are the names of Columns.
func (l Layout) ColumnNames() []string {
	cols := l.Columns()
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// IsPartitionColumn reports whether name is one of the layout's partition keys.
func (l Layout) IsPartitionColumn(name string) bool {
	for _, c := range l.Columns() {
		if c.Name == name {
			return true
		}
	}
	return false
}

// GlobDirs are the partition directories of a table as glob patterns
// (dt=*, hour=*), for readers that match paths.
func (l Layout) GlobDirs() []string {
	names := l.ColumnNames()
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + "=*"
	}
	return out
}

// PartitionOf is the partition, in this layout, of an event of table at time t.
func (l Layout) PartitionOf(table string, t time.Time) Partition {
	p := PartitionOf(table, t)
	p.Layout = l
	return p
}

// PartitionFromValues is the partition whose partition key values, in
// Columns order, are values (as an engine lists them); it checks that they
// name an hour.
func (l Layout) PartitionFromValues(table string, values []string) (Partition, error) {
	names := l.ColumnNames()
	if len(values) != len(names) {
		return Partition{}, fmt.Errorf("partition of %s: %d values for the %d keys %s of layout %s", table, len(values), len(names), strings.Join(names, ", "), l)
	}
	p := Partition{Table: table, Layout: l}
	if l == YearMonthDayHour {
		p.Date, p.Hour = values[0]+"-"+values[1]+"-"+values[2], values[3]
	} else {
		p.Date, p.Hour = values[0], values[1]
	}
	if _, err := p.Start(); err != nil || len(p.Date) != 10 || len(p.Hour) != 2 {
		return Partition{}, fmt.Errorf("partition of %s: values %s=%s are not an hour of layout %s", table, strings.Join(names, ","), strings.Join(values, ","), l)
	}
	return p, nil
}

// Partition is one Hive partition of a table: one hour of event time in
// UTC, in a layout's directory naming.
type Partition struct {
	Table  string
	Date   string // YYYY-MM-DD
	Hour   string // 00..23
	Layout Layout
}

// PartitionOf is the partition of an event of table at time t in the
// default layout, DtHour; code that follows lake.layout uses
// Layout.PartitionOf.
func PartitionOf(table string, t time.Time) Partition {
	t = t.UTC()
	return Partition{Table: table, Date: t.Format("2006-01-02"), Hour: fmt.Sprintf("%02d", t.Hour())}
}

// Values are the partition's key values in its layout's Columns order.
func (p Partition) Values() []string {
	if p.Layout == YearMonthDayHour && len(p.Date) == 10 {
		return []string{p.Date[0:4], p.Date[5:7], p.Date[8:10], p.Hour}
	}
	return []string{p.Date, p.Hour}
}

// Dir is the partition's directory under its table, without slashes at
// either end: dt=YYYY-MM-DD/hour=HH or year=YYYY/month=MM/day=DD/hour=HH.
func (p Partition) Dir() string {
	names, values := p.Layout.ColumnNames(), p.Values()
	parts := make([]string, len(names))
	for i := range names {
		parts[i] = names[i] + "=" + values[i]
	}
	return strings.Join(parts, "/")
}

// Prefix is the partition's directory: <table>/<Dir>/
func (p Partition) Prefix() string {
	return p.Table + "/" + p.Dir() + "/"
}

func (p Partition) String() string { return strings.TrimSuffix(p.Prefix(), "/") }

// Start is the first instant of the partition.
func (p Partition) Start() (time.Time, error) {
	return time.Parse("2006-01-02 15", p.Date+" "+p.Hour)
}

// TablePrefix is the directory of a table.
func TablePrefix(table string) string { return table + "/" }

// ObjectKey names a Parquet object after what it holds: the records of one
// Kafka partition starting at firstOffset. A replay of the same range
// therefore writes the same keys, replacing rather than duplicating.
func ObjectKey(p Partition, topic string, kafkaPartition int32, firstOffset int64) string {
	return fmt.Sprintf("%s%s-p%d-%020d.parquet", p.Prefix(), topic, kafkaPartition, firstOffset)
}

// ObjectSource is what an object key says of the records in it.
type ObjectSource struct {
	Partition      Partition
	Topic          string
	KafkaPartition int32
	FirstOffset    int64
}

// ParseObjectKey reads back ObjectKey, in either layout (the key says
// which); ok is false for keys silt did not name this way (compacted
// objects, foreign files).
func ParseObjectKey(key string) (src ObjectSource, ok bool) {
	p, depth, ok := parsePartitionDirs(key)
	if !ok || strings.Count(key, "/") != depth {
		return src, false
	}
	name, found := strings.CutSuffix(key[strings.LastIndex(key, "/")+1:], ".parquet")
	if !found {
		return src, false
	}
	i := strings.LastIndex(name, "-p")
	j := strings.LastIndex(name, "-")
	if i <= 0 || j <= i+2 {
		return src, false
	}
	kp, err1 := strconv.ParseInt(name[i+2:j], 10, 32)
	off, err2 := strconv.ParseInt(name[j+1:], 10, 64)
	if err1 != nil || err2 != nil {
		return src, false
	}
	src.Partition = p
	src.Topic, src.KafkaPartition, src.FirstOffset = name[:i], int32(kp), off
	return src, true
}

// ParsePartitionPrefix reads the partition of a key below a partition
// directory, in either layout (the key says which).
func ParsePartitionPrefix(key string) (Partition, bool) {
	p, _, ok := parsePartitionDirs(key)
	return p, ok
}

// parsePartitionDirs reads <table>/<partition dirs>/<rest>; depth is how
// many '/' end the table and its partition directories.
func parsePartitionDirs(key string) (p Partition, depth int, ok bool) {
	parts := strings.Split(key, "/")
	switch {
	case len(parts) >= 4 && strings.HasPrefix(parts[1], "dt=") && strings.HasPrefix(parts[2], "hour="):
		return Partition{Table: parts[0], Date: parts[1][3:], Hour: parts[2][5:], Layout: DtHour}, 3, true
	case len(parts) >= 6 && strings.HasPrefix(parts[1], "year=") && strings.HasPrefix(parts[2], "month=") &&
		strings.HasPrefix(parts[3], "day=") && strings.HasPrefix(parts[4], "hour="):
		// The date is put back together from three keys: each must have
		// its width, or the pieces would make another date.
		if len(parts[1]) != 9 || len(parts[2]) != 8 || len(parts[3]) != 6 {
			return Partition{}, 0, false
		}
		return Partition{Table: parts[0], Date: parts[1][5:] + "-" + parts[2][6:] + "-" + parts[3][4:], Hour: parts[4][5:], Layout: YearMonthDayHour}, 5, true
	}
	return Partition{}, 0, false
}

// ManifestPrefix holds the batch manifests of one Kafka partition.
func ManifestPrefix(topic string, kafkaPartition int32) string {
	return fmt.Sprintf("%sbatches/%s/%d/", MetaPrefix, topic, kafkaPartition)
}

// ManifestKey names the manifest of the batch that starts at from; offsets
// are zero-padded so keys sort by offset.
func ManifestKey(topic string, kafkaPartition int32, from int64) string {
	return fmt.Sprintf("%s%020d.json", ManifestPrefix(topic, kafkaPartition), from)
}

// SchemaKey holds the column list of a table.
func SchemaKey(table string) string { return MetaPrefix + "schemas/" + table + ".json" }
