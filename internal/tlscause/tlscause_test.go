package tlscause

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ca is a certificate authority made up for one test.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlscause test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &ca{cert: cert, key: key}
}

func (c *ca) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// leaf is a certificate for localhost and 127.0.0.1, valid for the last
// and the next hour unless edit changes it.
func (c *ca) leaf(t *testing.T, usage x509.ExtKeyUsage, edit func(*x509.Certificate)) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// handshake connects a client with clientCfg to a loopback server that
// serve answers each connection with, reads one byte (a TLS 1.3 server
// refuses a client certificate after the client's handshake has ended),
// and returns the client's error.
func handshake(t *testing.T, serve func(net.Conn), clientCfg *tls.Config) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	served := make(chan struct{})
	go func() {
		defer close(served)
		conn, err := ln.Accept()
		if err != nil {
			return // the test's own dial failed, and says so
		}
		defer func() { _ = conn.Close() }()
		serve(conn)
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), clientCfg)
	if err == nil {
		_, err = conn.Read(make([]byte, 1))
		_ = conn.Close()
	}
	<-served
	return err
}

// tlsServer completes a TLS handshake with cfg and, when it succeeds,
// writes one byte.
func tlsServer(cfg *tls.Config) func(net.Conn) {
	return func(conn net.Conn) {
		tc := tls.Server(conn, cfg)
		if tc.Handshake() == nil {
			_, _ = tc.Write([]byte{1})
		}
	}
}

func TestOfRealHandshakes(t *testing.T) {
	trusted, other := newCA(t), newCA(t)
	server := trusted.leaf(t, x509.ExtKeyUsageServerAuth, nil)
	serverConfig := func(cert tls.Certificate) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	mtls := serverConfig(server)
	mtls.ClientAuth, mtls.ClientCAs = tls.RequireAndVerifyClientCert, trusted.pool()
	client := func(edit func(*tls.Config)) *tls.Config {
		cfg := &tls.Config{RootCAs: trusted.pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
		if edit != nil {
			edit(cfg)
		}
		return cfg
	}
	withClientCert := func(cert tls.Certificate) *tls.Config {
		return client(func(c *tls.Config) { c.Certificates = []tls.Certificate{cert} })
	}
	unhandled := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}

	tests := []struct {
		name   string
		serve  func(net.Conn)
		client *tls.Config
		kind   Kind
		remote bool
		host   string
		names  []string
	}{
		{name: "server certificate from an untrusted CA", serve: tlsServer(serverConfig(other.leaf(t, x509.ExtKeyUsageServerAuth, nil))),
			client: client(nil), kind: UnknownAuthority},
		{name: "server certificate for another name", serve: tlsServer(serverConfig(server)),
			client: client(func(c *tls.Config) { c.ServerName = "kafka.example" }), kind: HostnameMismatch,
			host: "kafka.example", names: []string{"localhost", "127.0.0.1"}},
		{name: "server certificate expired", serve: tlsServer(serverConfig(trusted.leaf(t, x509.ExtKeyUsageServerAuth, func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		}))), client: client(nil), kind: Expired},
		{name: "server certificate not yet valid", serve: tlsServer(serverConfig(trusted.leaf(t, x509.ExtKeyUsageServerAuth, func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)
		}))), client: client(nil), kind: Expired},
		{name: "server certificate for client use only", serve: tlsServer(serverConfig(trusted.leaf(t, x509.ExtKeyUsageClientAuth, nil))),
			client: client(nil), kind: InvalidCertificate},
		{name: "server certificate with an unhandled critical extension", serve: tlsServer(serverConfig(trusted.leaf(t, x509.ExtKeyUsageServerAuth, func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{{Id: unhandled, Critical: true, Value: []byte{5, 0}}}
		}))), client: client(nil), kind: VerificationFailed},
		{name: "a port that answers plain HTTP", serve: func(conn net.Conn) {
			_, _ = io.WriteString(conn, "HTTP/1.0 400 Bad Request\r\n\r\n")
		}, client: client(nil), kind: NotTLS},
		{name: "no client certificate where one is required", serve: tlsServer(mtls),
			client: client(nil), kind: ClientCertRejected, remote: true},
		{name: "client certificate from a CA the server does not trust", serve: tlsServer(mtls),
			client: withClientCert(other.leaf(t, x509.ExtKeyUsageClientAuth, nil)), kind: ClientCertRejected, remote: true},
		{name: "client certificate expired", serve: tlsServer(mtls), client: withClientCert(trusted.leaf(t, x509.ExtKeyUsageClientAuth, func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		})), kind: ClientCertExpired, remote: true},
		{name: "no TLS version in common", serve: tlsServer(&tls.Config{Certificates: []tls.Certificate{server}, MaxVersion: tls.VersionTLS12}),
			client: client(func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 }), kind: HandshakeFailed, remote: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := handshake(t, tt.serve, tt.client)
			require.Error(t, err)
			// Wrapped, as the clients that call Of see it.
			got := Of(fmt.Errorf("connect to 127.0.0.1: %w", err))
			assert.Equal(t, tt.kind, got.Kind, "error: %v", err)
			assert.Equal(t, tt.remote, got.Remote, "error: %v", err)
			assert.Equal(t, tt.kind >= UnknownAuthority && tt.kind <= VerificationFailed, got.ServerCertificate())
			assert.Equal(t, tt.host, got.Host)
			assert.Equal(t, tt.names, got.Names)
			require.Error(t, got.Err)
		})
	}
}

func TestOfSaysNothingOfOtherErrors(t *testing.T) {
	assert.Equal(t, Cause{}, Of(nil))
	assert.Equal(t, Cause{}, Of(errors.New("dial tcp 127.0.0.1:1: connect: connection refused")))
}
