package iceberg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go/catalog/hive"
	"github.com/beltran/gohive"
	"github.com/beltran/gohive/hive_metastore"
)

// metastore is iceberg-go's Hive client over a Thrift connection, made to
// commit the way Trino's Iceberg catalog does, so that silt, Trino (its
// OPTIMIZE, DELETE, expire_snapshots) and other engines can commit to one
// table at once without losing each other's commits:
//
//   - AlterTable swaps the table's metadata pointer only if it still is
//     the one the commit was built on: alter_table_with_environment_context
//     with expected_parameter_key/value (HIVE-26882, Hive 4), checked by
//     the metastore in the same transaction as the update. A commit that
//     lost the race fails, and the committer re-reads the table.
//   - Lock takes the metastore's table lock when the metastore has lock
//     tables (writers that lock still exclude each other), and goes on
//     without one when it has none (Trino then commits without locks too:
//     iceberg.hive-catalog.locking-enabled=false), the pointer swap above
//     being what keeps commits atomic. Without locks, a process killed
//     mid-commit leaves no lock behind for the next one to wait out.
//   - GetTable asks get_table_req: Hive 4 removed get_table.
type metastore struct {
	*gohive.HiveMetastoreClient
	// noLocks is set once the metastore answered a lock request with an
	// error (no HIVE_LOCKS table): later commits do not ask again.
	noLocks bool
}

// noLock is the id of a lock not taken (the metastore has no lock tables).
const noLock = -1

var _ hive.HiveClient = (*metastore)(nil)

// dialMetastore connects to thrift://host:port without SASL, as Trino's
// Iceberg catalog does to the stack's metastore.
func dialMetastore(uri string) (*metastore, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "thrift" || u.Hostname() == "" {
		return nil, fmt.Errorf("catalog.trino.iceberg.metastore_uri %q: write thrift://host:port", uri)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return nil, fmt.Errorf("catalog.trino.iceberg.metastore_uri %q: no port: write thrift://host:9083", uri)
	}
	cfg := gohive.NewMetastoreConnectConfiguration()
	cfg.TransportMode = "binary"
	c, err := gohive.ConnectToMetastore(u.Hostname(), port, "NOSASL", cfg)
	if err != nil {
		return nil, err
	}
	return &metastore{HiveMetastoreClient: c}, nil
}

func (m *metastore) Close() error {
	m.HiveMetastoreClient.Close()
	return nil
}

func (m *metastore) GetDatabase(ctx context.Context, name string) (*hive_metastore.Database, error) {
	return m.Client.GetDatabase(ctx, name)
}

func (m *metastore) CreateDatabase(ctx context.Context, db *hive_metastore.Database) error {
	return m.Client.CreateDatabase(ctx, db)
}

func (m *metastore) AlterDatabase(ctx context.Context, name string, db *hive_metastore.Database) error {
	return m.Client.AlterDatabase(ctx, name, db)
}

func (m *metastore) DropDatabase(ctx context.Context, name string, deleteData, cascade bool) error {
	return m.Client.DropDatabase(ctx, name, deleteData, cascade)
}

func (m *metastore) GetAllDatabases(ctx context.Context) ([]string, error) {
	return m.Client.GetAllDatabases(ctx)
}

func (m *metastore) GetTable(ctx context.Context, db, table string) (*hive_metastore.Table, error) {
	res, err := m.Client.GetTableReq(ctx, &hive_metastore.GetTableRequest{DbName: db, TblName: table})
	if err != nil {
		return nil, err
	}
	return res.Table, nil
}

func (m *metastore) CreateTable(ctx context.Context, tbl *hive_metastore.Table) error {
	return m.Client.CreateTable(ctx, tbl)
}

func (m *metastore) AlterTable(ctx context.Context, db, table string, tbl *hive_metastore.Table) error {
	base, ok := tbl.Parameters[hive.PreviousMetadataLocationKey]
	if !ok {
		// Not a commit of Iceberg metadata (iceberg-go sets the previous
		// location on every commit to an existing table).
		return m.Client.AlterTable(ctx, db, table, tbl)
	}
	env := &hive_metastore.EnvironmentContext{Properties: map[string]string{
		"expected_parameter_key":   hive.MetadataLocationKey,
		"expected_parameter_value": base,
	}}
	if err := m.Client.AlterTableWithEnvironmentContext(ctx, db, table, tbl, env); err != nil {
		return fmt.Errorf("swap metadata of %s.%s from %s (another writer may have committed first): %w", db, table, base, err)
	}
	return nil
}

func (m *metastore) DropTable(ctx context.Context, db, table string, deleteData bool) error {
	return m.Client.DropTable(ctx, db, table, deleteData)
}

func (m *metastore) GetTables(ctx context.Context, db, pattern string) ([]string, error) {
	return m.Client.GetTables(ctx, db, pattern)
}

func (m *metastore) Lock(ctx context.Context, req *hive_metastore.LockRequest) (*hive_metastore.LockResponse, error) {
	if !m.noLocks {
		res, err := m.Client.Lock(ctx, req)
		var meta *hive_metastore.MetaException
		if err == nil || !errors.As(err, &meta) && !strings.Contains(err.Error(), "Internal error processing lock") {
			return res, err
		}
		// The metastore cannot lock (no lock tables): the atomic swap
		// in AlterTable is the commit's only guard, as for Trino.
		m.noLocks = true
	}
	return &hive_metastore.LockResponse{Lockid: noLock, State: hive_metastore.LockState_ACQUIRED}, nil
}

func (m *metastore) CheckLock(ctx context.Context, id int64) (*hive_metastore.LockResponse, error) {
	if id == noLock {
		return &hive_metastore.LockResponse{Lockid: noLock, State: hive_metastore.LockState_ACQUIRED}, nil
	}
	return m.Client.CheckLock(ctx, &hive_metastore.CheckLockRequest{Lockid: id})
}

func (m *metastore) Unlock(ctx context.Context, id int64) error {
	if id == noLock {
		return nil
	}
	return m.Client.Unlock(ctx, &hive_metastore.UnlockRequest{Lockid: id})
}
