package stack

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// JSON Web Tokens for the secure stack's Trino, which accepts them besides
// passwords (http-server.authentication.type=PASSWORD,JWT). The stack
// generates an RSA key pair next to its certificates; Trino verifies with
// the public key (http-server.authentication.jwt.key-file), and tests sign
// with the private one (Endpoints.TrinoJWTKeyFile), so they can mint
// expired tokens or tokens for other users. Standard library only: a JWS
// in compact form is three base64url parts and one signature.

// The claims Trino requires of every token (required-issuer and
// required-audience): a token without them, or with others, is refused.
const (
	TrinoJWTIssuer   = "silt-stack"
	TrinoJWTAudience = "trino"
)

// trinoJWTLifetime is how long Endpoints.TrinoJWT, signed when the stack
// starts, stays valid; mint a fresh one from TrinoJWTKeyFile for a stack
// that runs longer.
const trinoJWTLifetime = 24 * time.Hour

// Names of the key files in the certs directory.
const (
	jwtKeyName    = "trino-jwt.key" // PKCS#8 private key: signs
	jwtPubKeyName = "trino-jwt.pub" // PKIX public key: Trino verifies
)

// TrinoJWTClaims are the claims of a token Trino accepts for user subject
// (its sub), issued at iat and valid for ttl: an iat more than ttl ago
// makes an expired one.
func TrinoJWTClaims(subject string, iat time.Time, ttl time.Duration) map[string]any {
	return map[string]any{
		"sub": subject,
		"iss": TrinoJWTIssuer,
		"aud": TrinoJWTAudience,
		"iat": iat.Unix(),
		"exp": iat.Add(ttl).Unix(),
	}
}

// SignJWT signs claims into a compact JWS: RS256 with an RSA key, ES256
// with a P-256 ECDSA key (its signature as the fixed-size r||s JWS wants,
// not ASN.1).
func SignJWT(key crypto.Signer, claims map[string]any) (string, error) {
	var alg string
	switch k := key.(type) {
	case *rsa.PrivateKey:
		alg = "RS256"
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("sign JWT: ES256 needs a P-256 key, not %s", k.Curve.Params().Name)
		}
		alg = "ES256"
	default:
		return "", fmt.Errorf("sign JWT: unsupported key type %T (want RSA or ECDSA P-256)", key)
	}
	header, err := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sign JWT: claims: %w", err)
	}
	b64 := base64.RawURLEncoding
	signed := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signed))
	var sig []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		var r, s []byte
		if r, s, err = ecdsaSignRS(k, digest[:]); err == nil {
			sig = append(r, s...)
		}
	}
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	return signed + "." + b64.EncodeToString(sig), nil
}

// ecdsaSignRS signs digest and returns r and s left-padded to 32 bytes
// each.
func ecdsaSignRS(k *ecdsa.PrivateKey, digest []byte) (r, s []byte, err error) {
	ri, si, err := ecdsa.Sign(rand.Reader, k, digest)
	if err != nil {
		return nil, nil, err
	}
	return ri.FillBytes(make([]byte, 32)), si.FillBytes(make([]byte, 32)), nil
}

// LoadJWTKey reads a PKCS#8 PEM private key (Endpoints.TrinoJWTKeyFile)
// to sign tokens with.
func LoadJWTKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read JWT key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("JWT key %s: no PKCS#8 PEM private key in it", filepath.Base(path))
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("JWT key %s: %w", filepath.Base(path), err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("JWT key %s: %T cannot sign", filepath.Base(path), k)
	}
	return signer, nil
}

// MintTrinoJWT signs claims (TrinoJWTClaims) with a secure stack's JWT key.
func (e *Endpoints) MintTrinoJWT(claims map[string]any) (string, error) {
	if e.TrinoJWTKeyFile == "" {
		return "", errors.New("the stack has no JWT key (not secure, or started before Trino took JWTs)")
	}
	key, err := LoadJWTKey(e.TrinoJWTKeyFile)
	if err != nil {
		return "", err
	}
	return SignJWT(key, claims)
}

// jwtKeys is the secure stack's token key pair and the token it hands out.
type jwtKeys struct {
	keyFile, pubFile string
	// token is for user silt, valid trinoJWTLifetime from the start.
	token string
}

// newJWTKeys generates an RSA 2048 key pair into dir (RS256: what Trino's
// JWT authenticator, jjwt, verifies with any PEM public key; jjwt wants
// RSA keys of 2048 bits at least) and signs the stack's token.
func newJWTKeys(dir string, now time.Time) (*jwtKeys, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate JWT key: %w", err)
	}
	j := &jwtKeys{keyFile: filepath.Join(dir, jwtKeyName), pubFile: filepath.Join(dir, jwtPubKeyName)}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode JWT key: %w", err)
	}
	if err := writePEM(j.keyFile, 0o600, &pem.Block{Type: "PRIVATE KEY", Bytes: priv}); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encode JWT public key: %w", err)
	}
	if err := writePEM(j.pubFile, 0o644, &pem.Block{Type: "PUBLIC KEY", Bytes: pub}); err != nil {
		return nil, err
	}
	if j.token, err = SignJWT(key, TrinoJWTClaims(siltUser, now, trinoJWTLifetime)); err != nil {
		return nil, err
	}
	return j, nil
}
