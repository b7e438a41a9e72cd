// Package tlscause finds why a TLS connection failed: the server's
// certificate (untrusted, for another name, expired, otherwise invalid), a
// peer that does not speak TLS, or a peer that refused this side's client
// certificate. It only classifies; each client (Kafka, S3, Trino) words the
// cause itself, naming its own config keys.
package tlscause

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
)

// Kind is what went wrong, in the order Of looks for it.
type Kind int

const (
	// None: err says nothing of TLS.
	None Kind = iota
	// UnknownAuthority: the server's certificate is not signed by a CA
	// this side trusts.
	UnknownAuthority
	// HostnameMismatch: the server's certificate is for other names
	// (Cause.Host asked for, Cause.Names listed).
	HostnameMismatch
	// Expired: the server's certificate has expired or is not valid yet
	// (crypto/x509 reports both as x509.Expired).
	Expired
	// InvalidCertificate: the server's certificate is invalid for another
	// reason (Cause.Err says which).
	InvalidCertificate
	// VerificationFailed: verifying the server's certificate failed
	// without one of the reasons above (Cause.Err says why).
	VerificationFailed
	// NotTLS: the peer answered with something that is not a TLS record.
	NotTLS
	// ClientCertExpired: the peer refused this side's client certificate
	// as expired.
	ClientCertExpired
	// ClientCertRejected: the peer refused this side's client certificate:
	// missing, signed by a CA it does not trust, or otherwise bad.
	ClientCertRejected
	// HandshakeFailed: any other TLS error.
	HandshakeFailed
)

// Cause is what Of found.
type Cause struct {
	Kind Kind
	// Err is the error that says it: the x509 or tls error found in the
	// chain for the certificate kinds and NotTLS, else err itself.
	Err error
	// Host is the name the client asked for (HostnameMismatch).
	Host string
	// Names are the names the certificate is for, DNS names then IP
	// addresses (HostnameMismatch).
	Names []string
	// Remote says the peer sent the alert ("remote error: tls: ..."),
	// rather than this side's own check failing.
	Remote bool
}

// ServerCertificate reports whether this side rejected the server's
// certificate.
func (c Cause) ServerCertificate() bool {
	return c.Kind >= UnknownAuthority && c.Kind <= VerificationFailed
}

// Of reads err's chain (errors.As) and its message (a peer's TLS alert
// reaches the client only as text) for the reason a TLS connection failed.
func Of(err error) Cause {
	if err == nil {
		return Cause{}
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknownCA):
		return Cause{Kind: UnknownAuthority, Err: unknownCA}
	case errors.As(err, &hostname):
		return Cause{Kind: HostnameMismatch, Err: hostname, Host: hostname.Host, Names: certificateNames(hostname.Certificate)}
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return Cause{Kind: Expired, Err: invalid}
	case errors.As(err, &invalid):
		return Cause{Kind: InvalidCertificate, Err: invalid}
	case errors.As(err, &verify):
		return Cause{Kind: VerificationFailed, Err: verify}
	case errors.As(err, &header):
		return Cause{Kind: NotTLS, Err: header}
	}
	msg := err.Error()
	remote := strings.Contains(msg, "remote error: tls:")
	switch {
	case strings.Contains(msg, "tls: expired certificate") || strings.Contains(msg, "certificate_expired"):
		return Cause{Kind: ClientCertExpired, Err: err, Remote: remote}
	case strings.Contains(msg, "tls: bad certificate") || strings.Contains(msg, "tls: certificate required") ||
		strings.Contains(msg, "tls: unknown certificate") || strings.Contains(msg, "certificate_unknown"):
		// "tls: unknown certificate" also covers "... authority".
		return Cause{Kind: ClientCertRejected, Err: err, Remote: remote}
	case strings.Contains(msg, "tls: "):
		return Cause{Kind: HandshakeFailed, Err: err, Remote: remote}
	}
	return Cause{}
}

func certificateNames(c *x509.Certificate) []string {
	if c == nil {
		return nil
	}
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}
