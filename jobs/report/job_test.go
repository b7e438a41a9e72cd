package report_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
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
	"github.com/silt-etl/silt/testbed/smtptest"
)

func TestJobWritesCSVAndAlerts(t *testing.T) {
	f := newFixture(t, 900)
	smtpd := smtptest.Start(t)
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
	n := report.NewNotifier(report.AlertOptions{Webhook: hook.URL, SMTP: report.SMTPOptions{Addr: smtpd.Addr(), From: "silt@example.com", To: []string{"ops@example.com"}}})
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

	msgs := smtpd.Messages()
	require.Len(t, msgs, 1)
	require.Equal(t, []string{"<ops@example.com>"}, smtpd.Recipients())
	msg, err := mail.ReadMessage(strings.NewReader(msgs[0]))
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
