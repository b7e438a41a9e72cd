package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/jobs/ingest"
)

func TestParseWithArgTakesOneArgumentBeforeOrAfterFlags(t *testing.T) {
	tests := []struct {
		args    []string
		arg     string
		out     string
		invalid bool
	}{
		{args: []string{"q", "--out", "f"}, arg: "q", out: "f"},
		{args: []string{"--out", "f", "q"}, arg: "q", out: "f"},
		{args: []string{"--out", "f"}, arg: "", out: "f"},
		{args: []string{"q", "r"}, invalid: true},
		{args: []string{"--out", "f", "q", "r"}, invalid: true},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		out := fs.String("out", "", "")
		arg, err := parseWithArg(fs, tt.args)
		if tt.invalid {
			if !errors.Is(err, errUsage) {
				t.Fatalf("%v: err %v, want usage", tt.args, err)
			}
			continue
		}
		if err != nil || arg != tt.arg || *out != tt.out {
			t.Fatalf("%v: got %q out %q err %v", tt.args, arg, *out, err)
		}
	}
}

// newLogger writes slog's text or JSON format, as log.format says, and
// drops records below log.level.
func TestNewLoggerFormatAndLevel(t *testing.T) {
	var text bytes.Buffer
	log := newLogger(&text, config.Log{Format: "text", Level: "warn"}, nil)
	log.Info("hidden", "n", 1)
	log.Warn("batch slow", "job", "ingest", "n", 2)
	log.Error("batch failed", "err", "boom")
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("warn level: want the warn and error lines only, got %q", text.String())
	}
	for i, want := range []string{`level=WARN msg="batch slow" job=ingest n=2`, `level=ERROR msg="batch failed" err=boom`} {
		if !strings.HasPrefix(lines[i], "time=") || !strings.HasSuffix(lines[i], want) {
			t.Fatalf("text line %d = %q, want time=... %s", i, lines[i], want)
		}
	}

	var js bytes.Buffer
	log = newLogger(&js, config.Log{Format: "json", Level: "debug"}, nil)
	log.Debug("planned", "records", 6000)
	log.Info("done", "job", "ingest")
	dec := json.NewDecoder(&js)
	var got []map[string]any
	for dec.More() {
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("JSON log line: %v", err)
		}
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(rec["time"])); err != nil {
			t.Fatalf("JSON time %v: %v", rec["time"], err)
		}
		delete(rec, "time")
		got = append(got, rec)
	}
	want := []map[string]any{
		{"level": "DEBUG", "msg": "planned", "records": float64(6000)},
		{"level": "INFO", "msg": "done", "job": "ingest"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("JSON records %v, want %v", got, want)
	}

	// The default (info) drops debug.
	var def bytes.Buffer
	log = newLogger(&def, config.Default().Log, nil)
	log.Debug("hidden")
	log.Info("shown")
	if n := strings.Count(def.String(), "\n"); n != 1 || !strings.Contains(def.String(), "level=INFO msg=shown") {
		t.Fatalf("default logger wrote %q, want one info line in text", def.String())
	}
}

func TestLoggerRedactsSecretsFromMessagesAndAttributes(t *testing.T) {
	t.Setenv("SILT_KAFKA_BROKERS", "k:9092")
	t.Setenv("SILT_KAFKA_SASL_MECHANISM", "plain")
	t.Setenv("SILT_KAFKA_SASL_USERNAME", "u")
	t.Setenv("SILT_KAFKA_SASL_PASSWORD", "pw-AAAA-1234")
	cfg, err := config.Load("")
	require.NoError(t, err)
	for _, format := range []string{"text", "json"} {
		var out bytes.Buffer
		log := newLogger(&out, config.Log{Format: format, Level: "info"}, cfg.Redact)
		log.Info("login with pw-AAAA-1234 failed", "err", errors.New("auth pw-AAAA-1234"), "dsn", "x:pw-AAAA-1234@y",
			"url", &url.URL{Scheme: "https", Host: "h", Path: "/pw-AAAA-1234"})
		require.NotContains(t, out.String(), "pw-AAAA-1234", format)
		require.Contains(t, out.String(), "<redacted>", format)
	}
}

// ingest.DefaultOptions, for library users and tests, says what
// config.Default says: the two lists of defaults must not drift apart.
func TestIngestDefaultsAgreeWithConfigDefaults(t *testing.T) {
	require.Equal(t, ingest.DefaultOptions(), ingestOptions(config.Default(), nil))
}
