// Package catalog registers the lake's tables and partitions with a query
// engine: Trino's Hive connector (external tables) or embedded DuckDB
// (views over the lake). Registration is idempotent and re-derivable from
// the lake, so a missed one is repaired by the next.
package catalog

import (
	"github.com/silt-etl/silt/lake"
)

// Change is what one ingest batch wrote to one table: its schema as of the
// batch (columns only grow) and exactly the partitions it wrote.
type Change struct {
	Schema     lake.TableSchema
	Partitions []lake.Partition
}
