package parquetfile

import (
	"fmt"
	"strings"

	"github.com/xitongsys/parquet-go-source/local"
	"github.com/xitongsys/parquet-go/common"
	"github.com/xitongsys/parquet-go/parquet"
	"github.com/xitongsys/parquet-go/reader"

	"github.com/silt-etl/silt/lake"
)

// ReadRows reads a flat Parquet file silt wrote into rows laid out
// as cols: a column the file lacks (an older schema) reads NULL, and
// timestamps are converted to unit. It holds the whole file in memory, so
// it is for the small objects compaction merges.
func ReadRows(path string, cols []lake.Column, unit lake.TimeUnit) ([][]any, error) {
	f, err := local.NewLocalFileReader(path)
	if err != nil {
		return nil, fmt.Errorf("open parquet %s: %w", path, err)
	}
	defer f.Close()
	pr, err := reader.NewParquetColumnReader(f, 1)
	if err != nil {
		return nil, fmt.Errorf("read parquet footer %s: %w", path, err)
	}
	defer pr.ReadStop()
	n := pr.GetNumRows()
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = make([]any, len(cols))
	}
	byName := map[string]int{}
	for i, c := range cols {
		byName[c.Name] = i
	}
	for idx, inPath := range pr.SchemaHandler.ValueColumns {
		exPath := pr.SchemaHandler.InPathToExPath[inPath]
		name := exPath[strings.LastIndex(exPath, common.PAR_GO_PATH_DELIMITER)+1:]
		ci, ok := byName[name]
		if !ok {
			continue // a column the table no longer has cannot happen: columns only grow
		}
		values, _, dls, err := pr.ReadColumnByIndex(int64(idx), n)
		if err != nil {
			return nil, fmt.Errorf("read column %s of %s: %w", name, path, err)
		}
		if int64(len(values)) != n {
			return nil, fmt.Errorf("read column %s of %s: %d values for %d rows", name, path, len(values), n)
		}
		scale := timestampScale(pr.SchemaHandler.SchemaElements[pr.SchemaHandler.MapIndex[inPath]], cols[ci], unit)
		for r, v := range values {
			if dls[r] == 0 {
				continue // NULL
			}
			if scale != 1 {
				if x, ok := v.(int64); ok {
					v = scaleTimestamp(x, scale)
				}
			}
			rows[r][ci] = v
		}
	}
	return rows, nil
}

// timestampScale is the factor from a file's timestamp unit to unit: 1000
// from millis to micros, -1000 from micros to millis, 1 otherwise.
func timestampScale(el *parquet.SchemaElement, c lake.Column, unit lake.TimeUnit) int64 {
	if c.Type != lake.TypeTimestamp || el.LogicalType == nil || el.LogicalType.TIMESTAMP == nil {
		return 1
	}
	fileMicros := el.LogicalType.TIMESTAMP.Unit.IsSetMICROS()
	switch {
	case fileMicros && unit == lake.Millis:
		return -1000
	case !fileMicros && unit == lake.Micros:
		return 1000
	}
	return 1
}

func scaleTimestamp(x, scale int64) int64 {
	if scale < 0 {
		return x / -scale
	}
	return x * scale
}
