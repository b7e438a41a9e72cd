// Reads Parquet files with parquet-java and prints, per file, what the
// interop test compares: created_by, row group sizes, every row, each
// column chunk's statistics, and its page index (the first row of each
// page, and where there is a column index each page's null flag, null
// count, min and max). Run as a single-file program:
//   java -cp '<parquet-java jars>/*' ReadParquetJava.java FILE...
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.parquet.column.Encoding;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.column.statistics.Statistics;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.convert.GroupRecordConverter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.ColumnChunkMetaData;
import org.apache.parquet.hadoop.metadata.ParquetMetadata;
import org.apache.parquet.internal.column.columnindex.ColumnIndex;
import org.apache.parquet.internal.column.columnindex.OffsetIndex;
import org.apache.parquet.io.ColumnIOFactory;
import org.apache.parquet.io.LocalInputFile;
import org.apache.parquet.io.MessageColumnIO;
import org.apache.parquet.io.RecordReader;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;

public class ReadParquetJava {
  static Object plain(Object v) {
    return v instanceof Binary b ? b.toStringUsingUTF8() : v;
  }

  // pageValues decodes a column index's per-page mins or maxes (PLAIN,
  // as the spec stores them); a page of only NULLs has none.
  static List<Object> pageValues(List<ByteBuffer> raw, List<Boolean> nullPages, PrimitiveTypeName type) {
    List<Object> out = new ArrayList<>();
    for (int p = 0; p < raw.size(); p++) {
      if (nullPages.get(p)) {
        out.add(null);
        continue;
      }
      ByteBuffer b = raw.get(p).duplicate().order(ByteOrder.LITTLE_ENDIAN);
      switch (type) {
        case INT64 -> out.add(b.getLong(b.position()));
        case DOUBLE -> out.add(b.getDouble(b.position()));
        case BOOLEAN -> out.add(b.get(b.position()) != 0);
        default -> {
          byte[] bytes = new byte[b.remaining()];
          b.get(bytes);
          out.add(new String(bytes, StandardCharsets.UTF_8));
        }
      }
    }
    return out;
  }

  public static void main(String[] args) throws Exception {
    List<Object> out = new ArrayList<>();
    for (String path : args) {
      Map<String, Object> file = new LinkedHashMap<>();
      try (ParquetFileReader r = ParquetFileReader.open(new LocalInputFile(Paths.get(path)))) {
        ParquetMetadata md = r.getFooter();
        MessageType schema = md.getFileMetaData().getSchema();
        file.put("path", path);
        file.put("created_by", md.getFileMetaData().getCreatedBy());
        List<Long> groups = new ArrayList<>();
        List<Object> chunks = new ArrayList<>();
        int g = 0;
        for (BlockMetaData b : md.getBlocks()) {
          groups.add(b.getRowCount());
          for (ColumnChunkMetaData c : b.getColumns()) {
            Statistics<?> s = c.getStatistics();
            Map<String, Object> ch = new LinkedHashMap<>();
            ch.put("row_group", g);
            ch.put("column", c.getPath().toDotString());
            ch.put("null_count", s.isNumNullsSet() ? s.getNumNulls() : null);
            ch.put("min", s.hasNonNullValue() ? plain(s.genericGetMin()) : null);
            ch.put("max", s.hasNonNullValue() ? plain(s.genericGetMax()) : null);
            List<String> enc = new ArrayList<>();
            for (Encoding e : c.getEncodings()) enc.add(e.name());
            ch.put("encodings", enc);
            ch.put("dictionary", c.getDictionaryPageOffset() > 0);
            ColumnIndex ci = r.readColumnIndex(c);
            OffsetIndex oi = r.readOffsetIndex(c);
            List<Long> firstRows = new ArrayList<>();
            for (int p = 0; oi != null && p < oi.getPageCount(); p++) firstRows.add(oi.getFirstRowIndex(p));
            ch.put("page_first_rows", firstRows);
            ch.put("null_pages", ci == null ? null : ci.getNullPages());
            if (ci != null) {
              PrimitiveTypeName type = c.getPrimitiveType().getPrimitiveTypeName();
              ch.put("page_null_counts", ci.getNullCounts());
              ch.put("page_mins", pageValues(ci.getMinValues(), ci.getNullPages(), type));
              ch.put("page_maxes", pageValues(ci.getMaxValues(), ci.getNullPages(), type));
            }
            chunks.add(ch);
          }
          g++;
        }
        List<Object> rows = new ArrayList<>();
        MessageColumnIO io = new ColumnIOFactory().getColumnIO(schema);
        PageReadStore pages;
        while ((pages = r.readNextRowGroup()) != null) {
          RecordReader<Group> rr = io.getRecordReader(pages, new GroupRecordConverter(schema));
          for (long i = 0; i < pages.getRowCount(); i++) {
            Group row = rr.read();
            List<Object> values = new ArrayList<>();
            for (int f = 0; f < schema.getFieldCount(); f++) {
              if (row.getFieldRepetitionCount(f) == 0) {
                values.add(null);
                continue;
              }
              switch (schema.getType(f).asPrimitiveType().getPrimitiveTypeName()) {
                case INT64 -> values.add(row.getLong(f, 0));
                case DOUBLE -> values.add(row.getDouble(f, 0));
                case BOOLEAN -> values.add(row.getBoolean(f, 0));
                default -> values.add(row.getString(f, 0));
              }
            }
            rows.add(values);
          }
        }
        file.put("row_groups", groups);
        file.put("chunks", chunks);
        file.put("rows", rows);
      }
      out.add(file);
    }
    new ObjectMapper().writeValue(System.out, out);
  }
}
