package catalog

import (
	"context"
	"fmt"

	"github.com/silt-etl/silt/lake"
)

// Refresh brings a table's registration up to what the lake holds after
// files were deleted (retention). DuckDB's views read the files matching
// a pattern when queried, and fail once none matches, so a table whose
// every file is gone would fail every query (and the events API, which
// reads all tables): its view is rebuilt over what is left, the empty
// relation when nothing is. Trino's tables list their registered
// partitions, which DropPartitions already removed: nothing to do.
func (c *Catalog) Refresh(ctx context.Context, store lake.Store, table string) error {
	if c.dialect != DuckDB {
		return nil
	}
	if !validTable(table) {
		return fmt.Errorf("refresh: %q is not a table name", table)
	}
	s, _, err := lake.LoadSchema(ctx, store, table)
	if err != nil {
		return fmt.Errorf("refresh %s: %w", table, err)
	}
	if err := c.be.ensureTable(ctx, s); err != nil {
		return fmt.Errorf("refresh %s: %w", table, err)
	}
	return nil
}
