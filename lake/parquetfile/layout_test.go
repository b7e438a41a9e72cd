package parquetfile

import "testing"

// TestIndexPrunes covers each way a column index can skip a page that the
// chunk's statistics cannot, and the chunk where it can skip none.
func TestIndexPrunes(t *testing.T) {
	a, b, c := []byte("a"), []byte("b"), []byte("c")
	full := func(nulls int64) page { return page{min: a, max: c, nulls: nulls} }
	for _, tc := range []struct {
		name  string
		pages []page
		nulls int64 // the chunk's
		want  bool
	}{
		{"every page spans the chunk", []page{full(0), full(0)}, 0, false},
		{"every page spans the chunk, NULLs in each", []page{full(1), full(2)}, 3, false},
		{"a narrower page", []page{full(0), {min: a, max: b}}, 0, true},
		{"a page of only NULLs", []page{full(0), {nulls: 5}}, 5, true},
		{"a page without NULLs in a chunk with some", []page{full(2), full(0)}, 2, true},
	} {
		if got := indexPrunes(tc.pages, a, c, tc.nulls); got != tc.want {
			t.Errorf("%s: indexPrunes = %v, want %v", tc.name, got, tc.want)
		}
	}
}
