package kafkaconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testCA is a throwaway CA that signs a loopback server certificate and
// client certificates, written as PEM files like a user's would be.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
	file string // the CA's PEM
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	ca := &testCA{cert: cert, key: key, dir: t.TempDir()}
	ca.file = filepath.Join(ca.dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca.file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return ca
}

// issue signs a certificate valid from notBefore to notAfter and returns
// the key pair and its PEM files.
func (ca *testCA) issue(t *testing.T, name string, server bool, notBefore, notAfter time.Time) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	certFile, keyFile := filepath.Join(ca.dir, name+".pem"), filepath.Join(ca.dir, name+"-key.pem")
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	return pair, certFile, keyFile
}

func (ca *testCA) serverTLS(t *testing.T, clientAuth tls.ClientAuthType) *tls.Config {
	t.Helper()
	pair, _, _ := ca.issue(t, "server", true, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: clientAuth, ClientCAs: pool, MinVersion: tls.VersionTLS12}
}

func cluster(t *testing.T, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "events")}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// roundTrip produces one record and reads it back with a client made from o.
func roundTrip(t *testing.T, brokers []string, o Options) error {
	t.Helper()
	sec, err := o.ClientOpts()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("events"),
		kgo.RequestRetries(1), kgo.RetryTimeout(5 * time.Second)}, sec...)...)
	require.NoError(t, err)
	defer cl.Close()
	if err := Preflight(ctx, cl); err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "events", Value: []byte("x")}).FirstErr(); err != nil {
		return err
	}
	fetches := cl.PollFetches(ctx)
	if err := fetches.Err(); err != nil {
		return err
	}
	require.Equal(t, 1, fetches.NumRecords())
	return nil
}

func TestTLSAndEachSASLMechanismReachABroker(t *testing.T) {
	ca := newTestCA(t)
	for _, mech := range []struct{ kafka, silt string }{
		{"PLAIN", "plain"}, {"SCRAM-SHA-256", "scram-sha-256"}, {"SCRAM-SHA-512", "scram-sha-512"},
	} {
		t.Run(mech.silt, func(t *testing.T) {
			brokers := cluster(t, kfake.TLS(ca.serverTLS(t, tls.NoClientCert)), kfake.EnableSASL(), kfake.Superuser(mech.kafka, "silt", "right-pw"))
			o := Options{TLS: TLS{Enabled: true, CAFile: ca.file}, SASL: SASL{Mechanism: mech.silt, Username: "silt", Password: "right-pw"}}
			require.NoError(t, roundTrip(t, brokers, o))

			o.SASL.Password = "wrong-pw"
			start := time.Now()
			err := roundTrip(t, brokers, o)
			require.Error(t, err)
			// kfake drops the connection where a real broker answers
			// SASL_AUTHENTICATION_FAILED (the secure stack\'s test checks
			// that wording); either way the cause names kafka.sasl.
			require.Contains(t, Explain(err), "kafka.sasl.")
			require.Less(t, time.Since(start), 30*time.Second, "a wrong password fails fast, not after a retry storm")
			require.NotContains(t, err.Error(), "wrong-pw")
		})
	}
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	brokers := cluster(t, kfake.TLS(ca.serverTLS(t, tls.RequireAndVerifyClientCert)))
	_, certFile, keyFile := ca.issue(t, "client", false, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	require.NoError(t, roundTrip(t, brokers, Options{TLS: TLS{Enabled: true, CAFile: ca.file, CertFile: certFile, KeyFile: keyFile}}))

	err := roundTrip(t, brokers, Options{TLS: TLS{Enabled: true, CAFile: ca.file}})
	require.Error(t, err, "no client certificate")
	require.Contains(t, Explain(err), "client certificate")

	_, oldCert, oldKey := ca.issue(t, "expired", false, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	err = roundTrip(t, brokers, Options{TLS: TLS{Enabled: true, CAFile: ca.file, CertFile: oldCert, KeyFile: oldKey}})
	require.Error(t, err, "an expired client certificate")
	require.Contains(t, Explain(err), "client certificate")
}

func TestTLSMistakesAreExplained(t *testing.T) {
	ca := newTestCA(t)
	tlsBrokers := cluster(t, kfake.TLS(ca.serverTLS(t, tls.NoClientCert)))
	plainBrokers := cluster(t)

	other := newTestCA(t)
	err := roundTrip(t, tlsBrokers, Options{TLS: TLS{Enabled: true, CAFile: other.file}})
	require.Error(t, err)
	require.Contains(t, Explain(err), "kafka.tls.ca_file")
	requirePermanent(t, err, true)

	err = roundTrip(t, plainBrokers, Options{TLS: TLS{Enabled: true, CAFile: ca.file}})
	require.Error(t, err)
	require.Contains(t, Explain(err), "kafka.tls.enabled")

	err = roundTrip(t, tlsBrokers, Options{})
	require.Error(t, err, "a plaintext client on the TLS port")
	require.Contains(t, Explain(err), "listener expects TLS", "got %v", err)
	requirePermanent(t, err, true)

	// A broker that is down is not a misconfiguration: jobs keep retrying.
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.RequestRetries(0))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = Preflight(ctx, cl)
	require.Contains(t, Explain(err), "kafka.brokers")
	requirePermanent(t, err, false)

	_, err = Options{TLS: TLS{Enabled: true, CAFile: filepath.Join(ca.dir, "server-key.pem")}}.ClientOpts()
	require.ErrorContains(t, err, "kafka.tls.ca_file")
}

func TestOAuthBearerTokenFileIsReadAgainWhenItChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte("first\n"), 0o600))
	f := &tokenFile{path: path}
	tok, err := f.read()
	require.NoError(t, err)
	require.Equal(t, "first", tok)

	require.NoError(t, os.WriteFile(path, []byte("second-token"), 0o600))
	// Some filesystems keep mtimes in whole seconds: move it on explicitly.
	later := time.Now().Add(2 * time.Second)
	require.NoError(t, os.Chtimes(path, later, later))
	tok, err = f.read()
	require.NoError(t, err)
	require.Equal(t, "second-token", tok)

	require.NoError(t, os.WriteFile(path, nil, 0o600))
	require.NoError(t, os.Chtimes(path, later.Add(time.Second), later.Add(time.Second)))
	_, err = f.read()
	require.ErrorContains(t, err, "is empty")
}

func TestUnknownMechanismIsRefused(t *testing.T) {
	_, err := Options{SASL: SASL{Mechanism: "gssapi"}}.ClientOpts()
	require.ErrorContains(t, err, "kafka.sasl.mechanism")
	_, err = Options{SASL: SASL{Mechanism: "aws-msk-iam"}}.ClientOpts()
	require.ErrorContains(t, err, "aws-msk-iam")
}

func requirePermanent(t *testing.T, err error, want bool) {
	t.Helper()
	var ce *ConnectError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, want, ce.Permanent(), "%v", err)
}
