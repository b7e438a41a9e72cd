package deadletters

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/lake"
)

// ReplayHeader names, on a replayed record, the dead letter it replays:
// "topic/partition/offset" of the original record.
const ReplayHeader = "silt-replay-of"

// ReplayKey is the lake object that marks a dead letter replayed (or being
// replayed): _silt/replays/<topic>/<partition>/<offset>.json.
func ReplayKey(l Letter) string {
	return fmt.Sprintf("%sreplays/%s/%d/%020d.json", lake.MetaPrefix, l.Topic, l.Partition, l.Offset)
}

// replayMarker is what a replay key holds. A replay first creates it
// pending (a conditional create: one process wins a dead letter), with the
// target topic's end offsets at that moment; produces the record with
// ReplayHeader; then marks it done with where the record went.
type replayMarker struct {
	State     string          `json:"state"` // pending or done
	To        string          `json:"to"`
	By        string          `json:"by"`
	Claimed   time.Time       `json:"claimed"`
	EndsAt    map[int32]int64 `json:"ends_at"` // the target's end offsets at claim time
	Partition *int32          `json:"partition,omitempty"`
	Offset    *int64          `json:"offset,omitempty"`
}

// ReplayOutcome is what became of one dead letter.
type ReplayOutcome struct {
	Letter Letter
	// Status: "replayed"; "already" (a marker says done: nothing sent);
	// "recovered" (an earlier attempt sent it but stopped before marking
	// it done: found in the target topic, not sent again); "in_progress"
	// (another replay claimed it within the claim timeout: left to it).
	Status    string
	Partition int32
	Offset    int64
}

// Replayer re-publishes dead letters to a topic, each at most once into
// the topic however often it runs, and (with the marker in the lake) a
// dead letter replayed twice is one record.
type Replayer struct {
	Store  lake.Store
	Client *kgo.Client // produces to Topic; idempotent (franz-go's default)
	Topic  string
	// By names this process in the markers.
	By string
	// ClaimTimeout is how long a pending marker belongs to the replay that
	// made it; after it, a replay looks for the record in the topic and
	// finishes the job. Default 2 minutes.
	ClaimTimeout time.Duration
	Now          func() time.Time
}

// Replay re-publishes each letter, in order.
func (r *Replayer) Replay(ctx context.Context, letters []Letter) ([]ReplayOutcome, error) {
	if r.ClaimTimeout == 0 {
		r.ClaimTimeout = 2 * time.Minute
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	out := make([]ReplayOutcome, 0, len(letters))
	for _, l := range letters {
		o, err := r.one(ctx, l)
		if err != nil {
			return out, fmt.Errorf("replay %s/%d/%d: %w", l.Topic, l.Partition, l.Offset, err)
		}
		out = append(out, o)
	}
	return out, nil
}

func (r *Replayer) one(ctx context.Context, l Letter) (ReplayOutcome, error) {
	o := ReplayOutcome{Letter: l}
	value := []byte(l.Raw)
	if l.RawBase64 != "" {
		b, err := base64.StdEncoding.DecodeString(l.RawBase64)
		if err != nil {
			return o, fmt.Errorf("decode raw_base64: %w", err)
		}
		value = b
	}
	key := ReplayKey(l)
	ends, err := r.endOffsets(ctx)
	if err != nil {
		return o, err
	}
	m := replayMarker{State: "pending", To: r.Topic, By: r.By, Claimed: r.Now().UTC(), EndsAt: ends}
	raw, _ := json.Marshal(m)
	version, err := r.Store.Create(ctx, key, raw)
	if errors.Is(err, lake.ErrPreconditionFailed) {
		return r.resume(ctx, l, key, value)
	}
	if err != nil {
		return o, fmt.Errorf("claim %s: %w", key, err)
	}
	return r.produce(ctx, l, key, version, m, value)
}

// resume handles a dead letter whose marker exists.
func (r *Replayer) resume(ctx context.Context, l Letter, key string, value []byte) (ReplayOutcome, error) {
	o := ReplayOutcome{Letter: l}
	raw, version, err := r.Store.GetVersion(ctx, key)
	if err != nil {
		return o, fmt.Errorf("read %s: %w", key, err)
	}
	var m replayMarker
	if err := json.Unmarshal(raw, &m); err != nil {
		return o, fmt.Errorf("read %s: %w", key, err)
	}
	switch {
	case m.State == "done":
		o.Status = "already"
		if m.Partition != nil && m.Offset != nil {
			o.Partition, o.Offset = *m.Partition, *m.Offset
		}
		return o, nil
	case r.Now().Sub(m.Claimed) < r.ClaimTimeout:
		o.Status = "in_progress"
		return o, nil
	case m.To != r.Topic:
		return o, fmt.Errorf("an unfinished replay of it went to topic %s, not %s: replay it to %s", m.To, r.Topic, m.To)
	}
	// An earlier replay claimed it and stopped: did its record get out?
	part, off, found, err := r.find(ctx, l, m.EndsAt)
	if err != nil {
		return o, err
	}
	if !found {
		return r.produce(ctx, l, key, version, m, value)
	}
	o.Status, o.Partition, o.Offset = "recovered", part, off
	return o, r.markDone(ctx, key, version, m, part, off)
}

func (r *Replayer) produce(ctx context.Context, l Letter, key string, version lake.Version, m replayMarker, value []byte) (ReplayOutcome, error) {
	o := ReplayOutcome{Letter: l}
	rec := &kgo.Record{Topic: r.Topic, Value: value, Headers: []kgo.RecordHeader{
		{Key: ReplayHeader, Value: fmt.Appendf(nil, "%s/%d/%d", l.Topic, l.Partition, l.Offset)},
	}}
	if err := r.Client.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return o, fmt.Errorf("produce to %s: %w", r.Topic, err)
	}
	o.Status, o.Partition, o.Offset = "replayed", rec.Partition, rec.Offset
	return o, r.markDone(ctx, key, version, m, rec.Partition, rec.Offset)
}

func (r *Replayer) markDone(ctx context.Context, key string, version lake.Version, m replayMarker, part int32, off int64) error {
	m.State, m.Partition, m.Offset = "done", &part, &off
	raw, _ := json.Marshal(m)
	if _, err := r.Store.Replace(ctx, key, raw, version); err != nil {
		return fmt.Errorf("mark %s done (the record is in %s/%d at %d): %w", key, r.Topic, part, off, err)
	}
	return nil
}

func (r *Replayer) endOffsets(ctx context.Context) (map[int32]int64, error) {
	listed, err := kadm.NewClient(r.Client).ListEndOffsets(ctx, r.Topic)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", r.Topic, err)
	}
	out := map[int32]int64{}
	var errs []error
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("end offset of %s/%d: %w", o.Topic, o.Partition, o.Err))
			return
		}
		out[o.Partition] = o.Offset
	})
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("topic %s has no partitions (does it exist?)", r.Topic))
	}
	return out, errors.Join(errs...)
}

// find reads the target topic from the end offsets a claim saw up to its
// end offsets now, for a record replaying l.
func (r *Replayer) find(ctx context.Context, l Letter, from map[int32]int64) (int32, int64, bool, error) {
	to, err := r.endOffsets(ctx)
	if err != nil {
		return 0, 0, false, err
	}
	want := fmt.Sprintf("%s/%d/%d", l.Topic, l.Partition, l.Offset)
	offsets := map[string]map[int32]kgo.Offset{r.Topic: {}}
	remaining := map[int32]int64{}
	for p, end := range to {
		start := from[p]
		if start < end {
			offsets[r.Topic][p] = kgo.NewOffset().At(start)
			remaining[p] = end
		}
	}
	if len(remaining) == 0 {
		return 0, 0, false, nil
	}
	// The producer's connection options (brokers, TLS, SASL) for a reader.
	cl, err := kgo.NewClient(append(r.Client.Opts(), kgo.ConsumePartitions(offsets))...)
	if err != nil {
		return 0, 0, false, err
	}
	defer cl.Close()
	for len(remaining) > 0 {
		// A partition whose last offsets are no records (transaction
		// markers) never reaches its end: a quiet poll ends the search.
		pollCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := cl.PollFetches(pollCtx)
		cancel()
		if err := ctx.Err(); err != nil {
			return 0, 0, false, err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = errors.Join(ferr, err)
			}
		})
		if ferr != nil {
			return 0, 0, false, fmt.Errorf("read %s for earlier replays: %w", r.Topic, ferr)
		}
		if fs.NumRecords() == 0 {
			break
		}
		var part int32
		var off int64
		found := false
		fs.EachRecord(func(rec *kgo.Record) {
			for _, h := range rec.Headers {
				if h.Key == ReplayHeader && string(h.Value) == want && !found {
					part, off, found = rec.Partition, rec.Offset, true
				}
			}
			if end, ok := remaining[rec.Partition]; ok && rec.Offset+1 >= end {
				delete(remaining, rec.Partition)
			}
		})
		if found {
			return part, off, true, nil
		}
	}
	return 0, 0, false, nil
}
