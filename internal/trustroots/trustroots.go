// Package trustroots builds what silt's TLS clients (Kafka, S3, Trino,
// Iceberg's S3 IO) verify servers with: the system roots plus a private CA
// from a PEM file.
package trustroots

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
)

// WithCAFile returns the system roots plus every certificate in the PEM
// file at path. Its errors name the file, not the configuration key that
// named it: callers add the key.
func WithCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		// No system roots here (a scratch image): the private CA alone.
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it (want -----BEGIN CERTIFICATE-----)", path)
	}
	return pool, nil
}

// HTTPClient verifies servers against roots. It copies
// http.DefaultTransport, so it keeps the proxy from the environment, the
// dial and TLS handshake timeouts, and HTTP/2.
func HTTPClient(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}
}
