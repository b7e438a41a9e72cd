package catalog

import (
	"fmt"
	"strings"
	"time"

	"github.com/silt-etl/silt/internal/ident"
	"github.com/silt-etl/silt/lake"
)

// Everything spliced into DDL passes through here: names are checked
// against the identifier rule and quoted, values are checked against their
// shape and quoted as literals. Nothing from an event reaches SQL otherwise.

// Quote double-quotes a validated identifier.
func Quote(name string) string { return `"` + name + `"` }

// literal quotes a string as a SQL string literal. Only config-derived and
// already validated values are passed, the doubling of quotes is a second
// guard.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func validTable(name string) bool { return name == lake.DeadLetterTable || ident.Valid(name) }

func checkSchema(s lake.TableSchema, layout lake.Layout) error {
	if !validTable(s.Table) {
		return fmt.Errorf("table name %q is not an identifier", s.Table)
	}
	seen := map[string]bool{}
	for _, c := range s.AllColumns() {
		if !ident.Valid(c.Name) {
			return fmt.Errorf("table %s: column name %q is not an identifier", s.Table, c.Name)
		}
		if seen[c.Name] || c.Name == "dt" || c.Name == "hour" || layout.IsPartitionColumn(c.Name) {
			return fmt.Errorf("table %s: column %q appears twice or is a partition key", s.Table, c.Name)
		}
		seen[c.Name] = true
		if _, ok := trinoTypes[c.Type]; !ok {
			return fmt.Errorf("table %s: column %s has unknown type %q", s.Table, c.Name, c.Type)
		}
	}
	return nil
}

// checkPartition checks p's values and that it is in the catalog's layout:
// a partition directory of the other layout is not part of its table.
func (c *Catalog) checkPartition(p lake.Partition) error {
	if p.Layout != c.layout {
		return fmt.Errorf("partition %s is in layout %s, but lake.layout is %s: the lake holds a directory of the other layout (move it out, or use lake.layout: %s for this lake)", p, p.Layout, c.layout, p.Layout)
	}
	if !validTable(p.Table) {
		return fmt.Errorf("partition table %q is not an identifier", p.Table)
	}
	if _, err := time.Parse("2006-01-02", p.Date); err != nil || len(p.Date) != 10 {
		return fmt.Errorf("partition %s: dt %q is not a date YYYY-MM-DD", p, p.Date)
	}
	if len(p.Hour) != 2 || p.Hour < "00" || p.Hour > "23" || p.Hour[0] < '0' || p.Hour[0] > '2' || p.Hour[1] < '0' || p.Hour[1] > '9' {
		return fmt.Errorf("partition %s: hour %q is not 00-23", p, p.Hour)
	}
	return nil
}

var trinoTypes = map[string]string{
	lake.TypeVarchar:   "varchar",
	lake.TypeDouble:    "double",
	lake.TypeBigint:    "bigint",
	lake.TypeBoolean:   "boolean",
	lake.TypeTimestamp: "timestamp(3)",
}

var duckTypes = map[string]string{
	lake.TypeVarchar:   "VARCHAR",
	lake.TypeDouble:    "DOUBLE",
	lake.TypeBigint:    "BIGINT",
	lake.TypeBoolean:   "BOOLEAN",
	lake.TypeTimestamp: "TIMESTAMP",
}

// LakeType maps an engine's information_schema data_type back to the lake
// vocabulary; ok is false for types silt never creates.
func LakeType(engineType string) (string, bool) {
	t := strings.ToLower(engineType)
	switch {
	case t == "varchar" || strings.HasPrefix(t, "varchar("):
		return lake.TypeVarchar, true
	case t == "double":
		return lake.TypeDouble, true
	case t == "bigint":
		return lake.TypeBigint, true
	case t == "boolean":
		return lake.TypeBoolean, true
	case t == "timestamp" || strings.HasPrefix(t, "timestamp("):
		return lake.TypeTimestamp, true
	}
	return t, false
}
