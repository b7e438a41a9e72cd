"""Reads Parquet files with pyarrow and prints, per file, what the interop
test compares: created_by, row group sizes, every row (timestamps as their
raw int64), and each column chunk's statistics as pyarrow reads them."""
import json
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def plain(v):
    return v.decode("utf-8") if isinstance(v, bytes) else v


out = []
for path in sys.argv[1:]:
    f = pq.ParquetFile(path)
    md = f.metadata
    table = f.read()
    cols = []
    for c in table.columns:
        if pa.types.is_timestamp(c.type):
            c = c.cast(pa.int64())
        cols.append(c.to_pylist())
    chunks = []
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        for i in range(rg.num_columns):
            c = rg.column(i)
            s = c.statistics
            chunks.append({
                "row_group": g,
                "column": c.path_in_schema,
                "null_count": s.null_count if s is not None and s.has_null_count else None,
                "min": plain(s.min_raw) if s is not None and s.has_min_max else None,
                "max": plain(s.max_raw) if s is not None and s.has_min_max else None,
                "encodings": list(c.encodings),
                "dictionary": c.has_dictionary_page,
            })
    out.append({
        "path": path,
        "created_by": md.created_by,
        "row_groups": [md.row_group(g).num_rows for g in range(md.num_row_groups)],
        "rows": [list(r) for r in zip(*cols)],
        "chunks": chunks,
    })
json.dump(out, sys.stdout)
