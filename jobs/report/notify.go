package report

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// Alert is what a notification says: the report, the rows for which its
// condition held, and where the CSV is.
type Alert struct {
	Report      string           `json:"report"`
	Job         string           `json:"job"`
	Condition   string           `json:"condition"`
	ScheduledAt time.Time        `json:"scheduled_at"`
	CSVPath     string           `json:"csv_path,omitempty"`
	Rows        []map[string]any `json:"rows"`
	csv         []byte
}

// AlertOptions are where alerts go: silt.yaml's reports.alerts keys,
// which the error messages name.
type AlertOptions struct {
	// Webhook is a URL that gets each alert as JSON. It is a secret: chat
	// webhooks carry their token in the URL.
	Webhook string
	SMTP    SMTPOptions
}

// SMTPOptions is the mail server alerts are sent through and to whom.
type SMTPOptions struct {
	Addr     string
	From     string
	To       []string
	Username string
	Password string
}

// Notifier sends alerts to the configured webhook and SMTP recipients.
type Notifier struct {
	cfg    AlertOptions
	client *http.Client
}

func NewNotifier(cfg AlertOptions) *Notifier {
	return &Notifier{cfg: cfg, client: &http.Client{Timeout: 30 * time.Second}}
}

// Enabled reports whether any channel is configured.
func (n *Notifier) Enabled() bool {
	return n != nil && (n.cfg.Webhook != "" || (n.cfg.SMTP.Addr != "" && len(n.cfg.SMTP.To) > 0))
}

// Notify sends a to every configured channel; it tries all and joins errors.
func (n *Notifier) Notify(ctx context.Context, a Alert) error {
	var errs []string
	if n.cfg.Webhook != "" {
		if err := n.webhook(ctx, a); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if n.cfg.SMTP.Addr != "" && len(n.cfg.SMTP.To) > 0 {
		if err := n.mail(ctx, a); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("notify alert of %s: %s", a.Report, strings.Join(errs, "; "))
	}
	return nil
}

func (n *Notifier) webhook(ctx context.Context, a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.Webhook, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: status %s", resp.Status)
	}
	return nil
}

// mail sends the alert with the CSV attached, gzipped. net/smtp has no context, so
// the connection is dialled with one and given its deadline.
func (n *Notifier) mail(ctx context.Context, a Alert) error {
	s := n.cfg.SMTP
	msg, err := buildMail(s.From, s.To, a)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	c, err := n.dialSMTP(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if err := c.Mail(s.From); err != nil {
		return fmt.Errorf("smtp mail from: %w", err)
	}
	for _, to := range s.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("smtp rcpt %s: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	return c.Quit()
}

// dialSMTP connects to smtp.addr, upgrades to TLS when the server offers
// it, and logs in when a username is set.
func (n *Notifier) dialSMTP(ctx context.Context) (*smtp.Client, error) {
	s := n.cfg.SMTP
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(time.Minute)
	}
	if err := conn.SetDeadline(dl); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("smtp: %w", err)
	}
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("smtp: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("smtp auth (reports.alerts.smtp.username and password): %w", err)
		}
	}
	return c, nil
}

// Check connects to each configured alert target without sending
// anything: SMTP up to login, the webhook's host up to its TLS handshake
// (a request would post an alert). For `silt check`.
func (n *Notifier) Check(ctx context.Context) (detail string, err error) {
	var found []string
	if n.cfg.SMTP.Addr != "" {
		c, err := n.dialSMTP(ctx)
		if err != nil {
			return "", err
		}
		_ = c.Quit() // the login above is what was checked
		found = append(found, "smtp "+n.cfg.SMTP.Addr+" accepts the login")
	}
	if n.cfg.Webhook != "" {
		u, err := url.Parse(n.cfg.Webhook)
		if err != nil {
			return "", fmt.Errorf("reports.alerts.webhook is not a URL")
		}
		port := u.Port()
		switch {
		case port != "":
		case u.Scheme == "https":
			port = "443"
		default:
			port = "80"
		}
		addr := net.JoinHostPort(u.Hostname(), port)
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return "", fmt.Errorf("webhook %s://%s: %w", u.Scheme, u.Host, err)
		}
		defer func() { _ = conn.Close() }()
		if u.Scheme == "https" {
			tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
			if err := tc.HandshakeContext(ctx); err != nil {
				return "", fmt.Errorf("webhook %s://%s: TLS: %w", u.Scheme, u.Host, err)
			}
		}
		// The URL's path often carries a token: only scheme and host are shown.
		found = append(found, "webhook "+u.Scheme+"://"+u.Host+" reachable")
	}
	return strings.Join(found, "; "), nil
}

func buildMail(from string, to []string, a Alert) ([]byte, error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: silt alert: %s (%s)\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=%s\r\n\r\n",
		from, strings.Join(to, ", "), a.Report, a.Condition, a.ScheduledAt.UTC().Format(time.RFC1123Z), mw.Boundary())
	text, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(text, "Report %s (job %s) scheduled at %s: %q held for %d row(s).\r\n",
		a.Report, a.Job, a.ScheduledAt.UTC().Format(TimeFormat), a.Condition, len(a.Rows))
	if a.CSVPath != "" {
		fmt.Fprintf(text, "CSV: %s\r\n", a.CSVPath)
	}
	// The CSV goes gzipped: a day of windows compresses tenfold, and
	// mail servers cap message sizes.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(a.csv); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	att, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"application/gzip"},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition":       {fmt.Sprintf(`attachment; filename="%s.csv.gz"`, a.Report)},
	})
	if err != nil {
		return nil, err
	}
	enc := base64.StdEncoding.EncodeToString(gz.Bytes())
	for len(enc) > 76 {
		fmt.Fprintf(att, "%s\r\n", enc[:76])
		enc = enc[76:]
	}
	fmt.Fprintf(att, "%s\r\n", enc)
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
