package trustroots

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A client from WithCAFile and HTTPClient reaches a server whose
// certificate only the file's CA signed; a file without a certificate, or
// no file, is refused naming the file.
func TestWithCAFileTrustsThePrivateCA(t *testing.T) {
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	roots, err := WithCAFile(ca)
	require.NoError(t, err)
	resp, err := HTTPClient(roots).Get(srv.URL)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())

	other, err := WithCAFile(writeSelfSigned(t, dir))
	require.NoError(t, err)
	_, err = HTTPClient(other).Get(srv.URL)
	require.ErrorContains(t, err, "certificate signed by unknown authority")

	notPEM := filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(notPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")}), 0o600))
	_, err = WithCAFile(notPEM)
	require.EqualError(t, err, notPEM+": no PEM certificate in it (want -----BEGIN CERTIFICATE-----)")

	_, err = WithCAFile(filepath.Join(dir, "missing.pem"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// writeSelfSigned writes a CA certificate that signed nothing the test
// server presents.
func writeSelfSigned(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	path := filepath.Join(dir, "other.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return path
}
