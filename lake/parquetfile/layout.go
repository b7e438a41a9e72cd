package parquetfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/klauspost/compress/s2"
	"github.com/xitongsys/parquet-go/parquet"
)

// fileLayout lays out a file: the current row group's pages and
// dictionaries per column until the group is complete, then the column
// chunks, and at the end the page indexes and the footer.
//
// It writes what parquet-go's writer got wrong and silt used to patch
// after it: a page of only NULLs is a null page in the column index (with
// empty min and max), a page location's size includes the page header,
// and the column index has an entry per data page only (parquet-go also
// counts the dictionary page). Every chunk has min, max and null count, and
// the footer declares each column's sort order, without which Arrow
// ignores the statistics of strings.
type fileLayout struct {
	out    *bufio.Writer
	offset int64 // bytes written to out
	meta   []columnMeta
	opts   Options
	ts     *thrift.TSerializer

	chunks     []chunk // the current row group's, per column
	groupRows  int64
	groupBytes int64 // encoded pages and dictionaries of the current row group
	// groupHeld is the memory of the current row group's pages and their
	// statistics; indexHeld that of the page indexes and chunk metadata of
	// the row groups written, kept for the footer.
	groupHeld, indexHeld int64

	rowGroups     []*parquet.RowGroup
	columnIndexes []*parquet.ColumnIndex // per row group and column, in file order
	offsetIndexes []*parquet.OffsetIndex
	numRows       int64
}

// chunk is one column's part of the current row group.
type chunk struct {
	pages  []page
	dict   dictionary
	noDict bool // the chunk's remaining pages are PLAIN
	// PLAIN bytes of the values of the chunk's dictionary pages, and the
	// bytes of their indexes: whether the dictionary pays.
	sampledPlain, sampledIndexes int64
	stats                        columnBuffer // only its statistics fields: min and max over the pages
	nulls                        int64
	open                         openPage // rows not in pages yet
}

// When a column chunk stops using its dictionary (see addPage): a first
// page of at least minJudgedValues values that are all distinct, or, after
// judgeDictionaryBytes of values, a dictionary and indexes no smaller than
// the values PLAIN (parquet-java makes this call after its first page of
// about 1 MiB; silt's pages are smaller, so it judges over several).
const (
	minJudgedValues      = 64
	judgeDictionaryBytes = 64 << 10
)

// What silt's structures cost in memory beyond the bytes they point to
// (see TestMemoryTracksHeldBytes): a page in a chunk's list; a page's entry
// in the column and offset indexes; a column chunk's metadata in the
// footer.
const (
	pageEntryBytes  = 128
	indexEntryBytes = 96
	chunkMetaBytes  = 640
)

// spoolBufferBytes is the spool file's write buffer: pages larger than it
// go to the file directly, so it only gathers small pages and headers.
const spoolBufferBytes = 64 << 10

// page is an encoded data page and what the indexes say about it.
type page struct {
	raw          []byte // header and compressed data
	uncompressed int64  // header and uncompressed data
	rows         int64
	nulls        int64
	min, max     []byte // nil for a page of only NULLs
	dictionary   bool   // RLE_DICTIONARY, else PLAIN
}

func newFileLayout(f io.Writer, meta []columnMeta, opts Options) fileLayout {
	ts := thrift.NewTSerializer()
	ts.Protocol = thrift.NewTCompactProtocolConf(ts.Transport, &thrift.TConfiguration{})
	return fileLayout{out: bufio.NewWriterSize(f, spoolBufferBytes), meta: meta, opts: opts, ts: ts, chunks: make([]chunk, len(meta))}
}

// memory is what the layout holds in bytes: the spool's write buffer, the
// current row group's pages and dictionaries (with their maps), and the
// page indexes and metadata of the row groups written.
func (l *fileLayout) memory() int64 {
	m := int64(l.out.Size()) + l.groupHeld + l.indexHeld
	for i := range l.chunks {
		m += l.chunks[i].dict.memory() + l.chunks[i].open.memory()
	}
	return m
}

// allocBytes is about what the Go allocator spends on n bytes: small
// allocations round up to a size class (classes are at most 12.5% apart),
// large ones to whole 8 KiB pages.
func allocBytes(n int) int64 {
	switch {
	case n == 0:
		return 0
	case n <= 128:
		return int64(n+15) &^ 15
	case n <= 32<<10:
		return int64(n + n/8)
	}
	return int64(n+8191) &^ 8191
}

func (l *fileLayout) write(b []byte) error {
	_, err := l.out.Write(b)
	l.offset += int64(len(b))
	return err
}

// start writes the magic number that opens a Parquet file.
func (l *fileLayout) start() error {
	if err := l.write([]byte("PAR1")); err != nil {
		return fmt.Errorf("spool parquet: %w", err)
	}
	return nil
}

// header serializes a Thrift structure into a new slice (the serializer
// reuses its buffer).
func (l *fileLayout) header(s thrift.TStruct) ([]byte, error) {
	b, err := l.ts.Write(context.Background(), s)
	return bytes.Clone(b), err
}

// addPages adds a round of buffered rows to each column's open page,
// cutting pages that are full, and writes the row group once its pages
// reach the row group size.
func (l *fileLayout) addPages(cols []columnBuffer, rows int) error {
	sc := pageScratch.Get().(*scratch)
	defer pageScratch.Put(sc)
	for i := range cols {
		if err := l.addRound(i, &cols[i], int64(rows), sc); err != nil {
			return err
		}
	}
	l.groupRows += int64(rows)
	// Open pages count uncompressed: a row group of small columns, whose
	// pages take many rounds, still ends near its size.
	open := int64(0)
	for i := range l.chunks {
		open += l.chunks[i].open.size(l.chunks[i].dict.n)
	}
	if l.groupBytes+open >= l.opts.RowGroupBytes {
		return l.writeGroup()
	}
	return nil
}

// openPage is the page a column is gathering: its rows' definition levels
// and values, uncompressed, until it is cut.
type openPage struct {
	levels      []byte  // a byte a row
	plain       []byte  // PLAIN values (booleans a byte each), unless dict
	idx         []int32 // dictionary indexes, when dict
	dict        bool
	rows, nulls int64
	stats       columnBuffer // only its statistics fields
}

// size is about the page's uncompressed size: values, and levels as the
// RLE runs of a column with few NULLs take them.
func (o *openPage) size(dictEntries int32) int64 {
	n := int64(len(o.levels)/8 + len(o.plain))
	if o.dict {
		n += int64(len(o.idx)*bitWidth(dictEntries)/8 + 1)
	}
	return n
}

func (o *openPage) memory() int64 {
	return int64(cap(o.levels)+cap(o.plain)+4*cap(o.idx)) + o.stats.capacity()
}

// addRound adds a round of column col's values to its open page: through
// the chunk's dictionary while it pays, PLAIN otherwise. A change of
// encoding cuts the open page first; a full page is cut after.
func (l *fileLayout) addRound(col int, c *columnBuffer, rows int64, sc *scratch) error {
	m, ch := &l.meta[col], &l.chunks[col]
	dict := false
	if m.kind != kindBool && !ch.noDict && c.nulls < rows && l.opts.MaxDictionaryBytes > 0 {
		dictBefore, entriesBefore := len(ch.dict.plain), ch.dict.n
		sc.idx = ch.dict.encode(m.kind, c.plain, sc.idx[:0])
		values := rows - c.nulls
		if !ch.dict.used && values >= minJudgedValues && int64(ch.dict.n-entriesBefore) == values {
			// Every value of the chunk's first round is distinct: the
			// column's values do not repeat (ids, offsets, raw events).
			// PLAIN for the whole chunk, without growing a dictionary.
			ch.noDict = true
			ch.dict.reset()
		} else {
			dict, ch.dict.used = true, true
			l.groupBytes += int64(len(ch.dict.plain) - dictBefore)
			ch.sampledPlain += int64(len(c.plain))
			sc.body = appendIndexes(sc.body[:0], sc.idx, bitWidth(ch.dict.n))
			ch.sampledIndexes += int64(len(sc.body))
			// Later rounds are PLAIN once the dictionary is full, or once
			// enough values were seen to tell that the dictionary and its
			// indexes are no smaller than the values themselves.
			ch.noDict = len(ch.dict.plain) > l.opts.MaxDictionaryBytes ||
				ch.sampledPlain >= judgeDictionaryBytes && int64(len(ch.dict.plain))+ch.sampledIndexes >= ch.sampledPlain
		}
	}
	o := &ch.open
	if o.rows > 0 && o.dict != dict {
		if err := l.cutPage(col, sc); err != nil {
			return err
		}
	}
	o.dict = dict
	o.levels = append(o.levels, c.levels...)
	if dict {
		o.idx = append(o.idx, sc.idx...)
	} else {
		o.plain = append(o.plain, c.plain...)
	}
	o.rows += rows
	o.nulls += c.nulls
	if c.hasMinMax {
		o.stats.mergeStats(m.kind, c)
	}
	if o.rows >= int64(l.opts.PageRows) || o.size(ch.dict.n) >= l.opts.PageBytes {
		return l.cutPage(col, sc)
	}
	return nil
}

// cutPage encodes column col's open page, compressed, into the chunk's
// pages (held until the row group is written) and empties it.
func (l *fileLayout) cutPage(col int, sc *scratch) error {
	m, ch := &l.meta[col], &l.chunks[col]
	o := &ch.open
	if o.rows == 0 {
		return nil
	}
	sc.body = appendLevels(sc.body[:0], o.levels)
	switch {
	case o.dict:
		sc.body = appendIndexes(sc.body, o.idx, bitWidth(ch.dict.n))
	case m.kind == kindBool:
		sc.body = packBools(sc.body, o.plain)
	default:
		sc.body = append(sc.body, o.plain...)
	}
	sc.compressed = snappy(sc.compressed, sc.body)

	h := parquet.NewPageHeader()
	h.Type = parquet.PageType_DATA_PAGE
	h.UncompressedPageSize = int32(len(sc.body))
	h.CompressedPageSize = int32(len(sc.compressed))
	dh := parquet.NewDataPageHeader()
	dh.NumValues = int32(o.rows)
	dh.Encoding = parquet.Encoding_PLAIN
	if o.dict {
		dh.Encoding = parquet.Encoding_RLE_DICTIONARY
	}
	dh.DefinitionLevelEncoding = parquet.Encoding_RLE
	dh.RepetitionLevelEncoding = parquet.Encoding_RLE
	p := page{rows: o.rows, nulls: o.nulls, dictionary: o.dict}
	if o.stats.hasMinMax {
		p.min, p.max = o.stats.statBytes(m.kind)
		ch.stats.mergeStats(m.kind, &o.stats)
	}
	dh.Statistics = statistics(m, p.min, p.max, o.nulls)
	h.DataPageHeader = dh
	head, err := l.header(h)
	if err != nil {
		return fmt.Errorf("page header of %s: %w", m.name, err)
	}
	p.raw = append(append(make([]byte, 0, len(head)+len(sc.compressed)), head...), sc.compressed...)
	p.uncompressed = int64(len(head) + len(sc.body))
	ch.pages = append(ch.pages, p)
	ch.nulls += o.nulls
	l.groupBytes += int64(len(p.raw))
	l.groupHeld += allocBytes(cap(p.raw)) + allocBytes(len(p.min)) + allocBytes(len(p.max)) + pageEntryBytes
	*o = openPage{levels: o.levels[:0], plain: o.plain[:0], idx: o.idx[:0], stats: columnBuffer{minS: o.stats.minS[:0], maxS: o.stats.maxS[:0]}}
	return nil
}

// snappy compresses src into dst's storage (grown when short), with s2's
// "better" Snappy encoder: its fast one left PLAIN columns of short,
// similar values (the event's timestamp string, session ids) 26% larger
// than C++ Snappy does, and silt's files 1.01x the bytes of Trino's. Across
// all event types (BenchmarkDecodeAndEncode, side by side) files are 4.1%
// smaller for 5-7% more CPU, and events/s stay the same: encoding runs
// beside decoding.
func snappy(dst, src []byte) []byte {
	if n := s2.MaxEncodedLen(len(src)); cap(dst) < n {
		dst = make([]byte, n)
	}
	return s2.EncodeSnappyBetter(dst[:cap(dst)], src)
}

// statistics of a page or chunk: null count, and min and max unless every
// value is NULL. min_value/max_value carry them for every type; the legacy
// min/max (signed byte order for strings, which silt's readers must not
// trust for UTF-8) only for numbers and booleans.
func statistics(m *columnMeta, lo, hi []byte, nulls int64) *parquet.Statistics {
	st := parquet.NewStatistics()
	st.NullCount = &nulls
	if lo != nil {
		st.MinValue, st.MaxValue = lo, hi
		if m.kind != kindString {
			st.Min, st.Max = lo, hi
		}
	}
	return st
}

// mergeStats widens s's min and max to include c's.
func (s *columnBuffer) mergeStats(kind valueKind, c *columnBuffer) {
	switch kind {
	case kindDouble:
		widen(c.minF, &s.minF, &s.maxF, &s.hasMinMax)
		widen(c.maxF, &s.minF, &s.maxF, &s.hasMinMax)
	case kindString:
		if !s.hasMinMax || bytes.Compare(c.minS, s.minS) < 0 {
			s.minS = append(s.minS[:0], c.minS...)
		}
		if !s.hasMinMax || bytes.Compare(c.maxS, s.maxS) > 0 {
			s.maxS = append(s.maxS[:0], c.maxS...)
		}
		s.hasMinMax = true
	default: // int64, and booleans as 0 and 1
		widen(c.minI, &s.minI, &s.maxI, &s.hasMinMax)
		widen(c.maxI, &s.minI, &s.maxI, &s.hasMinMax)
	}
}

// writeGroup writes the current row group, column by column: each chunk's
// dictionary page (when a page uses it), then its data pages.
func (l *fileLayout) writeGroup() error {
	if l.groupRows == 0 {
		return nil
	}
	sc := pageScratch.Get().(*scratch)
	for i := range l.chunks {
		if err := l.cutPage(i, sc); err != nil {
			pageScratch.Put(sc)
			return err
		}
	}
	pageScratch.Put(sc)
	rg := parquet.NewRowGroup()
	rg.NumRows = l.groupRows
	ordinal := int16(len(l.rowGroups))
	rg.Ordinal = &ordinal
	first := l.offset
	rg.FileOffset = &first
	var compressedTotal int64
	for i := range l.chunks {
		m, ch := &l.meta[i], &l.chunks[i]
		start := l.offset
		cm := parquet.NewColumnMetaData()
		cm.Type = *m.schema.Type
		cm.PathInSchema = []string{m.name}
		cm.Codec = parquet.CompressionCodec_SNAPPY
		cm.NumValues = l.groupRows
		var uncompressed int64
		var plainPages, dictPages int32
		if ch.dict.used {
			sc := pageScratch.Get().(*scratch)
			sc.compressed = snappy(sc.compressed, ch.dict.plain)
			h := parquet.NewPageHeader()
			h.Type = parquet.PageType_DICTIONARY_PAGE
			h.UncompressedPageSize = int32(len(ch.dict.plain))
			h.CompressedPageSize = int32(len(sc.compressed))
			h.DictionaryPageHeader = parquet.NewDictionaryPageHeader()
			h.DictionaryPageHeader.NumValues = ch.dict.n
			h.DictionaryPageHeader.Encoding = parquet.Encoding_PLAIN
			head, err := l.header(h)
			if err == nil {
				if err = l.write(head); err == nil {
					err = l.write(sc.compressed)
				}
			}
			pageScratch.Put(sc)
			if err != nil {
				return fmt.Errorf("dictionary page of %s: %w", m.name, err)
			}
			cm.DictionaryPageOffset = &start
			uncompressed += int64(len(head) + len(ch.dict.plain))
		}
		cm.DataPageOffset = l.offset
		var lo, hi []byte
		if ch.stats.hasMinMax {
			lo, hi = ch.stats.statBytes(m.kind)
		}
		var ci *parquet.ColumnIndex
		if l.opts.ColumnIndexes && indexPrunes(ch.pages, lo, hi, ch.nulls) {
			ci = parquet.NewColumnIndex()
			ci.BoundaryOrder = parquet.BoundaryOrder_UNORDERED
		}
		oi := parquet.NewOffsetIndex()
		var firstRow int64
		for _, p := range ch.pages {
			oi.PageLocations = append(oi.PageLocations, &parquet.PageLocation{Offset: l.offset, CompressedPageSize: int32(len(p.raw)), FirstRowIndex: firstRow})
			l.indexHeld += indexEntryBytes
			if ci != nil {
				ci.NullPages = append(ci.NullPages, p.min == nil)
				pageLo, pageHi := p.min, p.max
				if pageLo == nil {
					pageLo, pageHi = []byte{}, []byte{}
				}
				ci.MinValues = append(ci.MinValues, pageLo)
				ci.MaxValues = append(ci.MaxValues, pageHi)
				ci.NullCounts = append(ci.NullCounts, p.nulls)
				l.indexHeld += allocBytes(len(p.min)) + allocBytes(len(p.max))
			}
			if err := l.write(p.raw); err != nil {
				return fmt.Errorf("pages of %s: %w", m.name, err)
			}
			uncompressed += p.uncompressed
			firstRow += p.rows
			if p.dictionary {
				dictPages++
			} else {
				plainPages++
			}
		}
		cm.Encodings = []parquet.Encoding{parquet.Encoding_RLE} // definition levels
		if plainPages > 0 || ch.dict.used {
			cm.Encodings = append([]parquet.Encoding{parquet.Encoding_PLAIN}, cm.Encodings...)
		}
		if ch.dict.used {
			cm.Encodings = append(cm.Encodings, parquet.Encoding_RLE_DICTIONARY)
			cm.EncodingStats = append(cm.EncodingStats, &parquet.PageEncodingStats{PageType: parquet.PageType_DICTIONARY_PAGE, Encoding: parquet.Encoding_PLAIN, Count: 1})
		}
		if plainPages > 0 {
			cm.EncodingStats = append(cm.EncodingStats, &parquet.PageEncodingStats{PageType: parquet.PageType_DATA_PAGE, Encoding: parquet.Encoding_PLAIN, Count: plainPages})
		}
		if dictPages > 0 {
			cm.EncodingStats = append(cm.EncodingStats, &parquet.PageEncodingStats{PageType: parquet.PageType_DATA_PAGE, Encoding: parquet.Encoding_RLE_DICTIONARY, Count: dictPages})
		}
		cm.Statistics = statistics(m, lo, hi, ch.nulls)
		cm.TotalCompressedSize = l.offset - start
		cm.TotalUncompressedSize = uncompressed
		cc := parquet.NewColumnChunk()
		cc.FileOffset = start
		cc.MetaData = cm
		rg.Columns = append(rg.Columns, cc)
		rg.TotalByteSize += uncompressed
		compressedTotal += cm.TotalCompressedSize
		l.columnIndexes = append(l.columnIndexes, ci)
		l.offsetIndexes = append(l.offsetIndexes, oi)
		l.indexHeld += chunkMetaBytes + allocBytes(len(lo)) + allocBytes(len(hi))
		// The dictionary goes with its row group: kept, its map's table
		// and values would stay at their largest for the file's life.
		*ch = chunk{stats: columnBuffer{minS: ch.stats.minS[:0], maxS: ch.stats.maxS[:0]}, open: ch.open}
	}
	rg.TotalCompressedSize = &compressedTotal
	l.rowGroups = append(l.rowGroups, rg)
	l.numRows += l.groupRows
	l.groupRows, l.groupBytes, l.groupHeld = 0, 0, 0
	return nil
}

// indexPrunes reports whether a column chunk's column index tells a
// reader more than the chunk's own statistics (lo, hi, nulls): a page whose
// range is narrower than the chunk's, a page of only NULLs (which IS NOT
// NULL skips) or a page without NULLs in a chunk with some (which IS NULL
// skips). An index that can skip no page (host's three values in every
// page) is left out and its offset index kept: it costs bytes and reader
// work for nothing. Only with Options.ColumnIndexes.
func indexPrunes(pages []page, lo, hi []byte, nulls int64) bool {
	for _, p := range pages {
		if p.min == nil || !bytes.Equal(p.min, lo) || !bytes.Equal(p.max, hi) || nulls > 0 && p.nulls == 0 {
			return true
		}
	}
	return false
}

// finish writes the last row group, the column indexes, the offset indexes
// and the footer.
func (l *fileLayout) finish() error {
	if err := l.writeGroup(); err != nil {
		return err
	}
	k := 0
	for _, rg := range l.rowGroups {
		for _, cc := range rg.Columns {
			if l.columnIndexes[k] == nil {
				k++
				continue
			}
			b, err := l.header(l.columnIndexes[k])
			if err != nil {
				return fmt.Errorf("column index: %w", err)
			}
			off, n := l.offset, int32(len(b))
			cc.ColumnIndexOffset, cc.ColumnIndexLength = &off, &n
			if err := l.write(b); err != nil {
				return err
			}
			k++
		}
	}
	k = 0
	for _, rg := range l.rowGroups {
		for _, cc := range rg.Columns {
			b, err := l.header(l.offsetIndexes[k])
			if err != nil {
				return fmt.Errorf("offset index: %w", err)
			}
			off, n := l.offset, int32(len(b))
			cc.OffsetIndexOffset, cc.OffsetIndexLength = &off, &n
			if err := l.write(b); err != nil {
				return err
			}
			k++
		}
	}
	fm := parquet.NewFileMetaData()
	fm.Version = 1
	root := parquet.NewSchemaElement()
	root.Name = "schema"
	children := int32(len(l.meta))
	root.NumChildren = &children
	fm.Schema = []*parquet.SchemaElement{root}
	for i := range l.meta {
		fm.Schema = append(fm.Schema, l.meta[i].schema)
		fm.ColumnOrders = append(fm.ColumnOrders, &parquet.ColumnOrder{TYPE_ORDER: parquet.NewTypeDefinedOrder()})
	}
	fm.NumRows = l.numRows
	fm.RowGroups = l.rowGroups
	fm.CreatedBy = &l.opts.CreatedBy
	footer, err := l.header(fm)
	if err != nil {
		return fmt.Errorf("footer: %w", err)
	}
	if err := l.write(footer); err != nil {
		return err
	}
	if err := l.write(binary.LittleEndian.AppendUint32(nil, uint32(len(footer)))); err != nil {
		return err
	}
	if err := l.write([]byte("PAR1")); err != nil {
		return err
	}
	return l.out.Flush()
}
