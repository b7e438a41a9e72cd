package ingest

import (
	"context"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
)

// Options configure an ingest job. They mirror silt.yaml's kafka and
// ingest keys; DefaultOptions holds the same defaults.
type Options struct {
	// Name names the job (default "ingest").
	Name  string
	Kafka KafkaOptions

	// EventTypeField routes an event to the table of that name;
	// TimeField is its event time (else the Kafka record's timestamp).
	EventTypeField string
	TimeField      string
	// DefaultEventType is the table of events without the type field
	// (missing or null); empty: they are dead letters.
	DefaultEventType string
	// TimestampUnit is the Parquet unit of every timestamp column.
	TimestampUnit lake.TimeUnit

	// A batch drains up to the high watermarks seen at its start, and
	// stops earlier at any of these bounds (see ingest.max_records).
	MaxRecords int
	MaxBytes   int64
	MaxWait    time.Duration

	// TargetFileBytes bounds one Parquet object, counted in input bytes so
	// that a replay splits files at the same offsets.
	TargetFileBytes int64
	RowGroupBytes   int64
	// ColumnIndexes writes Parquet column indexes where they can skip a
	// page (parquetfile.Options.ColumnIndexes); offset indexes always.
	ColumnIndexes bool
	// MaxOpenFiles and MaxBufferedBytes bound memory however many tables
	// and partitions a batch touches; MaxFileAge closes a file by age.
	MaxOpenFiles     int
	MaxBufferedBytes int64
	MaxFileAge       time.Duration
	// SpoolDir holds Parquet files while they are written (empty: the
	// system's temporary directory).
	SpoolDir string
	// Layout names the partition directories (lake.layout); the job
	// records it in the lake before its first batch and refuses a lake
	// written in the other.
	Layout lake.Layout

	// Tables declares column types per event type; undeclared fields are inferred.
	Tables map[string]TableDecl

	// Registrar, when set, is told what each batch wrote; a failure is
	// logged and repaired by a later batch or `silt register --all`,
	// never fails ingest.
	Registrar Registrar
	// Logger gets the job's log lines; nil discards them.
	Logger *slog.Logger
	// Metrics are the series the job counts in, shared by a process's
	// ingest jobs (NewMetrics); nil: series of its own, on no registry.
	Metrics *Metrics
}

// KafkaOptions are the Kafka side of an ingest job.
type KafkaOptions struct {
	Brokers        []string
	Topics         []string
	Group          string
	SessionTimeout time.Duration
	// InstanceID enables static group membership (unique per process).
	InstanceID string
	// CreateTopics creates missing topics with Partitions partitions.
	CreateTopics bool
	Partitions   int32
	// ClientOpts are added to every franz-go client the job makes: the
	// connection's TLS and SASL (see kafkaconn), in tests shorter timeouts.
	ClientOpts []kgo.Opt
}

// TableDecl declares the types of an event type's columns: varchar,
// double, bigint, boolean or timestamp.
type TableDecl struct {
	Columns map[string]string
	// Strict sends events with undeclared fields to the dead-letter table
	// instead of inferring new columns.
	Strict bool
}

// Registrar is the catalog as ingest sees it: told what each batch wrote,
// or, after a registration failed, to re-derive everything from the lake.
type Registrar interface {
	Register(ctx context.Context, changes []catalog.Change) error
	RepairAll(ctx context.Context, store lake.Store) error
}

// DefaultOptions are silt.yaml's defaults for the ingest and kafka keys
// (internal/config's Default holds the same; cmd/silt's tests check that
// they agree). The brokers are left for the caller.
func DefaultOptions() Options {
	return Options{
		Name: "ingest",
		Kafka: KafkaOptions{
			Topics: []string{"events"}, Group: "silt", SessionTimeout: 45 * time.Second,
			CreateTopics: true, Partitions: 3,
		},
		EventTypeField:   "event_type",
		TimeField:        "timestamp",
		TimestampUnit:    lake.Millis,
		MaxRecords:       2_000_000,
		MaxBytes:         512 << 20,
		MaxWait:          60 * time.Second,
		TargetFileBytes:  128 << 20,
		RowGroupBytes:    32 << 20,
		MaxOpenFiles:     64,
		MaxBufferedBytes: 96 << 20,
		MaxFileAge:       60 * time.Second,
	}
}
