package stack

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// The secure stack (Options.Secure) runs the same services as the plain
// one, each with TLS from a private CA generated at start and with
// authentication:
//
//   - Kafka: SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN) and SSL with
//     required client certificates (mTLS); the KRaft controller listener
//     stays PLAINTEXT on 127.0.0.1 (see secureKafkaProps).
//   - MinIO: https only, with a KMS key for SSE-S3 and SSE-KMS.
//   - Trino: https only, PASSWORD authentication from a bcrypt file and
//     JWT bearer tokens signed with the stack's RSA key (jwt.go).
//
// Users, passwords and keys are random per stack.

const (
	// kmsKeyID is MinIO's single static KMS key (MINIO_KMS_SECRET_KEY).
	kmsKeyID = "silt-key"
	// siltUser is the client user of every secured service.
	siltUser = "silt"
	// kafkaAdmin authenticates the broker to itself (inter-broker, PLAIN).
	kafkaAdmin = "admin"
)

// security is what a secure stack's services share.
type security struct {
	certs *CertFiles
	// trustStore is the CA as a PKCS#12 trust store for the JVMs' own
	// TLS clients (Trino's S3 file system to MinIO).
	trustStore, trustStorePassword string

	kafkaAdminPassword string
	// kafkaPassword is user silt's password for SCRAM-SHA-512,
	// SCRAM-SHA-256 and PLAIN alike.
	kafkaPassword string

	// kmsKey is MINIO_KMS_SECRET_KEY: "silt-key:<base64 of 32 bytes>".
	kmsKey string

	trinoPassword     string
	trinoSharedSecret string
	// jwt is the key pair Trino verifies bearer tokens with, and a token.
	jwt *jwtKeys

	// client trusts the CA (and presents no certificate).
	client *tls.Config
}

// newSecurity generates the CA, certificates, trust store and secrets of
// a secure stack under runDir/certs.
func newSecurity(runDir string) (*security, error) {
	certs, err := GenerateCerts(filepath.Join(runDir, "certs"), nil)
	if err != nil {
		return nil, err
	}
	s := &security{
		certs:              certs,
		trustStore:         filepath.Join(certs.Dir, "truststore.p12"),
		trustStorePassword: randHex(16),
		kafkaAdminPassword: randHex(16),
		kafkaPassword:      randHex(16),
		kmsKey:             kmsKeyID + ":" + randBase64(32),
		trinoPassword:      randHex(16),
		trinoSharedSecret:  randBase64(48),
	}
	if err := writeTrustStore(s.trustStore, certs.CA, s.trustStorePassword); err != nil {
		return nil, err
	}
	if s.jwt, err = newJWTKeys(certs.Dir, time.Now()); err != nil {
		return nil, err
	}
	if s.client, err = clientTLS(certs.CA, "", ""); err != nil {
		return nil, err
	}
	return s, nil
}

// jvmTrustStore are the JVM flags that make the stack's CA, and only it,
// the trust anchors of a JVM's own TLS clients (Trino's and the
// metastore's S3 file systems to MinIO).
func jvmTrustStore(s *security) []string {
	return []string{
		"-Djavax.net.ssl.trustStore=" + s.trustStore,
		"-Djavax.net.ssl.trustStoreType=PKCS12",
		"-Djavax.net.ssl.trustStorePassword=" + s.trustStorePassword,
	}
}

// clientTLS trusts the CA in caFile only and, given certFile and keyFile,
// presents that client certificate.
func clientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// ClientTLS is a TLS client configuration for a secure stack: the stack's
// CA as the only root and, with mtls, the valid client certificate.
func (e *Endpoints) ClientTLS(mtls bool) (*tls.Config, error) {
	if !e.Secure {
		return nil, fmt.Errorf("the stack is not secure")
	}
	if mtls {
		return clientTLS(e.CAFile, e.ClientCertFile, e.ClientKeyFile)
	}
	return clientTLS(e.CAFile, "", "")
}

// httpsClient is an HTTP client trusting only cfg's roots.
func httpsClient(cfg *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.Clone()
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func randBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// trinoPasswordFile is Trino's file authenticator's password file: one
// user:hash line each, bcrypt with the $2y$ prefix Trino insists on (Go
// writes $2a$, the same algorithm) and cost 10 (Trino requires >= 8).
func trinoPasswordFile(users map[string]string) (string, error) {
	var b strings.Builder
	for user, pw := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), 10)
		if err != nil {
			return "", fmt.Errorf("hash trino password: %w", err)
		}
		hash := string(h)
		if rest, ok := strings.CutPrefix(hash, "$2a$"); ok {
			hash = "$2y$" + rest
		}
		fmt.Fprintf(&b, "%s:%s\n", user, hash)
	}
	return b.String(), nil
}
