package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/trinodb/trino-go-client/trino"

	"github.com/silt-etl/silt/internal/trustroots"
	"github.com/silt-etl/silt/lake"
)

// TrinoOptions is how silt reaches Trino: silt.yaml's catalog.trino keys,
// which the error messages name.
type TrinoOptions struct {
	// URL is a trino-go-client DSN, e.g. http://silt@127.0.0.1:8080.
	URL     string
	Catalog string
	Schema  string
	// Location is the lake's root as the Hive connector sees it, e.g. s3://lake/.
	Location string
	// User, when set, replaces the URL's user.
	User string
	// Password (PASSWORD authenticator, https only) and AccessToken (a
	// bearer JWT) are secrets: never in an error (see redactSecrets).
	Password    string
	AccessToken string
	// CAFile is a PEM bundle trusted for https besides the system roots.
	CAFile string
	// TableFormat is catalog.trino.table_format: "iceberg" tables are
	// partitioned by hour(event_time) and have no partition key columns,
	// so listing partitions and pruning by time read them differently;
	// anything else is a Hive table over the lake's partition directories.
	TableFormat string
}

// trinoBackend keeps external Hive tables over the lake through Trino's
// Hive connector.
type trinoBackend struct {
	db       *sql.DB
	catalog  string
	schema   string
	location string // the lake root as the connector sees it, ends in '/'
	layout   lake.Layout
	// iceberg: the tables are Iceberg tables (TrinoOptions.TableFormat),
	// which have no partition key columns.
	iceberg bool

	// syncOnly is set once register_partition turned out to be disabled
	// on the server (hive.allow-register-partition-procedure=false).
	syncOnly bool
	log      *slog.Logger
}

func openTrino(ctx context.Context, t TrinoOptions, layout lake.Layout, log *slog.Logger) (*Catalog, error) {
	db, closeDB, err := openTrinoDB(t, defaultRetryTimeout)
	if err != nil {
		return nil, err
	}
	loc := t.Location
	if !strings.HasSuffix(loc, "/") {
		loc += "/"
	}
	be := &trinoBackend{db: db, catalog: t.Catalog, schema: t.Schema, location: loc, layout: layout, log: log, iceberg: t.TableFormat == "iceberg"}
	q := fmt.Sprintf("CREATE SCHEMA IF NOT EXISTS %s.%s WITH (location = %s)", Quote(t.Catalog), Quote(t.Schema), literal(loc))
	if _, err := db.ExecContext(ctx, q); err != nil && !concurrentlyDone(err) {
		_ = closeDB() // the failed statement is the error to report
		return nil, redactSecrets(fmt.Errorf("trino at %s: create schema %s.%s: %w", trinoServer(t), t.Catalog, t.Schema, err), t)
	}
	return &Catalog{db: db, dialect: Trino, be: be, close: closeDB, log: log, layout: layout}, nil
}

// defaultRetryTimeout bounds how long trino-go-client retries one failing
// HTTP request (see trinoDSN); a request_retry_timeout in the URL wins.
const defaultRetryTimeout = "10s"

// openTrinoDB opens the connection pool; it sends no request yet. The
// DSN holds the password and token: it never leaves this function, and
// every error is passed through redactSecrets. closeDB closes the pool
// and the CA client's idle connections.
func openTrinoDB(t TrinoOptions, retryTimeout string) (db *sql.DB, closeDB func() error, err error) {
	dsn, err := trinoDSNRetry(t, retryTimeout)
	if err != nil {
		return nil, nil, redactSecrets(err, t)
	}
	conf, err := trino.ParseDSN(dsn)
	if err != nil {
		return nil, nil, redactSecrets(fmt.Errorf("catalog.trino.url: %w", err), t)
	}
	var client *http.Client
	if t.CAFile != "" {
		// trino-go-client's own SSLCertPath trusts that file only; silt
		// trusts it besides the system roots. Config.HTTPClient rather
		// than RegisterCustomClient: no process-wide registry to name and
		// leak into, and the driver keeps refusing to follow redirects
		// (which would carry the credentials elsewhere) for it.
		if conf.CustomClientName != "" || conf.SSLCert != "" || conf.SSLCertPath != "" || conf.SSLVerification != "" {
			return nil, nil, errors.New("catalog.trino.ca_file is set and catalog.trino.url sets its own TLS (custom_client, SSLCert, SSLCertPath or SSLVerification): keep one")
		}
		if client, err = trinoCAClient(t.CAFile); err != nil {
			return nil, nil, err
		}
		conf.HTTPClient = client
	}
	conn, err := trino.NewConnector(conf)
	if err != nil {
		return nil, nil, redactSecrets(fmt.Errorf("catalog.trino.url: %w", err), t)
	}
	db = sql.OpenDB(conn)
	closeDB = func() error {
		err := db.Close()
		if client != nil {
			client.CloseIdleConnections()
		}
		return err
	}
	return db, closeDB, nil
}

// trinoCAClient is an HTTP client that trusts the PEM certificates in
// caFile besides the system roots. It copies http.DefaultTransport, so it
// keeps the proxy from the environment, the dial and TLS handshake
// timeouts, and HTTP/2.
func trinoCAClient(caFile string) (*http.Client, error) {
	roots, err := trustroots.WithCAFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("catalog.trino.ca_file: %w", err)
	}
	return trustroots.HTTPClient(roots), nil
}

// trinoDSN is the trino-go-client DSN for t. It pins the catalog and
// schema (so reports name tables bare) and the session time zone to UTC
// (so timestamps without a zone, which is what the lake holds, are
// neither shifted by the server nor the client). What the URL says wins
// for these.
//
// It also bounds how long the client retries one failing HTTP request:
// its default, 2 minutes, held every ingest batch that long while Trino
// was down, though a failed registration costs nothing (the next batch
// repairs it) and the scheduler retries reports. A request_retry_timeout
// in catalog.trino.url wins. (The client retries only 429/502/503/504 and
// connection errors: a 401 or a TLS failure returns at once.)
//
// Credentials: catalog.trino.user replaces the URL's user (none in
// either: "silt"); catalog.trino.password goes into the userinfo, which
// the client sends as HTTP Basic auth over https only; access_token is
// the client's accessToken parameter, sent as a Bearer token. So the DSN
// is a secret: never log it or put it in an error.
func trinoDSN(t TrinoOptions) (string, error) {
	return trinoDSNRetry(t, defaultRetryTimeout)
}

func trinoDSNRetry(t TrinoOptions, retryTimeout string) (string, error) {
	u, err := parseTrinoURL(t.URL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	for k, v := range map[string]string{"catalog": t.Catalog, "schema": t.Schema, "timezone": "UTC", "request_retry_timeout": retryTimeout} {
		if q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	if t.AccessToken != "" {
		q.Set(trinoAccessTokenParam, t.AccessToken)
	}
	u.RawQuery = q.Encode()
	user := trinoUser(t, u)
	pass := t.Password
	if pass == "" && u.User != nil {
		pass, _ = u.User.Password()
	}
	if pass != "" {
		u.User = url.UserPassword(user, pass)
	} else {
		u.User = url.User(user)
	}
	return u.String(), nil
}

// trinoAccessTokenParam is trino-go-client's DSN parameter for a bearer
// token (its accessTokenConfig, unexported).
const trinoAccessTokenParam = "accessToken"

// parseTrinoURL parses catalog.trino.url without quoting it in the error:
// the URL may hold a password.
func parseTrinoURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("catalog.trino.url: %w", err)
	}
	return u, nil
}

// trinoUser is the user silt connects as: catalog.trino.user, else the
// URL's, else "silt".
func trinoUser(t TrinoOptions, u *url.URL) string {
	if t.User != "" {
		return t.User
	}
	if u.User != nil && u.User.Username() != "" {
		return u.User.Username()
	}
	return "silt"
}

// trinoServer is catalog.trino.url as it may be printed: scheme and host,
// no user, password or parameters (an access token may be one).
func trinoServer(t TrinoOptions) string {
	u, err := url.Parse(t.URL)
	if err != nil || u.Host == "" {
		return "catalog.trino.url"
	}
	return u.Scheme + "://" + u.Host
}

func (b *trinoBackend) qualified(table string) string {
	return Quote(b.catalog) + "." + Quote(b.schema) + "." + Quote(table)
}

func (b *trinoBackend) schemaName() string { return b.schema }

func (b *trinoBackend) ensureTable(ctx context.Context, s lake.TableSchema) error {
	cols := append(s.AllColumns(), b.layout.Columns()...)
	defs := make([]string, len(cols))
	for i, c := range cols {
		defs[i] = Quote(c.Name) + " " + trinoTypes[c.Type]
	}
	q := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s) WITH (external_location = %s, format = 'PARQUET', partitioned_by = ARRAY[%s])",
		b.qualified(s.Table), strings.Join(defs, ", "), literal(b.location+lake.TablePrefix(s.Table)), b.keyList())
	if _, err := b.db.ExecContext(ctx, q); err != nil && !concurrentlyDone(err) {
		return fmt.Errorf("create table: %w", err)
	}
	have, err := b.columns(ctx, s.Table)
	if err != nil {
		return err
	}
	// A table made by another layout's silt would register partitions
	// under keys it does not have: refuse before touching it.
	for _, k := range b.layout.ColumnNames() {
		if _, ok := have[k]; !ok {
			return fmt.Errorf("table %s has no partition key %s of lake.layout %s: it was made with another layout; drop it (DROP TABLE only unregisters an external table, the lake keeps its files) and run silt register --all",
				b.qualified(s.Table), k, b.layout)
		}
	}
	for _, c := range s.AllColumns() {
		typ, ok := have[c.Name]
		if ok {
			if typ != c.Type {
				// Retyping would make old files unreadable; ingest dead-letters
				// conflicting events, so this is someone else's change.
				return fmt.Errorf("column %s is %s in the catalog but %s in the lake: not changing it", c.Name, typ, c.Type)
			}
			continue
		}
		q := fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", b.qualified(s.Table), Quote(c.Name), trinoTypes[c.Type])
		if _, err := b.db.ExecContext(ctx, q); err != nil && !concurrentlyDone(err) {
			return fmt.Errorf("add column %s: %w", c.Name, err)
		}
		b.log.Info("catalog column added", "table", s.Table, "column", c.Name, "type", c.Type)
	}
	return nil
}

func (b *trinoBackend) columns(ctx context.Context, table string) (map[string]string, error) {
	q := fmt.Sprintf("SELECT column_name, data_type FROM %s.information_schema.columns WHERE table_schema = %s AND table_name = %s",
		Quote(b.catalog), literal(b.schema), literal(table))
	rows, err := b.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, fmt.Errorf("read columns: %w", err)
		}
		out[name], _ = LakeType(typ)
	}
	return out, rows.Err()
}

func (b *trinoBackend) partitions(ctx context.Context, table string) ([]lake.Partition, error) {
	if b.iceberg {
		return b.icebergPartitions(ctx, table)
	}
	keys := quotedKeys(b.layout)
	q := fmt.Sprintf("SELECT %s FROM %s.%s.%s ORDER BY %s", keys, Quote(b.catalog), Quote(b.schema), Quote(table+"$partitions"), keys)
	return queryPartitions(ctx, b.db, table, b.layout, q)
}

// icebergPartitions lists an Iceberg table's hour(event_time) partitions
// from its "$partitions" metadata table (read from the manifests, no data
// scanned) as the lake partitions of the same hours, so silt tables shows
// them as it shows a Hive table's. Trino gives the hour transform's value
// as hours since the epoch.
func (b *trinoBackend) icebergPartitions(ctx context.Context, table string) ([]lake.Partition, error) {
	q := fmt.Sprintf("SELECT CAST(partition.event_time_hour AS BIGINT) FROM %s.%s.%s WHERE partition.event_time_hour IS NOT NULL ORDER BY 1",
		Quote(b.catalog), Quote(b.schema), Quote(table+"$partitions"))
	rows, err := b.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list partitions of Iceberg table %s: %w", table, err)
	}
	defer rows.Close()
	var out []lake.Partition
	for rows.Next() {
		var hours int64
		if err := rows.Scan(&hours); err != nil {
			return nil, fmt.Errorf("list partitions of Iceberg table %s: %w", table, err)
		}
		out = append(out, icebergHourPartition(b.layout, table, hours))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list partitions of Iceberg table %s: %w", table, err)
	}
	return out, nil
}

// icebergHourPartition is the lake partition of the hour an Iceberg
// hour(event_time) partition value (hours since the epoch) names.
func icebergHourPartition(layout lake.Layout, table string, hoursSinceEpoch int64) lake.Partition {
	return layout.PartitionOf(table, time.Unix(hoursSinceEpoch*3600, 0).UTC())
}

// addPartitions uses the connector's register_partition for exactly the
// partitions a batch wrote that the metastore does not list yet (one
// metastore query for the table's partition names, then one call per new
// partition; no object listing). sync_partition_metadata would list the
// whole table directory in object storage on every batch (and with FULL
// also drop partitions it does not find); it is only the fallback when the
// server disables register_partition.
func (b *trinoBackend) addPartitions(ctx context.Context, table string, ps []lake.Partition) error {
	if len(ps) == 0 {
		return nil
	}
	if b.syncOnly {
		return b.sync(ctx, table)
	}
	existing, err := b.partitions(ctx, table)
	if err != nil {
		return err
	}
	have := map[lake.Partition]bool{}
	for _, p := range existing {
		have[p] = true
	}
	for _, p := range ps {
		if have[p] {
			continue
		}
		have[p] = true
		q := fmt.Sprintf("CALL %s.system.register_partition(schema_name => %s, table_name => %s, partition_columns => ARRAY[%s], partition_values => ARRAY[%s], location => %s)",
			Quote(b.catalog), literal(b.schema), literal(table), b.keyList(), valueList(p), literal(b.location+strings.TrimSuffix(p.Prefix(), "/")))
		_, err := b.db.ExecContext(ctx, q)
		switch {
		case err == nil:
		case concurrentlyDone(err):
			// registered by another process since we listed: what we wanted
		case strings.Contains(err.Error(), "Could not write partition schema"):
			// The file metastore lost a race with another process writing
			// this table's metadata: look again, and register once more
			// only if the partition is still missing.
			if err := b.registerAgain(ctx, table, p, q); err != nil {
				return fmt.Errorf("register partition %s: %w", p, err)
			}
		case strings.Contains(err.Error(), "register_partition procedure is disabled"):
			b.log.Warn("trino disables register_partition, falling back to sync_partition_metadata; set hive.allow-register-partition-procedure=true")
			b.syncOnly = true
			return b.sync(ctx, table)
		default:
			return fmt.Errorf("register partition %s: %w", p, err)
		}
	}
	return nil
}

func (b *trinoBackend) dropPartitions(ctx context.Context, table string, ps []lake.Partition) error {
	existing, err := b.partitions(ctx, table)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return nil
		}
		return err
	}
	have := map[lake.Partition]bool{}
	for _, p := range existing {
		have[p] = true
	}
	for _, p := range ps {
		if !have[p] {
			continue
		}
		q := fmt.Sprintf("CALL %s.system.unregister_partition(schema_name => %s, table_name => %s, partition_columns => ARRAY[%s], partition_values => ARRAY[%s])",
			Quote(b.catalog), literal(b.schema), literal(table), b.keyList(), valueList(p))
		if _, err := b.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("unregister partition %s: %w", p, err)
		}
	}
	return nil
}

// keyList is the layout's partition keys as the items of a Trino
// array of strings: 'dt', 'hour'.
func (b *trinoBackend) keyList() string {
	names := b.layout.ColumnNames()
	for i, n := range names {
		names[i] = literal(n)
	}
	return strings.Join(names, ", ")
}

// valueList is p's partition values, checked by checkPartition, as the
// items of a Trino array of strings.
func valueList(p lake.Partition) string {
	values := p.Values()
	for i, v := range values {
		values[i] = literal(v)
	}
	return strings.Join(values, ", ")
}

func (b *trinoBackend) sync(ctx context.Context, table string) error {
	q := fmt.Sprintf("CALL %s.system.sync_partition_metadata(schema_name => %s, table_name => %s, mode => 'ADD')",
		Quote(b.catalog), literal(b.schema), literal(table))
	if _, err := b.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("sync partitions of %s: %w", table, err)
	}
	return nil
}

// concurrentlyDone reports a Trino error that means another process did
// the same thing first: the schema, table, column or partition exists
// (Trino says "Schema 'events' already exists", "Partition [dt=…, hour=…]
// is already registered"). Several silt processes register one lake; for
// each of them that is success, not a failure to repair.
func concurrentlyDone(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "already exists") || strings.Contains(msg, "already registered")
}

// registerAgain runs the register_partition call q once more unless the
// partition is registered by now.
func (b *trinoBackend) registerAgain(ctx context.Context, table string, p lake.Partition, q string) error {
	existing, err := b.partitions(ctx, table)
	if err != nil {
		return err
	}
	if slices.Contains(existing, p) {
		return nil
	}
	if _, err := b.db.ExecContext(ctx, q); err != nil && !concurrentlyDone(err) {
		return err
	}
	return nil
}
