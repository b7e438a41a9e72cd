package catalog

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/trinodb/trino-go-client/trino"
)

// A 401 whose body is the JWT authenticator's (jjwt's messages, as Trino
// 476 sends them) names the access token and why it was refused, without
// quoting the body; any other 401 names the password and the token.
func TestExplainRefusedAccessToken(t *testing.T) {
	for body, want := range map[string]string{
		"JWT expired 3600930 milliseconds ago at 2026-11-29T19:37:53.000Z. Current time: 2026-11-29T20:37:53.930Z. Allowed clock skew: 0 milliseconds.":                                   "it has expired",
		"JWT early by 59000 milliseconds before 2026-11-29T19:37:53.000Z. Current time: 2026-11-29T19:36:54.000Z. Allowed clock skew: 0 milliseconds.":                                    "it is not valid yet",
		"JWT signature does not match locally computed signature. JWT validity cannot be asserted and should not be trusted.":                                                             "it is not signed by a key Trino trusts",
		"The parsed JWT indicates it was signed with the 'ES256' signature algorithm, but the provided sun.security.rsa.RSAPublicKeyImpl key may not be used to verify ES256 signatures.": "it is not signed by a key Trino trusts",
		"Unsecured JWSs (those with an 'alg' (Algorithm) header value of 'none') are disallowed by default":                                                                               "it is not signed by a key Trino trusts",
		"Expected iss claim to be: silt-stack, but was: mallory.":                                                                                                                         "its issuer (iss) or audience (aud)",
		"Expected aud claim to be: trino, but was not present in the JWT claims.":                                                                                                         "its issuer (iss) or audience (aud)",
		"Invalid Audience: [not-trino]. Allowed audiences: trino":                                                                                                                         "its issuer (iss) or audience (aud)",
		"Invalid compact JWT string: Compact JWSs must contain exactly 2 period characters, and compact JWEs must contain exactly 4.  Found: 0":                                           "it is not a JWT",
	} {
		err := fmt.Errorf("trino at https://127.0.0.1:8443: SELECT 1: %w", &trino.ErrQueryFailed{StatusCode: http.StatusUnauthorized, Reason: errors.New(body)})
		why := ExplainTrinoError(err)
		require.Contains(t, why, "Trino refused the access token (401): "+want, body)
		require.Contains(t, why, "catalog.trino.access_token / SILT_TRINO_ACCESS_TOKEN", body)
		require.NotContains(t, why, body)
	}

	for _, body := range []string{"", "Unauthorized", "Access Denied: Invalid credentials", "Malformed credentials"} {
		err := &trino.ErrQueryFailed{StatusCode: http.StatusUnauthorized, Reason: errors.New(body)}
		why := ExplainTrinoError(err)
		require.Equal(t, "Trino refused the credentials (401): check catalog.trino.user and catalog.trino.password / SILT_TRINO_PASSWORD (or catalog.trino.access_token / SILT_TRINO_ACCESS_TOKEN)", why, body)
	}
	// Not a 401: the token's reasons do not apply.
	err := &trino.ErrQueryFailed{StatusCode: http.StatusForbidden, Reason: errors.New("JWT expired")}
	require.NotContains(t, ExplainTrinoError(err), "access token")
}
