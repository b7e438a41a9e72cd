package main

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/internal/deadletters"
)

var letterTime = time.Date(2026, 11, 22, 10, 15, 0, 123e6, time.UTC)

func sampleDeadLetters() deadletters.Summary {
	return deadletters.Summary{
		Total:  7,
		ByKind: []deadletters.KindCount{{Kind: "not_json", Count: 5}, {Kind: "type_conflict", Count: 2}},
		Latest: []deadletters.Letter{
			{At: letterTime, Topic: "events", Partition: 2, Offset: 4711, IngestedAt: letterTime.Add(time.Second),
				Kind: "not_json", Reason: "not_json: cannot parse JSON: unexpected tail", Raw: "\x1b[2J<script>alert(1)</script>\nline two, \"quoted\""},
			{At: letterTime.Add(-time.Minute), Topic: "events", Partition: 0, Offset: 12, IngestedAt: letterTime,
				Kind: "not_json", Reason: "not_json: invalid UTF-8", Raw: "\uFFFD\uFFFD x", RawBase64: "//4geA=="},
		},
	}
}

// The table shows counts by reason and an excerpt that cannot drive the
// terminal; CSV and JSON carry every field and the whole raw text, exactly.
func TestPrintDeadLettersInEachFormat(t *testing.T) {
	sum := sampleDeadLetters()

	var table strings.Builder
	require.NoError(t, printDeadLetters(&table, sum, "table"))
	out := table.String()
	require.Contains(t, out, "7 dead letters: not_json=5 type_conflict=2\nthe latest 2, newest first:\n")
	require.Contains(t, out, "2026-11-22 10:15:00.123  events/2/4711")
	require.Contains(t, out, `\u001b[2J<script>alert(1)</script>\u000aline two`)
	require.NotContains(t, out, "\x1b", "no escape sequence reaches the terminal")
	require.Equal(t, 5, strings.Count(out, "\n"), "one line per dead letter")

	var csvOut strings.Builder
	require.NoError(t, printDeadLetters(&csvOut, sum, "csv"))
	records, err := csv.NewReader(strings.NewReader(csvOut.String())).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, 3)
	require.Equal(t, deadLetterHeader, records[0])
	require.Equal(t, []string{"2026-11-22T10:15:00.123Z", "events", "2", "4711", "2026-11-22T10:15:01.123Z", "not_json",
		"not_json: cannot parse JSON: unexpected tail", sum.Latest[0].Raw, ""}, records[1])
	require.Equal(t, "//4geA==", records[2][8])

	var jsonOut strings.Builder
	require.NoError(t, printDeadLetters(&jsonOut, sum, "json"))
	var back []deadletters.Letter
	require.NoError(t, json.Unmarshal([]byte(jsonOut.String()), &back))
	require.Equal(t, sum.Latest, back)

	var empty strings.Builder
	require.NoError(t, printDeadLetters(&empty, deadletters.Summary{}, "json"))
	require.Equal(t, "[]\n", empty.String())
	empty.Reset()
	require.NoError(t, printDeadLetters(&empty, deadletters.Summary{}, "table"))
	require.Equal(t, "no dead letters\n", empty.String())
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"90m":                  now.Add(-90 * time.Minute),
		"2026-11-21":           time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC),
		"2026-11-21T08:30:00Z": time.Date(2026, 11, 21, 8, 30, 0, 0, time.UTC),
		"2026-11-21 08:30:00":  time.Date(2026, 11, 21, 8, 30, 0, 0, time.UTC),
	} {
		got, err := parseSince(in, now)
		require.NoError(t, err, in)
		require.True(t, want.Equal(got), "%s: %s", in, got)
	}
	for _, bad := range []string{"yesterday", "-5m"} {
		_, err := parseSince(bad, now)
		require.Error(t, err, bad)
	}
}

func TestSelectLettersByOffsetAndLimit(t *testing.T) {
	all := sampleDeadLetters().Latest
	require.Len(t, selectLetters(all, nil, 0), 2)
	require.Equal(t, all[:1], selectLetters(all, nil, 1))
	got := selectLetters(all, map[string]bool{"events/0/12": true, "events/9/9": true}, 0)
	require.Equal(t, []deadletters.Letter{all[1]}, got)
}
