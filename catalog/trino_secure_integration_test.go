//go:build integration

package catalog_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// secureTrino is catalog.trino for the secure stack's Trino (https only,
// PASSWORD authentication, the stack's CA) on a schema of its own.
func secureTrino(t *testing.T, ep *stack.Endpoints) catalog.TrinoOptions {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	schema := "it_secure_catalog_" + hex.EncodeToString(b)
	require.True(t, strings.HasPrefix(ep.TrinoURL, "https://"), ep.TrinoURL)
	require.NotEmpty(t, ep.TrinoPassword)
	return catalog.TrinoOptions{
		URL: ep.TrinoURL, Catalog: ep.TrinoCatalog, Schema: schema, Location: ep.TrinoSchemaLocation + schema + "/",
		User: ep.TrinoUser, Password: ep.TrinoPassword, CAFile: ep.CAFile,
	}
}

// openSecureCatalog opens the catalog tr names over https, on a store in
// the secure stack's TLS MinIO under tr's schema.
func openSecureCatalog(ctx context.Context, t *testing.T, ep *stack.Endpoints, tr catalog.TrinoOptions) (*catalog.Catalog, lake.Store) {
	t.Helper()
	store, err := lake.NewS3(ctx, lake.S3Options{
		Endpoint: ep.S3Endpoint, Bucket: ep.S3Bucket, Region: ep.S3Region, Prefix: tr.Schema,
		AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, PathStyle: true, Secure: true, CAFile: ep.S3CAFile,
	})
	require.NoError(t, err)
	cfg := catalog.Options{Kind: "trino", Trino: tr}
	c, err := catalog.Open(ctx, cfg, store)
	require.NoError(t, err, catalog.ExplainTrinoError(err))
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c, store
}

// registerAndCount writes events to store, registers the batch and
// requires Trino to count every one of them.
func registerAndCount(ctx context.Context, t *testing.T, c *catalog.Catalog, store lake.Store, events []catalogtest.Event) {
	t.Helper()
	changes, err := catalogtest.Write(ctx, store, catalogtest.Schemas(), events, 0)
	require.NoError(t, err)
	require.NoError(t, c.Register(ctx, changes))
	var total int64
	for _, ch := range changes {
		var n int64
		require.NoError(t, c.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+c.Qualified(ch.Schema.Table)).Scan(&n))
		total += n
	}
	require.Equal(t, int64(len(events)), total)
}

// Over https with the stack's CA and the password, silt checks Trino,
// opens the catalog, registers the tables of a batch written to the TLS
// MinIO and counts their rows through Trino.
func TestTrinoSecureRegisterIntegration(t *testing.T) {
	ep := stacktest.Secure(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	tr := secureTrino(t, ep)

	detail, err := catalog.CheckTrino(ctx, tr)
	require.NoError(t, err, catalog.ExplainTrinoError(err))
	require.Contains(t, detail, "answers as user "+ep.TrinoUser)
	require.Contains(t, detail, "schema "+tr.Schema+" does not exist yet")
	require.NotContains(t, detail, ep.TrinoPassword)

	c, store := openSecureCatalog(ctx, t, ep, tr)

	registerAndCount(ctx, t, c, store, catalogtest.Generate(3, 90, t0, 2*time.Hour))

	detail, err = catalog.CheckTrino(ctx, tr)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(detail, "schema "+tr.Schema+" exists"), detail)
}

// A wrong password, none, no CA file, and http to the https port each
// fail within seconds, say so in plain words, and show no password.
func TestTrinoSecureFailuresExplainedIntegration(t *testing.T) {
	ep := stacktest.Secure(t)
	const wrong = "Wr0ng-passw0rd-for-the-test"
	host := strings.TrimPrefix(ep.TrinoServer, "https://")
	for name, c := range map[string]struct {
		change func(*catalog.TrinoOptions)
		want   string
	}{
		"wrong password":         {func(tr *catalog.TrinoOptions) { tr.Password = wrong }, "Trino refused the credentials (401)"},
		"no password":            {func(tr *catalog.TrinoOptions) { tr.Password = "" }, "Trino refused the credentials (401)"},
		"no CA file":             {func(tr *catalog.TrinoOptions) { tr.CAFile = "" }, "catalog.trino.ca_file"},
		"http to the https port": {func(tr *catalog.TrinoOptions) { tr.URL, tr.Password, tr.CAFile = "http://"+host, "", "" }, "the server speaks https: write https:// in catalog.trino.url"},
	} {
		t.Run(name, func(t *testing.T) {
			tr := secureTrino(t, ep)
			c.change(&tr)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()

			start := time.Now()
			_, err := catalog.CheckTrino(ctx, tr)
			took := time.Since(start)
			require.Error(t, err)
			why := catalog.ExplainTrinoError(err)
			t.Logf("CheckTrino after %s: %v\n  explained: %s", took.Round(time.Millisecond), err, why)
			require.Less(t, took, 5*time.Second)
			require.Contains(t, why, c.want)

			cfg := catalog.Options{Kind: "trino", Trino: tr}
			start = time.Now()
			_, openErr := catalog.Open(ctx, cfg, nil)
			require.Error(t, openErr)
			require.Less(t, time.Since(start), 5*time.Second)
			require.Contains(t, catalog.ExplainTrinoError(openErr), c.want)

			for _, e := range []error{err, openErr} {
				for _, secret := range []string{ep.TrinoPassword, wrong} {
					require.NotContains(t, e.Error(), secret)
					require.NotContains(t, catalog.ExplainTrinoError(e), secret)
				}
			}
		})
	}
}
