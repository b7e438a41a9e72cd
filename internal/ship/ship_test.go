package ship

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const logPattern = `^(?P<time>\d{2}:\d{2}:\d{2}\.\d{3}) \[(?P<thread>[^\]]+)\] (?P<level>\w+)\s+(?P<logger>\S+) - (?P<message>.*)$`

func TestParseNamedGroupsAndTime(t *testing.T) {
	p, err := NewParser(logPattern, "time", "15:04:05.000", time.UTC)
	require.NoError(t, err)
	require.False(t, p.hasDate())
	fields, at, err := p.Parse("14:30:01.123 [main] ERROR c.e.Gen - disk full: /var")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"time": "14:30:01.123", "thread": "main", "level": "ERROR", "logger": "c.e.Gen", "message": "disk full: /var"}, fields)
	h, m, s := at.Clock()
	require.Equal(t, []int{14, 30, 1, 123e6}, []int{h, m, s, at.Nanosecond()})

	_, _, err = p.Parse("\tat com.example.Gen.run(Gen.java:42)")
	require.ErrorContains(t, err, "does not match")
	_, _, err = p.Parse("99:99:99.999 [main] INFO x - y")
	require.ErrorContains(t, err, "does not parse")

	_, err = NewParser(`^(?P<when>\S+)`, "time", "15:04:05", time.UTC)
	require.ErrorContains(t, err, "(?P<time>")
	dated, err := NewParser(`^(?P<time>\S+) (?P<message>.*)$`, "time", time.RFC3339, time.UTC)
	require.NoError(t, err)
	require.True(t, dated.hasDate())
}

func TestDayClockRollsOverAtMidnight(t *testing.T) {
	d := dayClock{Date: "2026-03-01"}
	at := func(h, m int) time.Time {
		full, err := d.full(time.Date(0, 1, 1, h, m, 0, 0, time.UTC), time.UTC)
		require.NoError(t, err)
		return full
	}
	require.Equal(t, time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC), at(23, 59))
	require.Equal(t, time.Date(2026, 3, 2, 0, 1, 0, 0, time.UTC), at(0, 1), "the clock went back by a day: midnight")
	require.Equal(t, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), at(0, 0), "a line a minute out of order stays on its day")
	require.Equal(t, "2026-03-02", d.Date)
}

// fixture is a kfake broker, a log directory and a state file.
type fixture struct {
	t     *testing.T
	addrs []string
	dir   string
	state string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "logs"))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	dir := t.TempDir()
	return &fixture{t: t, addrs: c.ListenAddrs(), dir: dir, state: filepath.Join(t.TempDir(), "ship.state")}
}

func (f *fixture) shipper(mod func(*Options)) *Shipper {
	f.t.Helper()
	p, err := NewParser(logPattern, "time", "15:04:05.000", time.UTC)
	require.NoError(f.t, err)
	o := Options{
		Paths: []string{filepath.Join(f.dir, "*.log")}, Parser: p, Date: "2026-03-01",
		EventType: "log", EventTypeField: "event_type", TimeField: "timestamp", Host: "web-1",
		Topic: "logs", StateFile: f.state, Client: []kgo.Opt{kgo.SeedBrokers(f.addrs...)},
	}
	if mod != nil {
		mod(&o)
	}
	s, err := New(context.Background(), o)
	require.NoError(f.t, err)
	f.t.Cleanup(s.Close)
	require.NoError(f.t, s.recover(context.Background()))
	s.findRenamedWhileDown()
	return s
}

// appendLines writes lines "<prefix> n" for n in [from, to) to path.
func (f *fixture) appendLines(path, prefix string, from, to int) {
	f.t.Helper()
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(f.t, err)
	for n := from; n < to; n++ {
		_, err := fmt.Fprintf(fh, "10:%02d:%02d.000 [main] INFO c.e.Gen - %s %d\n", n/60%60, n%60, prefix, n)
		require.NoError(f.t, err)
	}
	require.NoError(f.t, fh.Close())
}

// topic reads every record of the topic, in partition and offset order.
func (f *fixture) topic() []map[string]any {
	f.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.addrs...), kgo.ConsumeTopics("logs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(f.t, err)
	defer cl.Close()
	want := int64(0)
	adm, err := kgo.NewClient(kgo.SeedBrokers(f.addrs...))
	require.NoError(f.t, err)
	defer adm.Close()
	ends, err := kadmEnds(adm)
	require.NoError(f.t, err)
	for _, e := range ends {
		want += e
	}
	var out []map[string]any
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		require.NoError(f.t, ctx.Err())
		fs.EachRecord(func(r *kgo.Record) {
			var ev map[string]any
			require.NoError(f.t, json.Unmarshal(r.Value, &ev))
			out = append(out, ev)
		})
	}
	return out
}

// messages are the topic's messages (or raw lines), sorted.
func (f *fixture) messages() []string {
	var out []string
	for _, ev := range f.topic() {
		if m, ok := ev["message"].(string); ok {
			out = append(out, m)
		} else {
			out = append(out, ev["line"].(string))
		}
	}
	sort.Strings(out)
	return out
}

func names(prefix string, from, to int) []string {
	var out []string
	for n := from; n < to; n++ {
		out = append(out, fmt.Sprintf("%s %d", prefix, n))
	}
	return out
}

func sorted(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	sort.Strings(out)
	return out
}

func TestShipEventFields(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(f.dir, "app.log")
	require.NoError(t, os.WriteFile(path, []byte("23:59:58.500 [main] ERROR c.e.Gen - boom\n\tat com.example.Gen.run(Gen.java:42)\n00:00:01.250 [w-2] DEBUG c.e.Db - ok\npartial"), 0o644))
	s := f.shipper(nil)
	require.NoError(t, s.poll(context.Background()))
	evs := f.topic()
	require.Len(t, evs, 3, "the partial last line waits for its newline")
	sort.Slice(evs, func(i, j int) bool { return evs[i]["line_offset"].(float64) < evs[j]["line_offset"].(float64) })
	require.Equal(t, map[string]any{
		"event_type": "log", "host": "web-1", "file": path, "line_offset": float64(0), "timestamp": "2026-03-01T23:59:58.500Z",
		"time": "23:59:58.500", "thread": "main", "level": "ERROR", "logger": "c.e.Gen", "message": "boom",
	}, evs[0])
	require.Equal(t, "\tat com.example.Gen.run(Gen.java:42)", evs[1]["line"])
	require.Equal(t, "line does not match the pattern", evs[1]["parse_error"])
	require.Equal(t, "2026-03-01T23:59:58.500Z", evs[1]["timestamp"], "an unparseable line has the time of the line before it")
	require.Nil(t, evs[1]["level"])
	require.Equal(t, "2026-03-02T00:00:01.250Z", evs[2]["timestamp"], "past midnight: the next day")

	f.appendLines(path, "after", 0, 1) // ends the partial line, and one more
	require.NoError(t, s.poll(context.Background()))
	require.Equal(t, sorted([]string{"\tat com.example.Gen.run(Gen.java:42)", "boom", "ok", "partial10:00:00.000 [main] INFO c.e.Gen - after 0"}), f.messages())
}

func TestShipRotationByRename(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(f.dir, "app.log")
	f.appendLines(path, "a", 0, 10)
	s := f.shipper(nil)
	require.NoError(t, s.poll(context.Background()))
	// The writer still has the renamed file open and writes on, then
	// opens a new one under the old name.
	f.appendLines(path, "a", 10, 15)
	require.NoError(t, os.Rename(path, filepath.Join(f.dir, "app.log.1")))
	f.appendLines(filepath.Join(f.dir, "app.log.1"), "a", 15, 20)
	f.appendLines(path, "b", 0, 7)
	require.NoError(t, s.poll(context.Background()))
	f.appendLines(path, "b", 7, 9)
	require.NoError(t, s.poll(context.Background()))
	require.Equal(t, sorted(names("a", 0, 20), names("b", 0, 9)), f.messages())
	require.Len(t, s.state.Files, 1, "the rotated file, read to its end, is let go")
}

func TestShipCopyTruncate(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(f.dir, "app.log")
	f.appendLines(path, "a", 0, 10)
	s := f.shipper(nil)
	require.NoError(t, s.poll(context.Background()))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "app.log.1"), raw, 0o644)) // not matched by *.log
	require.NoError(t, os.Truncate(path, 0))
	f.appendLines(path, "b", 0, 4)
	require.NoError(t, s.poll(context.Background()))
	require.Equal(t, sorted(names("a", 0, 10), names("b", 0, 4)), f.messages())
}

func TestShipRestartMidFile(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(f.dir, "app.log")
	f.appendLines(path, "a", 0, 10)
	ctx, cancel := context.WithCancel(context.Background())
	s := f.shipper(func(o *Options) {
		o.MaxBatchLines = 4
		o.AfterProduce = func() error { cancel(); return nil } // stop after the first batch
	})
	require.NoError(t, s.poll(ctx))
	s.Close()
	require.Equal(t, names("a", 0, 4), f.messages())

	f.appendLines(path, "a", 10, 12)
	s2 := f.shipper(func(o *Options) { o.MaxBatchLines = 4 })
	require.NoError(t, s2.poll(context.Background()))
	require.Equal(t, sorted(names("a", 0, 12)), f.messages(), "exactly the remaining lines, once")
}

var errCrash = errors.New("crash before the state write")

func TestShipCrashBetweenProduceAndStateWrite(t *testing.T) {
	// Batch 1: the state has never seen the file; batch 2: it is a batch behind.
	for _, crashAt := range []int{1, 2} {
		t.Run(fmt.Sprintf("batch %d", crashAt), func(t *testing.T) {
			f := newFixture(t)
			path := filepath.Join(f.dir, "app.log")
			f.appendLines(path, "a", 0, 10)
			other := filepath.Join(t.TempDir(), "other.log")
			f.appendLines(other, "o", 0, 3)
			batches := 0
			s := f.shipper(func(o *Options) {
				o.MaxBatchLines = 4
				o.AfterProduce = func() error {
					if batches++; batches == crashAt {
						return errCrash // Kafka has the batch; the state does not
					}
					return nil
				}
			})
			require.ErrorIs(t, s.poll(context.Background()), errCrash)
			s.Close()
			require.Equal(t, names("a", 0, 4*crashAt), f.messages())

			// Another shipper writes to the topic meanwhile: its records are not ours.
			web2 := f.shipper(func(o *Options) {
				o.Host, o.StateFile = "web-2", filepath.Join(t.TempDir(), "web2.state")
				o.Paths = []string{other}
			})
			require.NoError(t, web2.poll(context.Background()))
			web2.Close()

			s2 := f.shipper(nil)
			require.NoError(t, s2.poll(context.Background()))
			require.Equal(t, sorted(names("a", 0, 10), names("o", 0, 3)), f.messages(), "each line once after the crash")
		})
	}
}

func TestShipRotationToAMatchedName(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(f.dir, "app.log")
	f.appendLines(path, "a", 0, 5)
	s := f.shipper(nil)
	require.NoError(t, s.poll(context.Background()))
	// Rotated to a name the glob still matches: the same file, followed
	// on under its new name, not shipped again.
	require.NoError(t, os.Rename(path, filepath.Join(f.dir, "app-1.log")))
	f.appendLines(filepath.Join(f.dir, "app-1.log"), "a", 5, 7)
	f.appendLines(path, "b", 0, 3)
	require.NoError(t, s.poll(context.Background()))
	require.Equal(t, sorted(names("a", 0, 7), names("b", 0, 3)), f.messages())
	require.Len(t, s.state.Files, 2)
}

func TestShipRenamedWhileDown(t *testing.T) {
	f := newFixture(t)
	path := filepath.Join(f.dir, "app.log")
	f.appendLines(path, "a", 0, 3)
	s := f.shipper(nil)
	require.NoError(t, s.poll(context.Background()))
	s.Close()
	f.appendLines(path, "a", 3, 5)
	require.NoError(t, os.Rename(path, filepath.Join(f.dir, "app.log.1")))
	f.appendLines(path, "b", 0, 2)
	s2 := f.shipper(nil)
	require.NoError(t, s2.poll(context.Background()))
	require.Equal(t, sorted(names("a", 0, 5), names("b", 0, 2)), f.messages(), "the renamed file's last lines, and the new file's")
}

func kadmEnds(cl *kgo.Client) (map[int32]int64, error) {
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), "logs")
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, ends.Error()
}
