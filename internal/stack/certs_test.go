package stack

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"software.sslmate.com/src/go-pkcs12"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	blk, rest := pem.Decode(b)
	require.NotNil(t, blk, path)
	require.Equal(t, "CERTIFICATE", blk.Type, path)
	require.Empty(t, rest, "%s holds one certificate", path)
	c, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	return c
}

// The generated PKI verifies with crypto/x509 as a TLS peer would: the
// server for its loopback names and the extra hosts, the client for client
// auth, and the expired client fails as expired (and only as that).
func TestGenerateCertsVerify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	f, err := GenerateCerts(dir, []string{"kafka", "minio", "10.1.2.3", "localhost", " "})
	require.NoError(t, err)

	ca := readCert(t, f.CA)
	require.True(t, ca.IsCA)
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	server := readCert(t, f.ServerCert)
	require.ElementsMatch(t, []string{"localhost", "kafka", "minio"}, server.DNSNames, "no duplicates, blank ignored")
	for _, name := range []string{"127.0.0.1", "::1", "localhost", "kafka", "minio", "10.1.2.3"} {
		_, err := server.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		require.NoError(t, err, "server certificate for %s", name)
	}
	_, err = server.Verify(x509.VerifyOptions{Roots: roots, DNSName: "example.com"})
	require.Error(t, err, "only the names asked for")

	client := readCert(t, f.ClientCert)
	require.Equal(t, ClientCommonName, client.Subject.CommonName)
	clientAuth := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	_, err = client.Verify(clientAuth)
	require.NoError(t, err)

	expired := readCert(t, f.ExpiredClientCert)
	require.True(t, expired.NotAfter.Before(time.Now()), "NotAfter %s", expired.NotAfter)
	require.True(t, expired.NotBefore.Before(expired.NotAfter))
	_, err = expired.Verify(clientAuth)
	var invalid x509.CertificateInvalidError
	require.ErrorAs(t, err, &invalid, "%v", err)
	require.Equal(t, x509.Expired, invalid.Reason, "%v", err)
	// Valid at a time inside its window: expiry is the only thing wrong.
	clientAuth.CurrentTime = expired.NotBefore.Add(time.Hour)
	_, err = expired.Verify(clientAuth)
	require.NoError(t, err)

	// Each key matches its certificate; the server's PEM key store is
	// key then certificate, as Kafka and Trino read it.
	for cert, key := range map[string]string{f.ServerCert: f.ServerKey, f.ClientCert: f.ClientKey, f.ExpiredClientCert: f.ExpiredClientKey, f.CA: f.CAKey} {
		_, err := tls.LoadX509KeyPair(cert, key)
		require.NoError(t, err, cert)
		fi, err := os.Stat(key)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), key)
	}
	_, err = tls.LoadX509KeyPair(f.ServerPEM, f.ServerPEM)
	require.NoError(t, err)
	b, err := os.ReadFile(f.ServerPEM)
	require.NoError(t, err)
	blk, _ := pem.Decode(b)
	require.Equal(t, "PRIVATE KEY", blk.Type, "PKCS#8 first")

	// A second run makes another CA: the old server certificate is not
	// trusted by it.
	g, err := GenerateCerts(filepath.Join(t.TempDir(), "other"), nil)
	require.NoError(t, err)
	other := x509.NewCertPool()
	other.AddCert(readCert(t, g.CA))
	_, err = server.Verify(x509.VerifyOptions{Roots: other, DNSName: "localhost"})
	require.Error(t, err)
}

// A TLS handshake with the generated files: server and mTLS client.
func TestGenerateCertsHandshake(t *testing.T) {
	f, err := GenerateCerts(t.TempDir(), nil)
	require.NoError(t, err)
	caPEM, err := os.ReadFile(f.CA)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(caPEM))
	serverPair, err := tls.LoadX509KeyPair(f.ServerCert, f.ServerKey)
	require.NoError(t, err)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverPair},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: roots,
	})
	require.NoError(t, err)
	defer func() { _ = l.Close() }()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	dial := func(cert, key string) error {
		cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
		if cert != "" {
			pair, err := tls.LoadX509KeyPair(cert, key)
			require.NoError(t, err)
			cfg.Certificates = []tls.Certificate{pair}
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", l.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer func() { _ = c.Close() }()
		// TLS 1.3: the server's verdict on the client arrives with the first read.
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		return err
	}
	err = dial(f.ClientCert, f.ClientKey)
	require.Error(t, err) // the server closes after the handshake: EOF, not a TLS alert
	require.NotContains(t, err.Error(), "tls:")
	require.ErrorContains(t, dial(f.ExpiredClientCert, f.ExpiredClientKey), "expired")
	require.ErrorContains(t, dial("", ""), "certificate required")
}

// The JVM trust store holds the CA as a trusted certificate entry.
func TestWriteTrustStore(t *testing.T) {
	f, err := GenerateCerts(t.TempDir(), nil)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "trust.p12")
	require.NoError(t, writeTrustStore(p, f.CA, "changeit"))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	certs, err := pkcs12.DecodeTrustStore(b, "changeit")
	require.NoError(t, err)
	require.Len(t, certs, 1)
	require.Equal(t, readCert(t, f.CA).Raw, certs[0].Raw)
	_, err = pkcs12.DecodeTrustStore(b, "wrong")
	require.Error(t, err)
	require.Error(t, writeTrustStore(p, f.CAKey, "x"), "a key file holds no certificate")
}
