package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/trinodb/trino-go-client/trino"

	"github.com/silt-etl/silt/internal/tlscause"
)

// ExplainTrinoError says in plain words why talking to Trino failed and
// which setting to fix, or "" when it does not know the cause. It reads
// err's chain (errors.As), so it works on what Open, CheckTrino and the
// queries of Catalog.DB return, wrapped or not.
func ExplainTrinoError(err error) string {
	if err == nil {
		return ""
	}
	var missing *missingCatalogError
	if errors.As(err, &missing) {
		return fmt.Sprintf("catalog %s does not exist in Trino (catalog.trino.catalog)", missing.catalog)
	}
	var te *trino.ErrTrino
	if errors.As(err, &te) {
		if s := explainTrinoQueryError(te); s != "" {
			return s
		}
	}
	var qf *trino.ErrQueryFailed
	if errors.As(err, &qf) {
		if s := explainTrinoStatus(qf); s != "" {
			return s
		}
	}

	// TLS: the certificate, or no TLS at all on the other side.
	tlsCause := tlscause.Of(err)
	switch tlsCause.Kind {
	case tlscause.UnknownAuthority:
		return "Trino's certificate is not signed by a trusted CA: set catalog.trino.ca_file / SILT_TRINO_CA_FILE to the PEM of the CA that signed it"
	case tlscause.HostnameMismatch:
		names := "other names"
		if len(tlsCause.Names) > 0 {
			names = strings.Join(tlsCause.Names, ", ")
		}
		return fmt.Sprintf("Trino's certificate is for %s, not for %s: write one of those names in catalog.trino.url (or give Trino a certificate for %s)", names, tlsCause.Host, tlsCause.Host)
	case tlscause.Expired:
		return "Trino's certificate has expired or is not valid yet: renew it on the server (or check this machine's clock)"
	case tlscause.InvalidCertificate:
		return fmt.Sprintf("Trino's certificate is not valid (%s): fix it on the server, or catalog.trino.ca_file / SILT_TRINO_CA_FILE", tlsCause.Err.Error())
	}
	if errors.Is(err, http.ErrSchemeMismatch) {
		return "the server speaks plain http: write http:// in catalog.trino.url (and no password or token: Trino accepts those over https only)"
	}
	if tlsCause.Kind == tlscause.NotTLS {
		return "the server does not speak TLS: write http:// in catalog.trino.url if it is a plain-http Trino, or check the port"
	}
	if strings.Contains(err.Error(), "TLS/SSL is required for authentication with username and password") {
		return "Trino accepts a password over https only: write https:// in catalog.trino.url"
	}

	// The network.
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Sprintf("nothing listens at %s (catalog.trino.url): is Trino up, and is this its port?", trinoErrAddr(err))
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("cannot resolve host %s (catalog.trino.url): %s", dnsErr.Name, dnsErr.Err)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) && strings.HasPrefix(uerr.URL, "http://") {
		// net/http quotes the bytes it got (%q), so a TLS alert record
		// (0x15, version 3.x) reads "\x15\x03": Trino's Jetty answers
		// plain http on its https port with one.
		if strings.Contains(uerr.Err.Error(), `malformed HTTP response "\x15\x03`) {
			return "the server speaks https: write https:// in catalog.trino.url"
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || strings.Contains(uerr.Err.Error(), "malformed HTTP response") {
			return "the server closed the connection without an HTTP answer: if it speaks https, write https:// in catalog.trino.url"
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "Trino did not answer in time (catalog.trino.url): is it up and reachable, and is this its port?"
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return fmt.Sprintf("Trino at %s did not answer in time (catalog.trino.url): is it reachable from here, and is this its port?", trinoErrAddr(err))
	}
	return ""
}

// explainTrinoStatus explains an HTTP status Trino (or what answers in its
// place) refused a request with.
func explainTrinoStatus(qf *trino.ErrQueryFailed) string {
	reason := ""
	if qf.Reason != nil {
		reason = qf.Reason.Error()
	}
	switch qf.StatusCode {
	case http.StatusUnauthorized:
		if why := refusedTokenReason(reason); why != "" {
			return "Trino refused the access token (401): " + why + " (catalog.trino.access_token / SILT_TRINO_ACCESS_TOKEN)"
		}
		return "Trino refused the credentials (401): check catalog.trino.user and catalog.trino.password / SILT_TRINO_PASSWORD (or catalog.trino.access_token / SILT_TRINO_ACCESS_TOKEN)"
	case http.StatusForbidden:
		return "Trino refused the request (403): the user (catalog.trino.user) may not do this, or the server accepts authentication over https only"
	case http.StatusBadRequest:
		if strings.Contains(reason, "HTTP request to an HTTPS server") {
			return "the server speaks https: write https:// in catalog.trino.url"
		}
	case http.StatusNotFound:
		return "the server at catalog.trino.url has no /v1/statement (404): is it Trino, and is this its port?"
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return fmt.Sprintf("Trino is unavailable (%d %s) and stayed so while the client retried: it is starting, overloaded, or behind a proxy that cannot reach it", qf.StatusCode, http.StatusText(qf.StatusCode))
	}
	return ""
}

// refusedTokenReason says why Trino's JWT authenticator refused a bearer
// token, from the 401's body (the messages of jjwt, the library Trino
// parses tokens with), or "" when the body says nothing of a token. It
// names the cause rather than quote the body.
func refusedTokenReason(body string) string {
	for _, c := range []struct {
		says []string
		why  string
	}{
		{[]string{"JWT expired"}, "it has expired: get a new one (or check this machine's clock)"},
		{[]string{"JWT early"}, "it is not valid yet (its nbf is in the future): check the clocks"},
		{[]string{"signature does not match", "may not be used to verify", "Unsecured JWS", "no key is configured", "no HMAC key"}, "it is not signed by a key Trino trusts (http-server.authentication.jwt.key-file on the server)"},
		{[]string{"Expected iss claim", "Expected aud claim", "Missing expected", "Invalid Audience"}, "its issuer (iss) or audience (aud) is not the one Trino requires"},
		{[]string{"Invalid compact JWT", "Compact JWT strings MUST", "Malformed JWT", "Malformed JWS"}, "it is not a JWT"},
	} {
		for _, s := range c.says {
			if strings.Contains(body, s) {
				return c.why
			}
		}
	}
	return ""
}

var catalogNameInMessage = regexp.MustCompile(`[Cc]atalog '?([^' ]+)'? (?:not found|does not exist)`)

// explainTrinoQueryError explains an error Trino reported for a statement.
func explainTrinoQueryError(te *trino.ErrTrino) string {
	switch te.ErrorName {
	case "CATALOG_NOT_FOUND":
		name := "named in catalog.trino.catalog"
		if m := catalogNameInMessage.FindStringSubmatch(te.Message); m != nil {
			name = m[1]
		}
		return fmt.Sprintf("catalog %s does not exist in Trino (catalog.trino.catalog)", name)
	case "PERMISSION_DENIED":
		return fmt.Sprintf("Trino denied it: %s (catalog.trino.user, or Trino's access control)", te.Message)
	}
	return ""
}

// trinoErrAddr is the host:port a network error was about.
func trinoErrAddr(err error) string {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Addr != nil {
		return opErr.Addr.String()
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if u, perr := url.Parse(uerr.URL); perr == nil && u.Host != "" {
			return u.Host
		}
	}
	return "catalog.trino.url"
}

// missingCatalogError is CheckTrino finding no catalog of that name.
type missingCatalogError struct{ catalog string }

func (e *missingCatalogError) Error() string {
	return fmt.Sprintf("catalog %s does not exist in Trino", e.catalog)
}

// redactedError is an error whose message had secrets taken out; the
// chain below it stays for errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactSecrets replaces t's password and access token (also as the URL
// and Go quoting would write them, and a password or token written in
// catalog.trino.url itself) in err's message. trino-go-client does not put
// them in its errors and silt does not either; this is the seatbelt.
func redactSecrets(err error, t TrinoOptions) error {
	if err == nil {
		return nil
	}
	secrets := []string{t.Password, t.AccessToken}
	if u, perr := url.Parse(t.URL); perr == nil {
		if u.User != nil {
			p, _ := u.User.Password()
			secrets = append(secrets, p)
		}
		secrets = append(secrets, u.Query().Get(trinoAccessTokenParam))
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if s == "" {
			continue
		}
		quoted := strconv.Quote(s)
		forms := []string{s, url.QueryEscape(s), url.PathEscape(s), strings.TrimPrefix(url.UserPassword("", s).String(), ":"), quoted[1 : len(quoted)-1]}
		for _, f := range forms {
			if f != "" && strings.Contains(msg, f) {
				msg = strings.ReplaceAll(msg, f, "[REDACTED]")
				changed = true
			}
		}
	}
	if !changed {
		return err
	}
	return &redactedError{msg: msg, err: err}
}
