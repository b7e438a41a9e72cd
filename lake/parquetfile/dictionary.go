package parquetfile

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// DefaultMaxDictionaryBytes bounds a column chunk's dictionary: its values,
// PLAIN-encoded, stop growing past 1 MiB (parquet-java's and Arrow's
// default dictionary page size). The page during which the bound is crossed
// still uses the dictionary, so a dictionary page can exceed it by one
// page's new values (at most one round's input, roundInputBytes); the
// chunk's later pages are PLAIN.
const DefaultMaxDictionaryBytes = 1 << 20

// dictionary is one column chunk's dictionary: each distinct value once, in
// order of first appearance, PLAIN-encoded as the dictionary page holds
// them. Numbers are keyed by their 8 bytes (a double by its bits, so -0 and
// 0, and every NaN, stay distinct values as PLAIN would keep them).
type dictionary struct {
	nums     map[uint64]int32
	strs     map[string]int32
	strBytes int64 // allocated for the strings the map keeps as keys
	plain    []byte
	n        int32
	used     bool // some data page of the chunk refers to it
}

// What a map spends per entry beyond a string key's bytes: a slot (key
// and index, 24 bytes for a string, 16 for a number) and a control byte,
// in tables filled between 7/16 and 7/8 before they grow.
const (
	strEntryBytes = 40
	numEntryBytes = 28
)

// reset drops the dictionary, its memory with it: a map cleared would
// keep its table at its largest.
func (d *dictionary) reset() { *d = dictionary{} }

// memory is what the dictionary holds in bytes: its values, PLAIN, and
// its map (see strEntryBytes).
func (d *dictionary) memory() int64 {
	return int64(cap(d.plain)) + d.strBytes + int64(len(d.strs))*strEntryBytes + int64(len(d.nums))*numEntryBytes
}

// encode appends the dictionary index of each value in plain (the page's
// non-NULL values, PLAIN-encoded) to idx, adding new values.
func (d *dictionary) encode(kind valueKind, plain []byte, idx []int32) []int32 {
	if kind == kindString {
		if d.strs == nil {
			d.strs = map[string]int32{}
		}
		for p := 0; p < len(plain); {
			n := int(binary.LittleEndian.Uint32(plain[p:]))
			v := plain[p+4 : p+4+n]
			// The lookup by a converted []byte does not allocate; a new
			// value is copied into a string the map keeps.
			i, ok := d.strs[unsafe.String(unsafe.SliceData(v), len(v))]
			if !ok {
				i = d.n
				d.n++
				d.strs[string(v)] = i
				d.strBytes += allocBytes(len(v))
				d.plain = append(d.plain, plain[p:p+4+n]...)
			}
			idx = append(idx, i)
			p += 4 + n
		}
		return idx
	}
	if d.nums == nil {
		d.nums = map[uint64]int32{}
	}
	for p := 0; p+8 <= len(plain); p += 8 {
		v := binary.LittleEndian.Uint64(plain[p:])
		i, ok := d.nums[v]
		if !ok {
			i = d.n
			d.n++
			d.nums[v] = i
			d.plain = append(d.plain, plain[p:p+8]...)
		}
		idx = append(idx, i)
	}
	return idx
}

// bitWidth is the width of the indexes into a dictionary of n values. At
// least 1: a width of 0 is valid Parquet, but not every reader takes it.
func bitWidth(n int32) int {
	return max(1, bits.Len32(uint32(max(n-1, 0))))
}

// appendIndexes appends the data of an RLE_DICTIONARY page's values: the
// bit width, then the indexes in the RLE / bit-packing hybrid encoding.
// A run of at least 8 equal indexes at a group boundary is an RLE run;
// everything else is bit-packed in groups of 8.
func appendIndexes(dst []byte, idx []int32, width int) []byte {
	dst = append(dst, byte(width))
	runLen := func(i int) int {
		j := i + 1
		for j < len(idx) && idx[j] == idx[i] {
			j++
		}
		return j - i
	}
	for i := 0; i < len(idx); {
		if r := runLen(i); r >= 8 {
			dst = binary.AppendUvarint(dst, uint64(r)<<1)
			v := uint32(idx[i])
			for b := 0; b < (width+7)/8; b++ {
				dst = append(dst, byte(v>>(8*b)))
			}
			i += r
			continue
		}
		// Bit-packed groups of 8 until a long run starts at a group
		// boundary; the last group is padded with zeros.
		start := i
		groups := 0
		for i < len(idx) {
			if i > start && i+8 <= len(idx) && idx[i+7] == idx[i] && runLen(i) >= 8 {
				break
			}
			i += 8
			groups++
		}
		i = min(i, len(idx))
		dst = binary.AppendUvarint(dst, uint64(groups)<<1|1)
		dst = packBits(dst, idx[start:i], groups*8, width)
	}
	return dst
}

// packBits packs vals (zero-padded to n values) at width bits each, least
// significant bit first.
func packBits(dst []byte, vals []int32, n, width int) []byte {
	var acc uint64
	var have int
	for k := 0; k < n; k++ {
		var v uint64
		if k < len(vals) {
			v = uint64(uint32(vals[k]))
		}
		acc |= v << have
		have += width
		for have >= 8 {
			dst = append(dst, byte(acc))
			acc >>= 8
			have -= 8
		}
	}
	if have > 0 {
		dst = append(dst, byte(acc))
	}
	return dst
}
