package web

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/silt-etl/silt/lake"
)

// LakeTables lists tables for the status page from the lake itself, so a
// page refresh costs object listings, not engine queries.
type LakeTables struct {
	Store lake.Store
	// Iceberg is catalog.trino.table_format iceberg: the lake's hour
	// directories outlive an hour retention deleted from the table (until
	// snapshot expiry), which the page says beside the counts.
	Iceberg bool
}

// lakeCountsNote says how the status page's partition counts relate to
// the tables, when that needs saying.
func (l LakeTables) lakeCountsNote() string {
	if !l.Iceberg {
		return ""
	}
	return "Iceberg tables: partitions are the lake's hour directories; an hour retention deleted stays here until snapshot expiry deletes its objects"
}

func (l LakeTables) Tables(ctx context.Context) ([]TableInfo, error) {
	names, err := lake.Tables(ctx, l.Store)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	out := make([]TableInfo, 0, len(names))
	for _, n := range names {
		ps, err := lake.Partitions(ctx, l.Store, n)
		if err != nil {
			return nil, fmt.Errorf("list partitions of %s: %w", n, err)
		}
		info := TableInfo{Name: n, Partitions: len(ps)}
		if len(ps) > 0 {
			sort.Slice(ps, func(a, b int) bool { return ps[a].String() < ps[b].String() })
			info.Latest = strings.TrimPrefix(ps[len(ps)-1].String(), n+"/")
		}
		out = append(out, info)
	}
	return out, nil
}
