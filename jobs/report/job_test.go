package report_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/jobs/report"
)

// smtpServer is the least of an SMTP server: it accepts one message per
// connection and hands over its DATA.
type smtpServer struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	rcpt []string
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &smtpServer{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	r := bufio.NewReader(c)
	say := func(line string) { _, _ = io.WriteString(c, line+"\r\n") }
	say("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 test")
		case strings.HasPrefix(cmd, "MAIL FROM"):
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO"):
			s.mu.Lock()
			s.rcpt = append(s.rcpt, strings.TrimSpace(line[len("RCPT TO:"):]))
			s.mu.Unlock()
			say("250 ok")
		case cmd == "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, b.String())
			s.mu.Unlock()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 no")
		}
	}
}

func TestJobWritesCSVAndAlerts(t *testing.T) {
	f := newFixture(t, 900)
	smtpd := startSMTP(t)
	var hooks []map[string]any
	var hmu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		hmu.Lock()
		hooks = append(hooks, body)
		hmu.Unlock()
	}))
	defer hook.Close()

	out := t.TempDir()
	n := report.NewNotifier(report.AlertOptions{Webhook: hook.URL, SMTP: report.SMTPOptions{Addr: smtpd.ln.Addr().String(), From: "silt@example.com", To: []string{"ops@example.com"}}})
	job, err := report.NewJob("errors", report.JobOptions{Report: f.reports["error_alert"], Params: map[string]string{"window_minutes": "10", "threshold": "4", "start": "now-3h"}, Engine: f.cat, OutDir: out, Notifier: n})
	require.NoError(t, err)
	require.Equal(t, "errors", job.Name())

	// Scheduled at the end of the data: now-3h..now covers all of it, so the
	// wall clock (years later) plays no part.
	at := t0.Add(3 * time.Hour)
	stats, err := job.Run(context.Background(), at)
	require.NoError(t, err)
	require.Greater(t, stats["rows"], int64(10))
	require.Positive(t, stats["alert_rows"])

	path := filepath.Join(out, "errors", "20240501T130000.000Z.csv")
	csvBytes, err := os.ReadFile(path)
	require.NoError(t, err)
	latest, err := os.ReadFile(filepath.Join(out, "errors", "latest.csv"))
	require.NoError(t, err)
	require.Equal(t, csvBytes, latest)
	require.Equal(t, int64(strings.Count(string(csvBytes), "\r\n")-1), stats["rows"])

	require.Len(t, hooks, 1)
	require.Equal(t, "error_alert", hooks[0]["report"])
	require.Equal(t, path, hooks[0]["csv_path"])
	require.Len(t, hooks[0]["rows"], int(stats["alert_rows"]))

	smtpd.mu.Lock()
	defer smtpd.mu.Unlock()
	require.Len(t, smtpd.msgs, 1)
	require.Equal(t, []string{"<ops@example.com>"}, smtpd.rcpt)
	msg, err := mail.ReadMessage(strings.NewReader(smtpd.msgs[0]))
	require.NoError(t, err)
	require.Contains(t, msg.Header.Get("Subject"), "error_alert")
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var attached []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if p.FileName() == "error_alert.csv.gz" {
			require.Equal(t, "application/gzip", p.Header.Get("Content-Type"))
			raw, _ := io.ReadAll(p)
			gz, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\r\n", ""))
			require.NoError(t, err)
			zr, err := gzip.NewReader(bytes.NewReader(gz))
			require.NoError(t, err)
			attached, err = io.ReadAll(zr)
			require.NoError(t, err)
		}
	}
	require.Equal(t, csvBytes, attached, "the mail carries the CSV, gzipped")

	// A report without an alert writes CSV and notifies nobody.
	job2, err := report.NewJob("hosts", report.JobOptions{Report: f.reports["host_breakdown"], Engine: f.cat, OutDir: out, Notifier: n})
	require.NoError(t, err)
	_, err = job2.Run(context.Background(), t0.Add(90*time.Minute))
	require.NoError(t, err)
	want := 0
	for _, e := range f.events {
		if inRange(e, t0.Add(30*time.Minute), t0.Add(90*time.Minute)) {
			want++
		}
	}
	latest, err = os.ReadFile(filepath.Join(out, "hosts", "latest.csv"))
	require.NoError(t, err)
	total := 0
	for _, line := range strings.Split(strings.TrimSpace(string(latest)), "\r\n")[1:] {
		n, err := strconv.Atoi(line[strings.LastIndex(line, ",")+1:])
		require.NoError(t, err)
		total += n
	}
	require.Equal(t, want, total, "default start=now-1h is relative to the scheduled time")
	require.Len(t, hooks, 1)
}

func TestNewJobRejectsBadParams(t *testing.T) {
	f := newFixture(t, 10)
	_, err := report.NewJob("x", report.JobOptions{Report: f.reports["error_alert"], Params: map[string]string{"threshold": "1; DROP TABLE log"}, Engine: f.cat, OutDir: t.TempDir()})
	require.ErrorContains(t, err, "not a whole number")
	_, err = report.NewJob("x", report.JobOptions{Report: f.reports["error_alert"], Params: map[string]string{"treshold": "1"}, Engine: f.cat, OutDir: t.TempDir()})
	require.ErrorContains(t, err, "no param")
}
