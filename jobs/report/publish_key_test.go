package report

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The default key is window_start and the text columns, whatever the
// first row holds: a NULL there must not drop its column from the key
// (the same row would then be published under another key).
func TestDefaultKeyColumns(t *testing.T) {
	w := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	res := &Result{
		Columns: []string{"window_start", "symbol", "venue", "count", "avg_price"},
		Rows:    [][]any{{w, "ACME", nil, int64(3), 1.5}, {w, "ACME", "XNYS", int64(1), 2.0}},
	}
	idx, err := keyColumns(res, nil)
	require.NoError(t, err)
	require.Equal(t, []int{0, 1, 2}, idx, "by the values: venue is text in a later row")

	res.Types = []string{"TIMESTAMP", "VARCHAR", "VARCHAR", "BIGINT", "DOUBLE"}
	res.Rows = [][]any{{w, "ACME", nil, int64(3), 1.5}}
	idx, err = keyColumns(res, nil)
	require.NoError(t, err)
	require.Equal(t, []int{0, 1, 2}, idx, "by the engine's types: venue is VARCHAR though NULL in every row")

	idx, err = keyColumns(res, []string{"symbol", "window_start"})
	require.NoError(t, err)
	require.Equal(t, []int{1, 0}, idx)
	_, err = keyColumns(res, []string{"ticker"})
	require.ErrorContains(t, err, "publish.key names ticker, which the report does not return")
}
