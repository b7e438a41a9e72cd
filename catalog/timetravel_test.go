package catalog

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/lake"
)

func TestParseAsOf(t *testing.T) {
	a, err := ParseAsOf("8479380315517235230")
	require.NoError(t, err)
	require.Equal(t, int64(8479380315517235230), a.Snapshot)
	require.Equal(t, " FOR VERSION AS OF 8479380315517235230", a.clause())
	for _, s := range []string{"2026-05-01T10:00:00Z", "2026-05-01T12:00:00+02:00", "2026-05-01 10:00:00", "2026-05-01 10:00"} {
		a, err := ParseAsOf(s)
		require.NoError(t, err, s)
		require.Equal(t, time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), a.Time, s)
		require.Equal(t, " FOR TIMESTAMP AS OF TIMESTAMP '2026-05-01 10:00:00.000 UTC'", a.clause())
	}
	for _, bad := range []string{"", "yesterday", "0", "2026-13-01"} {
		_, err := ParseAsOf(bad)
		require.Error(t, err, bad)
	}
}

// TestApplyPeriod: the period goes after every relation naming one of the
// catalog's tables, and nowhere else (columns, strings, comments, other
// schemas, metadata tables, function calls that say FROM).
func TestApplyPeriod(t *testing.T) {
	tables := map[string][]lake.Column{"purchase_sword": nil, "join_guild": nil, "Odd": nil}
	const p = " FOR VERSION AS OF 7"
	for _, c := range []struct{ in, want string }{
		{`SELECT count(*) FROM purchase_sword`, `SELECT count(*) FROM purchase_sword` + p},
		{`select host from PURCHASE_SWORD s where s.host = 'from join_guild'`, `select host from PURCHASE_SWORD` + p + ` s where s.host = 'from join_guild'`},
		{`SELECT * FROM events.purchase_sword a JOIN iceberg.events.join_guild b ON a.host = b.host`, `SELECT * FROM events.purchase_sword` + p + ` a JOIN iceberg.events.join_guild` + p + ` b ON a.host = b.host`},
		{`SELECT * FROM "purchase_sword", join_guild -- FROM join_guild`, `SELECT * FROM "purchase_sword"` + p + `, join_guild` + p + ` -- FROM join_guild`},
		{`SELECT * FROM (SELECT host FROM purchase_sword) x, (SELECT 1) y`, `SELECT * FROM (SELECT host FROM purchase_sword` + p + `) x, (SELECT 1) y`},
		{`SELECT extract(hour FROM event_time), count(*) FROM join_guild GROUP BY 1, 2`, `SELECT extract(hour FROM event_time), count(*) FROM join_guild` + p + ` GROUP BY 1, 2`},
		{`SELECT * FROM other.purchase_sword, "purchase_sword$snapshots", "odd"`, `SELECT * FROM other.purchase_sword, "purchase_sword$snapshots", "odd"`},
		{`WITH w AS (SELECT * FROM join_guild) SELECT * FROM w`, `WITH w AS (SELECT * FROM join_guild` + p + `) SELECT * FROM w`},
	} {
		got, _, err := applyPeriod(c.in, tables, "iceberg", "events", p)
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, got, c.in)
	}
	_, named, err := applyPeriod(`SELECT * FROM purchase_sword a JOIN join_guild b ON true JOIN purchase_sword c ON true`, tables, "iceberg", "events", p)
	require.NoError(t, err)
	require.Equal(t, []string{"join_guild", "purchase_sword"}, named)
	_, _, err = applyPeriod(`SELECT * FROM purchase_sword FOR VERSION AS OF 1`, tables, "iceberg", "events", p)
	require.ErrorContains(t, err, "already has a FOR")
	_, _, err = applyPeriod(`SELECT 'unterminated FROM purchase_sword`, tables, "iceberg", "events", p)
	require.Error(t, err)
}
