// Package ship follows log files and publishes each line to Kafka as a
// JSON event, exactly once across rotation, restarts and crashes: a
// file's offset is persisted only after Kafka acknowledged its lines, and
// every record carries its file's state after it (headers), so a restart
// whose state file is behind reads its own records back from the topic
// and continues after them instead of sending them again.
package ship

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Record headers every shipped line carries.
const (
	HeaderSource = "silt-ship-source" // host/device:inode
	HeaderState  = "silt-ship-state"  // the file's FileState after this line, JSON
)

// Options configure a Shipper; Load-time validation lives in config.
type Options struct {
	Paths  []string // globs, re-evaluated every poll
	Parser *Parser
	// Date is YYYY-MM-DD for lines that carry only a time of day; empty:
	// each file's modification date when the shipper first sees it.
	Date     string
	Location *time.Location
	// EventType goes into EventTypeField; the line's full time, RFC 3339
	// in UTC, into TimeField (ingest's time field).
	EventType, EventTypeField, TimeField string
	Host                                 string
	Topic                                string
	StateFile                            string
	Poll                                 time.Duration
	MaxBatchLines                        int
	// Client are the Kafka options: brokers, TLS, SASL.
	Client   []kgo.Opt
	Progress io.Writer
	Log      *slog.Logger
	// AfterProduce, for tests, runs after Kafka acknowledged a batch and
	// before the state is written; an error stops the shipper there.
	AfterProduce func() error
}

// Shipper follows the files of Options.Paths.
type Shipper struct {
	o       Options
	cl      *kgo.Client
	state   *State
	tracked map[string]*tracked
	lines   int64
}

type tracked struct {
	key     string
	f       *os.File
	st      *FileState
	matched bool // found by the globs on the last poll
}

// New connects to Kafka and loads the state file.
func New(ctx context.Context, o Options) (*Shipper, error) {
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.MaxBatchLines <= 0 {
		o.MaxBatchLines = 5000
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	st, err := loadState(o.StateFile)
	if err != nil {
		return nil, err
	}
	if st.Topic != "" && st.Topic != o.Topic {
		return nil, fmt.Errorf("ship state %s is for topic %q, not %q: use another ship.state_file for another topic", o.StateFile, st.Topic, o.Topic)
	}
	st.Topic = o.Topic
	opts := append([]kgo.Opt{kgo.DefaultProduceTopic(o.Topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0)}, o.Client...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("ship: kafka client: %w", err)
	}
	return &Shipper{o: o, cl: cl, state: st, tracked: map[string]*tracked{}}, nil
}

// Close closes the files and the Kafka client.
func (s *Shipper) Close() {
	for _, t := range s.tracked {
		_ = t.f.Close() // read only
	}
	s.cl.Close()
}

// Run ships until ctx ends. The batch in flight when it does is still
// acknowledged and persisted (within a bound), then Run returns nil.
func (s *Shipper) Run(ctx context.Context) error {
	if err := s.recover(ctx); err != nil {
		return err
	}
	s.findRenamedWhileDown()
	tick := time.NewTicker(s.o.Poll)
	defer tick.Stop()
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	started, lastLines, lastAt := time.Now(), int64(0), time.Now()
	for {
		if err := s.poll(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			took := time.Since(started)
			fmt.Fprintf(s.o.Progress, "silt ship: stopped: %d lines shipped in %s (%.0f lines/s), state in %s\n", s.lines, took.Round(time.Second), float64(s.lines)/took.Seconds(), s.o.StateFile)
			return nil
		case now := <-progress.C:
			fmt.Fprintf(s.o.Progress, "silt ship: %d lines from %d files (%.0f lines/s)\n", s.lines, len(s.tracked), float64(s.lines-lastLines)/now.Sub(lastAt).Seconds())
			lastLines, lastAt = s.lines, now
		case <-tick.C:
		}
	}
}

// Lines is how many lines this shipper sent and Kafka acknowledged.
func (s *Shipper) Lines() int64 { return s.lines }

func fileKey(fi os.FileInfo) (string, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino), true
}

// poll finds the files, ships what each has past its offset, and lets go
// of files that left the globs once they are read to the end.
func (s *Shipper) poll(ctx context.Context) error {
	for _, t := range s.tracked {
		t.matched = false
	}
	for _, g := range s.o.Paths {
		paths, err := filepath.Glob(g)
		if err != nil {
			return fmt.Errorf("ship.paths %q: %w", g, err)
		}
		sort.Strings(paths)
		for _, p := range paths {
			s.track(p, true)
		}
	}
	keys := make([]string, 0, len(s.tracked))
	for k := range s.tracked {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t := s.tracked[k]
		drained, err := s.shipFile(ctx, t)
		if err != nil {
			return err
		}
		if drained && !t.matched {
			// Rotated away and read to the end: nothing more will come.
			_ = t.f.Close() // read only
			delete(s.tracked, k)
			delete(s.state.Files, k)
			if err := s.state.save(s.o.StateFile); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// track opens path if its file is not followed yet.
func (s *Shipper) track(path string, matched bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	key, ok := fileKey(fi)
	if !ok {
		return
	}
	if t, ok := s.tracked[key]; ok {
		t.matched = t.matched || matched
		t.st.Path = path
		return
	}
	f, err := os.Open(path)
	if err != nil {
		s.o.Log.Warn("ship: cannot open log file", "path", path, "err", err)
		return
	}
	st := s.state.Files[key]
	if st == nil {
		date := s.o.Date
		if date == "" {
			date = fi.ModTime().In(s.o.Location).Format("2006-01-02")
		}
		st = &FileState{Clock: dayClock{Date: date}}
		s.state.Files[key] = st
	}
	st.Path = path
	s.tracked[key] = &tracked{key: key, f: f, st: st, matched: matched}
}

// findRenamedWhileDown follows files the state knows that the globs no
// longer find (rotated while the shipper was down), looking for them by
// device and inode beside where they were, so their last lines still go.
func (s *Shipper) findRenamedWhileDown() {
	found := map[string]bool{}
	for _, g := range s.o.Paths {
		paths, _ := filepath.Glob(g)
		for _, p := range paths {
			if fi, err := os.Stat(p); err == nil {
				if k, ok := fileKey(fi); ok {
					found[k] = true
				}
			}
		}
	}
	for key, st := range s.state.Files {
		if found[key] {
			continue
		}
		entries, err := os.ReadDir(filepath.Dir(st.Path))
		if err != nil {
			continue
		}
		for _, e := range entries {
			p := filepath.Join(filepath.Dir(st.Path), e.Name())
			if fi, err := os.Stat(p); err == nil {
				if k, ok := fileKey(fi); ok && k == key {
					s.track(p, false)
				}
			}
		}
	}
}

// maxLineBytes keeps a record under Kafka's default 1 MB message limit:
// a longer line goes in pieces.
const maxLineBytes = 256 << 10

// stopGrace is how long a batch in flight may still take after the
// shipper was told to stop.
const stopGrace = 30 * time.Second

// shipFile sends t's complete lines past its offset, a batch at a time,
// persisting the offset after each acknowledged batch. drained is true
// when nothing is left to read.
func (s *Shipper) shipFile(ctx context.Context, t *tracked) (drained bool, err error) {
	for {
		fi, err := t.f.Stat()
		if err != nil {
			return false, fmt.Errorf("ship: stat %s: %w", t.st.Path, err)
		}
		if fi.Size() < t.st.Offset {
			// copytruncate: the same file, emptied. Its lines up to the
			// offset were shipped; what it holds now is new.
			s.o.Log.Info("ship: file truncated, reading from its start", "path", t.st.Path, "offset", t.st.Offset, "size", fi.Size())
			t.st.Offset = 0
		}
		if fi.Size() == t.st.Offset {
			return true, nil
		}
		if ctx.Err() != nil {
			return false, nil
		}
		n, err := s.shipBatch(ctx, t, fi.Size())
		if err != nil {
			return false, err
		}
		if n == 0 {
			return true, nil // only a partial last line: wait for its end
		}
	}
}

// shipBatch reads up to MaxBatchLines complete lines, produces them, and
// persists the new offset once Kafka has them all.
func (s *Shipper) shipBatch(ctx context.Context, t *tracked, size int64) (int, error) {
	buf := make([]byte, min(size-t.st.Offset, maxLineBytes*4))
	n, err := t.f.ReadAt(buf, t.st.Offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("ship: read %s: %w", t.st.Path, err)
	}
	buf = buf[:n]
	next := *t.st
	var recs []*kgo.Record
	for len(recs) < s.o.MaxBatchLines {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			if len(buf) < maxLineBytes {
				break
			}
			i = maxLineBytes // an endless line goes in pieces rather than stalling the file
		}
		line := buf[:i]
		start := next.Offset
		next.Offset += int64(i)
		if i < len(buf) && buf[i] == '\n' {
			next.Offset++
			buf = buf[i+1:]
		} else {
			buf = buf[i:]
		}
		rec, err := s.record(t.key, &next, start, string(bytes.TrimSuffix(line, []byte("\r"))))
		if err != nil {
			return 0, err
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	// The producer retries while Kafka is away. The batch goes on when ctx
	// ends meanwhile, so it is acknowledged and persisted before the
	// shipper stops, but only for stopGrace more.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopAfterGrace := context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, cancel) })
	defer stopAfterGrace()
	results := s.cl.ProduceSync(pctx, recs...)
	if err := results.FirstErr(); err != nil {
		// Some of the batch may be in Kafka: read back what is before
		// going on, so nothing goes twice.
		s.o.Log.Warn("ship: produce failed, recovering from the topic", "path", t.st.Path, "err", err)
		if rerr := s.recover(ctx); rerr != nil {
			return 0, errors.Join(fmt.Errorf("ship: produce %s: %w", t.st.Path, err), rerr)
		}
		return 0, fmt.Errorf("ship: produce %s: %w (the state is recovered; run again)", t.st.Path, err)
	}
	if s.o.AfterProduce != nil {
		if err := s.o.AfterProduce(); err != nil {
			return 0, err
		}
	}
	for _, r := range results {
		if r.Record.Offset+1 > s.state.ScanFrom[r.Record.Partition] {
			s.state.ScanFrom[r.Record.Partition] = r.Record.Offset + 1
		}
	}
	*t.st = next
	if err := s.state.save(s.o.StateFile); err != nil {
		return 0, err
	}
	s.lines += int64(len(recs))
	return len(recs), nil
}

// record is one line's event: the pattern's groups, host, file, the
// line's byte offset and its time; a line that does not parse carries
// the raw line and parse_error, and the time of the line before it.
func (s *Shipper) record(key string, st *FileState, start int64, line string) (*kgo.Record, error) {
	ev := map[string]any{}
	fields, at, perr := s.o.Parser.Parse(line)
	if perr == nil && !s.o.Parser.hasDate() {
		at, perr = st.Clock.full(at, s.o.Location)
	}
	for k, v := range fields {
		ev[k] = v
	}
	if perr != nil {
		ev["line"] = line
		ev["parse_error"] = perr.Error()
		at = st.Clock.Last
	} else if s.o.Parser.hasDate() {
		st.Clock.Last = at
	}
	if !at.IsZero() {
		ev[s.o.TimeField] = at.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	ev[s.o.EventTypeField] = s.o.EventType
	ev["host"] = s.o.Host
	ev["file"] = st.Path
	ev["line_offset"] = start
	value, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("ship: encode line: %w", err)
	}
	after, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("ship: encode state: %w", err)
	}
	return &kgo.Record{
		Key:   []byte(s.o.Host + "/" + key),
		Value: value,
		Headers: []kgo.RecordHeader{
			{Key: HeaderSource, Value: []byte(s.o.Host + "/" + key)},
			{Key: HeaderState, Value: after},
		},
	}, nil
}

// recover reads the topic from the state's ScanFrom offsets to its end
// and moves each file's offset past the records this shipper produced
// that the state does not yet count (a crash between Kafka's ack and the
// state write), then persists the state with ScanFrom at the end.
func (s *Shipper) recover(ctx context.Context) error {
	adm := kadm.NewClient(s.cl)
	ends, err := adm.ListEndOffsets(ctx, s.o.Topic)
	if err != nil {
		return fmt.Errorf("ship: end offsets of %s: %w", s.o.Topic, err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("ship: end offsets of %s: %w (does the topic exist?)", s.o.Topic, err)
	}
	from := map[int32]kgo.Offset{}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		start := s.state.ScanFrom[o.Partition]
		if _, known := s.state.ScanFrom[o.Partition]; !known && len(s.state.Files) == 0 {
			start = o.Offset // a new shipper: nothing of ours can be there
		}
		if start < o.Offset {
			from[o.Partition] = kgo.NewOffset().At(start)
			want[o.Partition] = o.Offset
		}
	})
	recovered := 0
	if len(from) > 0 {
		n, err := s.readBack(ctx, from, want)
		if err != nil {
			return err
		}
		recovered = n
	}
	ends.Each(func(o kadm.ListedOffset) { s.state.ScanFrom[o.Partition] = o.Offset })
	if recovered > 0 {
		fmt.Fprintf(s.o.Progress, "silt ship: %d lines were in Kafka but not in %s: continuing after them\n", recovered, s.o.StateFile)
	}
	return s.state.save(s.o.StateFile)
}

func (s *Shipper) readBack(ctx context.Context, from map[int32]kgo.Offset, want map[int32]int64) (int, error) {
	opts := append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.o.Topic: from})}, s.o.Client...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("ship: kafka reader: %w", err)
	}
	defer cl.Close()
	source := []byte(s.o.Host + "/")
	recovered := 0
	for len(want) > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("ship: reading back %s: %w", s.o.Topic, err)
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return 0, fmt.Errorf("ship: reading back %s: %w", s.o.Topic, ferr)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
			var src, after []byte
			for _, h := range r.Headers {
				switch h.Key {
				case HeaderSource:
					src = h.Value
				case HeaderState:
					after = h.Value
				}
			}
			if !bytes.HasPrefix(src, source) {
				return
			}
			var st FileState
			if json.Unmarshal(after, &st) != nil {
				return
			}
			key := string(src[len(source):])
			if cur := s.state.Files[key]; cur == nil || st.Offset > cur.Offset {
				s.state.Files[key] = &st
				if t := s.tracked[key]; t != nil {
					t.st = &st
				}
				recovered++
			}
		})
	}
	return recovered, nil
}
