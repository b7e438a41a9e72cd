//go:build integration

// Package logalerts_test runs the log alerts example as its README says:
// `silt run` with the embedded broker, one `silt ship` per server, and a
// test SMTP server that receives the alert.
package logalerts_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/testbed/siltrun"
	"github.com/silt-etl/silt/testbed/smtptest"
	"github.com/silt-etl/silt/testbed/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// logLine is one generated line and what the report must count for it.
type logLine struct {
	host, text string
	at         time.Time // its time; a stack-trace line has its ERROR's
	level      string    // "" for a line the pattern does not match
	lakeText   string    // message, or the raw line when it does not parse
}

// generate makes each server's lines: 8 a minute for 12 minutes from
// start, levels seeded, and in minute m exactly m%4 ERROR lines (spread
// over the servers), so windows with 2 and 3 errors alert and those with
// 0 and 1 do not. web-2 follows each ERROR with a stack-trace line.
func generate(start time.Time, hosts []string) map[string][]logLine {
	rng := rand.New(rand.NewPCG(3, 3))
	out := map[string][]logLine{}
	n := 0
	for m := range 12 {
		errorsLeft := m % 4
		for sec := 0; sec < 60; sec += 8 {
			for hi, h := range hosts {
				at := start.Add(time.Duration(m)*time.Minute + time.Duration(sec+hi)*time.Second + time.Duration(rng.IntN(1000))*time.Millisecond)
				level := []string{"INFO", "INFO", "DEBUG", "WARN"}[rng.IntN(4)]
				if errorsLeft > 0 && (sec/8+hi)%2 == 0 {
					level, errorsLeft = "ERROR", errorsLeft-1
				}
				n++
				msg := fmt.Sprintf("request %d done", n)
				out[h] = append(out[h], logLine{host: h, at: at, level: level, lakeText: msg,
					text: fmt.Sprintf("%s [http-%d] %-5s c.e.Handler - %s", at.Format("15:04:05.000"), n%4, level, msg)})
				if level == "ERROR" && h == "web-2" {
					trace := fmt.Sprintf("\tat com.example.Handler.run(Handler.java:%d)", n)
					out[h] = append(out[h], logLine{host: h, at: at, text: trace, lakeText: trace})
				}
			}
		}
	}
	return out
}

// newLog writes a new log file as its server would have over the time of
// its lines: its modification time is its first line's, which is where
// silt ship takes the date of time-only lines from. It appears under its
// name at once (written beside it, then renamed), so the shipper never
// sees it with the time of the test's writing.
func newLog(t *testing.T, path string, lines []logLine) {
	t.Helper()
	appendLines(t, path+".new", lines)
	require.NoError(t, os.Chtimes(path+".new", lines[0].at, lines[0].at))
	require.NoError(t, os.Rename(path+".new", path))
}

func appendLines(t *testing.T, path string, lines []logLine) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	for _, l := range lines {
		_, err := fmt.Fprintln(f, l.text)
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
}

// shipper is one `silt ship` process and its state file.
type shipper struct {
	*siltrun.Daemon
	state string
}

func startShip(t *testing.T, dir string, env []string, host string) *shipper {
	t.Helper()
	state := filepath.Join(dir, "ship-"+host+".state")
	env = append(append([]string{}, env...), "SILT_SHIP_HOST="+host, "SILT_SHIP_PATHS=logs/"+host+"/*.log", "SILT_SHIP_STATE_FILE="+state)
	return &shipper{Daemon: siltrun.StartCommand(t, dir, env, "ship", "--config", "silt.yaml"), state: state}
}

// shipped is true when the shipper's state says path was shipped to its
// end, and it follows files only.
func (s *shipper) shipped(path string, files int) bool {
	raw, err := os.ReadFile(s.state)
	if err != nil {
		return false
	}
	var st struct {
		Files map[string]struct {
			Path   string `json:"path"`
			Offset int64  `json:"offset"`
		} `json:"files"`
	}
	if json.Unmarshal(raw, &st) != nil || len(st.Files) != files {
		return false
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	for _, f := range st.Files {
		if strings.HasSuffix(f.Path, path[strings.LastIndex(path, "logs/"):]) && f.Offset == fi.Size() {
			return true
		}
	}
	return false
}

// TestLogAlertsExampleE2E: three servers' logs (seeded; 12 one-minute
// windows with 0–3 ERROR lines each) shipped by three `silt ship`
// processes while web-1's log is rotated by rename, web-2's by
// copytruncate and web-3's shipper is restarted mid-file; the error_alert
// CSV and the mailed attachment hold exactly the counts of the generated
// lines, and the lake holds every line once.
func TestLogAlertsExampleE2E(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile("silt.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "silt.yaml"), raw, 0o644))
	smtpd := smtptest.Start(t)

	env := siltrun.Env("SILT_HTTP_LISTEN=127.0.0.1:0", "SILT_SMTP_ADDR="+smtpd.Addr())
	d := siltrun.Start(t, dir, env, "--config", "silt.yaml")
	brokerLine := regexp.MustCompile(`EMBEDDED demo Kafka broker on (\S+)`)
	d.WaitFor(t, "the embedded broker", time.Minute, func() bool { return brokerLine.MatchString(d.Output()) })
	broker := brokerLine.FindStringSubmatch(d.Output())[1]

	// In the report's default range (the last hour); a run just after
	// midnight has lines on both days, which ship dates as a live log's:
	// from the file's modification date, moving on at midnight.
	start := time.Now().UTC().Truncate(time.Minute).Add(-15 * time.Minute)
	shipEnv := append(env, "SILT_KAFKA_BROKERS="+broker)
	hosts := []string{"web-1", "web-2", "web-3"}
	lines := generate(start, hosts)
	half := map[string]int{}
	for _, h := range hosts {
		half[h] = len(lines[h]) / 2
	}
	logPath := func(h string) string { return filepath.Join(dir, "logs", h, "app.log") }

	ships := map[string]*shipper{}
	for _, h := range hosts {
		newLog(t, logPath(h), lines[h][:half[h]])
		ships[h] = startShip(t, dir, shipEnv, h)
	}
	for _, h := range hosts {
		d.WaitFor(t, h+"'s first half shipped", time.Minute, func() bool { return ships[h].shipped(logPath(h), 1) })
	}

	// web-1: rotated by rename; the new file under the old name.
	require.NoError(t, os.Rename(logPath("web-1"), logPath("web-1")+".1"))
	newLog(t, logPath("web-1"), lines["web-1"][half["web-1"]:])
	// web-2: copytruncate; the copy is not matched by *.log. The first
	// line after the truncation is shorter than what was read, so the
	// shipper sees the file shrink before it grows again.
	copyRaw, err := os.ReadFile(logPath("web-2"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(logPath("web-2")+".1", copyRaw, 0o644))
	require.NoError(t, os.Truncate(logPath("web-2"), 0))
	appendLines(t, logPath("web-2"), lines["web-2"][half["web-2"]:half["web-2"]+1])
	d.WaitFor(t, "web-2's truncated file shipped", time.Minute, func() bool { return ships["web-2"].shipped(logPath("web-2"), 1) })
	appendLines(t, logPath("web-2"), lines["web-2"][half["web-2"]+1:])
	// web-3: the shipper stops mid-file and starts again.
	ships["web-3"].Stop(t)
	appendLines(t, logPath("web-3"), lines["web-3"][half["web-3"]:])
	ships["web-3"] = startShip(t, dir, shipEnv, "web-3")

	for _, h := range hosts {
		d.WaitFor(t, h+"'s lines shipped", time.Minute, func() bool { return ships[h].shipped(logPath(h), 1) })
	}

	// The report: every window, counted from the generated lines.
	type counts struct{ lines, errors, warnings, infos, debugs, others int }
	perWindow := map[time.Time]*counts{}
	var all []logLine
	for _, h := range hosts {
		all = append(all, lines[h]...)
	}
	for _, l := range all {
		w := l.at.Truncate(time.Minute)
		c := perWindow[w]
		if c == nil {
			c = &counts{}
			perWindow[w] = c
		}
		c.lines++
		switch l.level {
		case "ERROR":
			c.errors++
		case "WARN":
			c.warnings++
		case "INFO":
			c.infos++
		case "DEBUG":
			c.debugs++
		default:
			c.others++
		}
	}
	windows := make([]time.Time, 0, len(perWindow))
	for w := range perWindow {
		windows = append(windows, w)
	}
	sort.Slice(windows, func(i, j int) bool { return windows[i].Before(windows[j]) })
	want := [][]string{{"window_start", "lines", "errors", "warnings", "infos", "debugs", "others"}}
	var alerting []string
	for _, w := range windows {
		c := perWindow[w]
		ws := w.Format("2006-01-02T15:04:05.000Z")
		want = append(want, []string{ws, strconv.Itoa(c.lines), strconv.Itoa(c.errors), strconv.Itoa(c.warnings), strconv.Itoa(c.infos), strconv.Itoa(c.debugs), strconv.Itoa(c.others)})
		if c.errors > 1 {
			alerting = append(alerting, ws+" errors="+strconv.Itoa(c.errors))
		}
	}
	require.Len(t, windows, 12)
	require.Len(t, alerting, 6, "minutes 2, 3, 6, 7, 10, 11 have 2 or 3 ERROR lines")

	latest := filepath.Join(dir, "silt-data", "reports", "error_alert", "latest.csv")
	var got [][]string
	d.WaitFor(t, "the error_alert CSV with every line counted", 3*time.Minute, func() bool {
		raw, err := os.ReadFile(latest)
		if err != nil {
			return false
		}
		got, _ = csv.NewReader(bytes.NewReader(raw)).ReadAll()
		return fmt.Sprint(got) == fmt.Sprint(want)
	})
	var gotAlerting []string
	for _, r := range got[1:] {
		if n, _ := strconv.Atoi(r[2]); n > 1 {
			gotAlerting = append(gotAlerting, r[0]+" errors="+r[2])
		}
	}
	require.Equal(t, alerting, gotAlerting)

	// The mail of a run that saw every line: the CSV gzipped, and the
	// alert held for exactly the alerting windows.
	var mailText string
	d.WaitFor(t, "the alert mail with the complete CSV", 2*time.Minute, func() bool {
		for _, m := range smtpd.Messages() {
			text, attached := readMail(t, m)
			if attached != nil {
				if rows, _ := csv.NewReader(bytes.NewReader(attached)).ReadAll(); fmt.Sprint(rows) == fmt.Sprint(want) {
					mailText = text
					return true
				}
			}
		}
		return false
	})
	require.Contains(t, mailText, fmt.Sprintf("held for %d row(s)", len(alerting)))
	require.Equal(t, []string{"<ops@example.com>"}, smtpd.Recipients()[:1])

	for _, h := range hosts {
		ships[h].Stop(t)
	}
	require.Contains(t, ships["web-1"].Output(), "lines/s", "progress on the console")
	d.Stop(t)

	// The lake: every generated line once, with its host.
	q := exec.Command(stacktest.SiltBin(t), "query", "--config", "silt.yaml", "--format", "csv",
		"SELECT host, coalesce(message, line) AS text, count(*) AS n FROM log GROUP BY 1, 2")
	q.Dir, q.Env = dir, env
	out, err := q.Output()
	require.NoError(t, err, "%s", out)
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	require.NoError(t, err)
	gotLake := map[string]string{}
	for _, r := range rows[1:] {
		gotLake[r[0]+" "+r[1]] = r[2]
	}
	wantLake := map[string]string{}
	for _, l := range all {
		wantLake[l.host+" "+l.lakeText] = "1"
	}
	require.Equal(t, wantLake, gotLake, "each line in the lake exactly once")
}

// readMail gives a message's text part and its gunzipped attachment.
func readMail(t *testing.T, raw string) (string, []byte) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	require.NoError(t, err)
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var text string
	var attached []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return text, attached
		}
		require.NoError(t, err)
		body, err := io.ReadAll(p)
		require.NoError(t, err)
		if p.FileName() != "error_alert.csv.gz" {
			text += string(body)
			continue
		}
		require.Equal(t, "application/gzip", p.Header.Get("Content-Type"))
		gz, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(body), "\r\n", ""))
		require.NoError(t, err)
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		require.NoError(t, err)
		attached, err = io.ReadAll(zr)
		require.NoError(t, err)
	}
}
