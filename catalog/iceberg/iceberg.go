// Package iceberg keeps silt's event tables as Apache Iceberg tables
// (catalog.trino.table_format: iceberg). silt writes its Parquet objects
// into the lake exactly as for Hive tables; this package then commits each
// batch's objects of a table in one Iceberg commit, through iceberg-go's
// Hive Metastore catalog (the metastore Trino's Iceberg catalog reads), so
// a reader sees all of a batch's rows of a table or none.
//
// Exactly once: every commit records in its snapshot summary the Kafka
// ranges whose objects it holds (summary key silt.kafka-ranges,
// "topic/partition/from-to,..."). Before committing, the table's snapshots
// are read: objects in a recorded range, or already among the table's
// files, are not added again. Commits are compare-and-swap on the table's
// current snapshot; a lost race re-reads and recomputes, never replays.
package iceberg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	ice "github.com/apache/iceberg-go"
	icecatalog "github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/hive"
	iceio "github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // s3:// file IO
	"github.com/apache/iceberg-go/utils"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/lake"
)

// Options is how silt reaches the Iceberg catalog and the lake's files.
// The error messages name silt.yaml's keys these fields come from.
type Options struct {
	// MetastoreURI is the Hive Metastore of Trino's Iceberg catalog,
	// thrift://host:port (catalog.trino.iceberg.metastore_uri).
	MetastoreURI string
	// Namespace is the metastore database the tables go in
	// (catalog.trino.schema). It must hold no Hive table of the same name.
	Namespace string
	// Location is the lake's root as readers see it, e.g. s3://lake/
	// (catalog.trino.location): data files are named Location + lake key,
	// and each table's metadata lives under Location + "_iceberg/".
	Location string
	// S3 is how this process reads Parquet footers and writes Iceberg
	// metadata: the lake's own endpoint and credentials.
	S3 S3Options
	// Logger gets a line per commit and per repair; nil discards them.
	Logger *slog.Logger
}

// S3Options are the lake's S3 settings (lake.s3.*).
type S3Options struct {
	Endpoint string // host:port
	Secure   bool
	Region   string
	// AccessKey, SecretKey and SessionToken are static keys; without an
	// access key the AWS default credential chain is used.
	AccessKey, SecretKey, SessionToken string
	// CAFile is a PEM bundle trusted for https besides the system roots.
	CAFile string
	// SSE encrypts the metadata, manifest lists and manifests silt
	// writes as silt's lake client encrypts its objects: "" (the
	// bucket's default), "s3" (SSE-S3) or "kms" (SSE-KMS with
	// SSEKMSKeyID).
	SSE, SSEKMSKeyID string
}

// Tables commits batches to the Iceberg tables of one namespace. It
// connects to the metastore on first use and again after a failure, so a
// metastore that is down only delays commits (ingest marks the catalog for
// repair and the next batch commits what this one could not).
type Tables struct {
	opts  Options
	store lake.Store
	log   *slog.Logger
	aws   *aws.Config // set when S3 needs a CA or SSE (awsConfig)

	mu  sync.Mutex
	cat *hive.Catalog
	// repaired is set once this process has repaired every table: a
	// process killed between marking a batch committed and committing it
	// to Iceberg leaves that batch to the next process's first Register.
	repaired bool
}

// Open checks opts and prepares to commit; it does not connect yet.
// store is the lake, read when repairing.
func Open(ctx context.Context, opts Options, store lake.Store) (*Tables, error) {
	if !strings.HasPrefix(opts.MetastoreURI, "thrift://") {
		return nil, fmt.Errorf("catalog.trino.iceberg.metastore_uri %q: write thrift://host:port", opts.MetastoreURI)
	}
	if opts.Namespace == "" {
		return nil, errors.New("catalog.trino.schema is empty: name the schema the Iceberg tables go in")
	}
	if !strings.HasPrefix(opts.Location, "s3://") && !strings.HasPrefix(opts.Location, "s3a://") {
		return nil, fmt.Errorf("catalog.trino.location %q: Iceberg tables need the lake on S3 (s3://bucket/prefix/)", opts.Location)
	}
	if !strings.HasSuffix(opts.Location, "/") {
		opts.Location += "/"
	}
	t := &Tables{opts: opts, store: store, log: opts.Logger}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	cfg, err := awsConfig(ctx, opts.S3)
	if err != nil {
		return nil, err
	}
	t.aws = cfg
	return t, nil
}

// props are the catalog's properties: the metastore and the S3 file IO.
// They hold the lake's secret key, so they are never logged or wrapped
// into an error.
func (t *Tables) props() ice.Properties {
	s := t.opts.S3
	scheme := "http://"
	if s.Secure {
		scheme = "https://"
	}
	p := ice.Properties{
		hive.URI:            t.opts.MetastoreURI,
		iceio.S3EndpointURL: scheme + s.Endpoint,
	}
	if s.Region != "" {
		p[iceio.S3Region] = s.Region
	}
	if s.AccessKey != "" {
		p[iceio.S3AccessKeyID] = s.AccessKey
		p[iceio.S3SecretAccessKey] = s.SecretKey
		if s.SessionToken != "" {
			p[iceio.S3SessionToken] = s.SessionToken
		}
	}
	return p
}

// ctx carries the AWS configuration iceberg-go's S3 file IO reads.
func (t *Tables) ctx(ctx context.Context) context.Context {
	if t.aws != nil {
		return utils.WithAwsConfig(ctx, t.aws)
	}
	return ctx
}

// catalog is the metastore connection, opened if it is not.
func (t *Tables) catalog(ctx context.Context) (*hive.Catalog, error) {
	if t.cat != nil {
		return t.cat, nil
	}
	ms, err := dialMetastore(t.opts.MetastoreURI)
	if err != nil {
		return nil, fmt.Errorf("connect to the Iceberg metastore %s (catalog.trino.iceberg.metastore_uri): %w", t.opts.MetastoreURI, err)
	}
	cat := hive.NewCatalogWithClient(ms, t.props())
	// The namespace's location is the lake's root, as Trino's CREATE
	// SCHEMA of silt's catalog gives it: a directory that exists. The
	// metastore deletes a database's directory when it made it and the
	// create then failed (a race with another process creating it too),
	// and a directory it made under _iceberg/ would hold the tables.
	err = cat.CreateNamespace(ctx, []string{t.opts.Namespace}, ice.Properties{"location": t.opts.Location})
	if err != nil && !errors.Is(err, icecatalog.ErrNamespaceAlreadyExists) {
		// Two processes creating it at once: the loser's error is the
		// metastore's duplicate key, not "already exists".
		if ok, cerr := cat.CheckNamespaceExists(ctx, []string{t.opts.Namespace}); cerr != nil || !ok {
			_ = cat.Close() // the failed create is the error to report
			return nil, fmt.Errorf("create Iceberg namespace %s: %w", t.opts.Namespace, err)
		}
	}
	t.cat = cat
	return cat, nil
}

// drop closes the connection after a failure, so the next call connects
// afresh (the metastore may have restarted).
func (t *Tables) drop() {
	if t.cat != nil {
		if err := t.cat.Close(); err != nil {
			t.log.Debug("close Iceberg metastore connection", "err", err)
		}
		t.cat = nil
	}
}

// Close releases the metastore connection.
func (t *Tables) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.drop()
	return nil
}

// Register commits what ingest batches wrote: for each change, its table's
// objects in one Iceberg commit recording the batch's Kafka ranges. A
// batch already committed (by this or another process) is recognised and
// left alone. The first call in a process repairs every table first.
func (t *Tables) Register(ctx context.Context, changes []catalog.Change) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	ctx = t.ctx(ctx)
	if !t.repaired {
		if err := t.repairAll(ctx, nil); err != nil {
			return err
		}
	}
	for _, ch := range changes {
		if err := t.commitBatch(ctx, ch); err != nil {
			t.drop()
			return err
		}
	}
	return nil
}

// RepairAll commits to each table every object of a committed batch that
// the table does not hold yet, creating a missing table (from its latest
// metadata in the lake when there is one, see Rebuild in the README).
func (t *Tables) RepairAll(ctx context.Context, store lake.Store) error {
	return t.RepairAllProgress(ctx, store, nil)
}

// RepairAllProgress is RepairAll calling progress (when not nil) after
// each table, as catalog.RepairAllProgress does for Hive tables.
func (t *Tables) RepairAllProgress(ctx context.Context, store lake.Store, progress func(catalog.RepairProgress)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if store != nil {
		t.store = store
	}
	return t.repairAll(t.ctx(ctx), progress)
}

// icebergDir holds the tables' metadata (and the data files engines such
// as Trino write into a table, e.g. by OPTIMIZE) under the lake's root:
// beside silt's own tables, never inside one.
const icebergDir = "_iceberg/"

// tableLocation is where a table's metadata lives.
func (t *Tables) tableLocation(table string) string {
	return t.opts.Location + icebergDir + t.opts.Namespace + "/" + table
}

// dataPath names an object of the lake as the table names its data file.
func (t *Tables) dataPath(key string) string { return t.opts.Location + key }
