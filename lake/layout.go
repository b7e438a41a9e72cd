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

// Partition is one Hive partition of a table: dt=YYYY-MM-DD/hour=HH, by event time in UTC.
type Partition struct {
	Table string
	Date  string // YYYY-MM-DD
	Hour  string // 00..23
}

// PartitionOf is the partition of an event of table at time t.
func PartitionOf(table string, t time.Time) Partition {
	t = t.UTC()
	return Partition{Table: table, Date: t.Format("2006-01-02"), Hour: fmt.Sprintf("%02d", t.Hour())}
}

// Prefix is the partition's directory: <table>/dt=YYYY-MM-DD/hour=HH/
func (p Partition) Prefix() string {
	return p.Table + "/dt=" + p.Date + "/hour=" + p.Hour + "/"
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

// ParseObjectKey reads back ObjectKey; ok is false for keys silt did not
// name this way (compacted objects, foreign files).
func ParseObjectKey(key string) (src ObjectSource, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) != 4 || !strings.HasPrefix(parts[1], "dt=") || !strings.HasPrefix(parts[2], "hour=") {
		return src, false
	}
	name, found := strings.CutSuffix(parts[3], ".parquet")
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
	src.Partition = Partition{Table: parts[0], Date: parts[1][3:], Hour: parts[2][5:]}
	src.Topic, src.KafkaPartition, src.FirstOffset = name[:i], int32(kp), off
	return src, true
}

// ParsePartitionPrefix reads a key's table, dt and hour.
func ParsePartitionPrefix(key string) (Partition, bool) {
	parts := strings.Split(key, "/")
	if len(parts) < 4 || !strings.HasPrefix(parts[1], "dt=") || !strings.HasPrefix(parts[2], "hour=") {
		return Partition{}, false
	}
	return Partition{Table: parts[0], Date: parts[1][3:], Hour: parts[2][5:]}, true
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
