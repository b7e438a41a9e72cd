package catalog

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/config"
)

func TestTrinoDSNPinsSessionAndBoundsRetries(t *testing.T) {
	dsn, err := trinoDSN(config.Trino{URL: "http://silt@127.0.0.1:8080", Catalog: "hive", Schema: "events"})
	require.NoError(t, err)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	require.Equal(t, "silt", u.User.Username())
	require.Equal(t, url.Values{"catalog": {"hive"}, "schema": {"events"}, "timezone": {"UTC"}, "request_retry_timeout": {"10s"}}, u.Query())

	// What the URL says wins.
	dsn, err = trinoDSN(config.Trino{URL: "http://silt@127.0.0.1:8080?request_retry_timeout=1m&schema=other", Catalog: "hive", Schema: "events"})
	require.NoError(t, err)
	u, err = url.Parse(dsn)
	require.NoError(t, err)
	require.Equal(t, "1m", u.Query().Get("request_retry_timeout"))
	require.Equal(t, "other", u.Query().Get("schema"))
}
