//go:build integration

package catalog_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/catalog"
	"github.com/silt-etl/silt/catalog/catalogtest"
	"github.com/silt-etl/silt/internal/stack"
	"github.com/silt-etl/silt/testbed/stacktest"
)

// catalog.trino.access_token against the secure stack's Trino, which
// takes JWTs (signed with the stack's key) besides passwords.

// tokenTrino is catalog.trino for the secure Trino with the access token
// and no password, on a schema of its own.
func tokenTrino(t *testing.T, ep *stack.Endpoints, token string) catalog.TrinoOptions {
	t.Helper()
	if ep.TrinoJWT == "" {
		stacktest.Missing(t, "the secure stack's Trino takes no JWT (started by an older silt?): restart it with silt stack up --secure")
	}
	tr := secureTrino(t, ep)
	tr.Schema = strings.Replace(tr.Schema, "it_secure_catalog_", "it_secure_token_", 1)
	tr.Location = ep.TrinoSchemaLocation + tr.Schema + "/"
	tr.User, tr.Password, tr.AccessToken = "", "", token
	return tr
}

// With only the access token (the user comes from catalog.trino.url),
// silt checks Trino, opens the catalog (creating its schema), registers a
// batch written to the TLS MinIO and counts its rows through Trino as the
// token's user.
func TestTrinoSecureAccessTokenIntegration(t *testing.T) {
	ep := stacktest.Secure(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	tr := tokenTrino(t, ep, ep.TrinoJWT)
	require.Empty(t, tr.Password)
	require.NotContains(t, tr.URL, ep.TrinoPassword)

	detail, err := catalog.CheckTrino(ctx, tr)
	require.NoError(t, err, catalog.ExplainTrinoError(err))
	require.Contains(t, detail, "answers as user "+ep.TrinoUser)
	require.Contains(t, detail, "schema "+tr.Schema+" does not exist yet")
	require.NotContains(t, detail, ep.TrinoJWT)

	c, store := openSecureCatalog(ctx, t, ep, tr)

	var user string
	require.NoError(t, c.DB().QueryRowContext(ctx, "SELECT current_user").Scan(&user))
	require.Equal(t, ep.TrinoUser, user, "the token's sub")

	registerAndCount(ctx, t, c, store, catalogtest.Generate(7, 60, t0, time.Hour))

	detail, err = catalog.CheckTrino(ctx, tr)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(detail, "schema "+tr.Schema+" exists"), detail)
}

// An expired token, one another key signed, the stack's token's
// signature over claims it was not made for, and a token that is not a
// JWT are each refused with 401 within seconds; the explanation names
// catalog.trino.access_token and why Trino refused it, and no error shows
// a token (nor any part of it but the header every token shares).
func TestTrinoSecureAccessTokenRefusedIntegration(t *testing.T) {
	ep := stacktest.Secure(t)
	tokenTrino(t, ep, "") // skips or fails on a stack without JWT
	now := time.Now()
	expired, err := ep.MintTrinoJWT(stack.TrinoJWTClaims(ep.TrinoUser, now.Add(-25*time.Hour), 24*time.Hour))
	require.NoError(t, err)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	foreign, err := stack.SignJWT(otherKey, stack.TrinoJWTClaims(ep.TrinoUser, now, time.Hour))
	require.NoError(t, err)
	parts := strings.Split(foreign, ".")
	// The stack's token's header and signature over another payload.
	spliced := strings.Split(ep.TrinoJWT, ".")[0] + "." + parts[1] + "." + strings.Split(ep.TrinoJWT, ".")[2]

	for name, c := range map[string]struct{ token, why string }{
		"expired token":                {expired, "it has expired"},
		"token signed by another key":  {foreign, "it is not signed by a key Trino trusts"},
		"signature of another payload": {spliced, "it is not signed by a key Trino trusts"},
		"not a JWT":                    {"Not-a-JWT-but-a-secret-all-the-same", "it is not a JWT"},
	} {
		t.Run(name, func(t *testing.T) {
			token := c.token
			tr := tokenTrino(t, ep, token)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()

			start := time.Now()
			_, err := catalog.CheckTrino(ctx, tr)
			took := time.Since(start)
			require.Error(t, err)
			why := catalog.ExplainTrinoError(err)
			t.Logf("CheckTrino after %s: %v\n  explained: %s", took.Round(time.Millisecond), err, why)
			require.Less(t, took, 5*time.Second)
			require.Contains(t, why, "Trino refused the access token (401): "+c.why)
			require.Contains(t, why, "catalog.trino.access_token")

			cfg := catalog.Options{Kind: "trino", Trino: tr}
			start = time.Now()
			_, openErr := catalog.Open(ctx, cfg, nil)
			require.Error(t, openErr)
			require.Less(t, time.Since(start), 5*time.Second)
			require.Equal(t, why, catalog.ExplainTrinoError(openErr))

			for _, e := range []error{err, openErr} {
				for _, s := range []string{e.Error(), catalog.ExplainTrinoError(e)} {
					require.NotContains(t, s, ep.TrinoJWT)
					require.NotContains(t, s, ep.TrinoPassword)
					require.NotContains(t, s, token)
					for _, part := range strings.Split(token, ".")[1:] {
						require.NotContains(t, s, part, "a part of the token")
					}
				}
			}
		})
	}
}
