package stack

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// splitJWT decodes a compact JWS: header, claims, the signed text and the
// signature. Every part is unpadded base64url.
func splitJWT(t *testing.T, tok string) (header, claims map[string]any, signed string, sig []byte) {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3, tok)
	for _, p := range parts {
		require.NotContains(t, p, "=", "padded base64")
		require.NotContains(t, p, "+", "not base64url")
		require.NotContains(t, p, "/", "not base64url")
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		require.NoError(t, err)
		return b
	}
	require.NoError(t, json.Unmarshal(dec(parts[0]), &header))
	require.NoError(t, json.Unmarshal(dec(parts[1]), &claims))
	return header, claims, parts[0] + "." + parts[1], dec(parts[2])
}

func TestSignJWTRS256(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	iat := time.Unix(1_800_000_000, 0)
	tok, err := SignJWT(key, TrinoJWTClaims("silt", iat, time.Hour))
	require.NoError(t, err)

	header, claims, signed, sig := splitJWT(t, tok)
	require.Equal(t, map[string]any{"alg": "RS256", "typ": "JWT"}, header)
	require.Equal(t, map[string]any{
		"sub": "silt", "iss": TrinoJWTIssuer, "aud": TrinoJWTAudience,
		// JSON numbers: whole seconds since the epoch.
		"iat": float64(1_800_000_000), "exp": float64(1_800_003_600),
	}, claims)
	digest := sha256.Sum256([]byte(signed))
	require.NoError(t, rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig))

	// Another key's public half does not verify it; a changed claim does
	// not verify with the right one.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	require.Error(t, rsa.VerifyPKCS1v15(&other.PublicKey, crypto.SHA256, digest[:], sig))
	forged := sha256.Sum256([]byte(strings.Replace(signed, ".", ".x", 1)))
	require.Error(t, rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, forged[:], sig))
}

func TestSignJWTES256IsRawRS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	// Many signatures, so that an r or s with leading zero bytes (about
	// one in 128) shows the fixed 32-byte padding.
	for range 200 {
		tok, err := SignJWT(key, map[string]any{"sub": "silt"})
		require.NoError(t, err)
		header, _, signed, sig := splitJWT(t, tok)
		require.Equal(t, "ES256", header["alg"])
		require.Len(t, sig, 64, "r||s, not ASN.1")
		digest := sha256.Sum256([]byte(signed))
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		require.True(t, ecdsa.Verify(&key.PublicKey, digest[:], r, s))
	}

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	_, err = SignJWT(p384, map[string]any{"sub": "silt"})
	require.ErrorContains(t, err, "P-256")
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, err = SignJWT(edKey, map[string]any{"sub": "silt"})
	require.ErrorContains(t, err, "unsupported key type")
}

// The stack's key pair: a private key tests can sign with, the public
// key Trino reads, and a token for silt valid for a day from now.
func TestNewJWTKeys(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	j, err := newJWTKeys(dir, now)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, jwtKeyName), j.keyFile)

	fi, err := os.Stat(j.keyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the private key is private")

	b, err := os.ReadFile(j.pubFile)
	require.NoError(t, err)
	blk, rest := pem.Decode(b)
	require.NotNil(t, blk)
	require.Empty(t, rest)
	require.Equal(t, "PUBLIC KEY", blk.Type)
	pubAny, err := x509.ParsePKIXPublicKey(blk.Bytes)
	require.NoError(t, err)
	pub, ok := pubAny.(*rsa.PublicKey)
	require.True(t, ok, "%T", pubAny)
	require.GreaterOrEqual(t, pub.N.BitLen(), 2048, "jjwt refuses smaller RSA keys")

	signer, err := LoadJWTKey(j.keyFile)
	require.NoError(t, err)
	require.True(t, pub.Equal(signer.Public()), "the key file and the public key are one pair")

	header, claims, signed, sig := splitJWT(t, j.token)
	require.Equal(t, "RS256", header["alg"])
	require.Equal(t, "silt", claims["sub"])
	require.Equal(t, TrinoJWTIssuer, claims["iss"])
	require.Equal(t, TrinoJWTAudience, claims["aud"])
	require.Equal(t, float64(now.Unix()), claims["iat"])
	require.Equal(t, float64(now.Add(24*time.Hour).Unix()), claims["exp"])
	digest := sha256.Sum256([]byte(signed))
	require.NoError(t, rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig))

	// MintTrinoJWT signs with the same key.
	ep := &Endpoints{TrinoJWTKeyFile: j.keyFile}
	tok, err := ep.MintTrinoJWT(TrinoJWTClaims("other", now.Add(-2*time.Hour), time.Hour))
	require.NoError(t, err)
	_, claims, signed, sig = splitJWT(t, tok)
	require.Equal(t, "other", claims["sub"])
	require.Less(t, claims["exp"].(float64), float64(now.Unix()), "expired")
	digest = sha256.Sum256([]byte(signed))
	require.NoError(t, rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig))

	_, err = (&Endpoints{}).MintTrinoJWT(TrinoJWTClaims("silt", now, time.Hour))
	require.ErrorContains(t, err, "no JWT key")
	_, err = LoadJWTKey(j.pubFile)
	require.ErrorContains(t, err, "no PKCS#8 PEM private key")
}

// The secure Trino takes passwords and the stack's tokens: PASSWORD,JWT
// with the public key file and the issuer and audience every token must
// carry.
func TestTrinoSecureConfigJWT(t *testing.T) {
	j, err := newJWTKeys(t.TempDir(), time.Now())
	require.NoError(t, err)
	tr := &trinoService{port: 8443, sec: &security{certs: &CertFiles{CA: "/c/ca.crt", ServerPEM: "/c/server.pem"}, trinoPassword: "pw", trinoSharedSecret: "shh", jwt: j}}
	config, _, err := tr.secureConfig(t.TempDir())
	require.NoError(t, err)
	props := parseProperties(strings.Join(config, "\n"))
	for k, want := range map[string]string{
		"http-server.authentication.type":                     "PASSWORD,JWT",
		"http-server.authentication.jwt.key-file":             j.pubFile,
		"http-server.authentication.jwt.required-issuer":      TrinoJWTIssuer,
		"http-server.authentication.jwt.required-audience":    TrinoJWTAudience,
		"http-server.authentication.allow-insecure-over-http": "false",
		"internal-communication.shared-secret":                "shh",
	} {
		require.Equal(t, want, props[k], k)
	}
	n := 0
	for _, line := range config {
		if strings.HasPrefix(line, "http-server.authentication.type=") {
			n++
		}
	}
	require.Equal(t, 1, n, "one authentication type line")
	require.NotContains(t, strings.Join(config, "\n"), j.keyFile, "Trino gets the public key only")
}
