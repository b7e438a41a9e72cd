package report

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/lake"
	reportsql "github.com/silt-etl/silt/sql"
)

// PublishOptions publish a report job's rows to a Kafka topic, one JSON
// record per row (the columns as fields, timestamps as RFC 3339 text in
// UTC), keyed by the row's window and key columns, with headers
// silt-report (the job) and silt-window (the row's window_start, or the
// run's start/end for a report without windows).
//
// A re-run publishes the same key again, never another one: a consumer
// keeping the latest value per key (a compacted topic, a table) holds each
// window's rows once, with their newest values. A run publishes only rows
// that are new or changed since the job last published (what it published
// is kept in the lake, _silt/reports/<job>/published.json), so each closed
// window goes out once, and again only when a late event changed it. The
// producer is idempotent: a retried produce is written once.
type PublishOptions struct {
	Topic string
	// Key lists the columns making a record's key: empty means
	// window_start and every text column (the group-by columns of an
	// aggregate).
	Key []string
	// Client connects to Kafka (seed brokers, TLS, SASL).
	Client []kgo.Opt
	// CreateTopic creates a missing topic, compacted, with Partitions.
	CreateTopic bool
	Partitions  int32
	// Store keeps what was published (the lake).
	Store lake.Store
}

// Header names of a published record.
const (
	HeaderReport = "silt-report"
	HeaderWindow = "silt-window"
)

// rowJSON is a row as a JSON object, columns in the report's order:
// numbers as numbers (doubles as the CSV writes them, NaN and infinities
// as null), timestamps as the CSV's text, NULL as null.
func rowJSON(cols []string, row []any) ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := jsonValue(row[i])
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c, err)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

func jsonValue(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return []byte("null"), nil
	case int64, bool:
		return json.Marshal(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return []byte("null"), nil
		}
		return []byte(Format(x)), nil
	}
	return json.Marshal(Format(v))
}

// keyColumns are the indexes of the key's columns in res.
func keyColumns(res *Result, key []string) ([]int, error) {
	var idx []int
	if len(key) == 0 {
		for i, c := range res.Columns {
			if c == WindowColumn || isTextColumn(res, i) {
				idx = append(idx, i)
			}
		}
		return idx, nil
	}
	for _, k := range key {
		found := -1
		for i, c := range res.Columns {
			if c == k {
				found = i
			}
		}
		if found < 0 {
			return nil, fmt.Errorf("publish.key names %s, which the report does not return (it has %s)", k, strings.Join(res.Columns, ", "))
		}
		idx = append(idx, found)
	}
	return idx, nil
}

// isTextColumn reports whether column i is text: as the engine types it,
// else by its first non-NULL value, so that a NULL in the first row does
// not change which columns make the key.
func isTextColumn(res *Result, i int) bool {
	if i < len(res.Types) {
		if typ := engineType(res.Types[i]); typ != "" {
			return typ == lake.TypeVarchar
		}
	}
	for _, row := range res.Rows {
		if typ := columnType(row[i]); typ != "" {
			return typ == lake.TypeVarchar
		}
	}
	return false
}

// publishState is what a job last published: per record key, a hash of
// the value and the window it belongs to (to forget windows the job no
// longer reports).
type publishState struct {
	Topic string                   `json:"topic"`
	Keys  map[string]publishedItem `json:"keys"`
}

type publishedItem struct {
	Hash   string    `json:"hash"`
	Window time.Time `json:"window"`
}

// timeValue is a resolved timestamp param as a time.
func timeValue(v any) (time.Time, bool) {
	ts, ok := v.(reportsql.Timestamp)
	return time.Time(ts), ok
}

func publishStateKey(job string) string {
	return lake.MetaPrefix + "reports/" + job + "/published.json"
}

// records are res's rows as Kafka records, with each one's state entry.
func records(job string, res *Result, key []string, values map[string]any) ([]*kgo.Record, []publishedItem, error) {
	idx, err := keyColumns(res, key)
	if err != nil {
		return nil, nil, err
	}
	win := -1
	for i, c := range res.Columns {
		if c == WindowColumn {
			win = i
		}
	}
	runWindow := ""
	start, hasStart := timeValue(values["start"])
	end, hasEnd := timeValue(values["end"])
	if hasStart && hasEnd {
		runWindow = Format(start) + "/" + Format(end)
	}
	recs := make([]*kgo.Record, 0, len(res.Rows))
	items := make([]publishedItem, 0, len(res.Rows))
	for _, row := range res.Rows {
		k := make([]any, len(idx))
		for i, c := range idx {
			k[i] = Format(row[c])
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, nil, err
		}
		vb, err := rowJSON(res.Columns, row)
		if err != nil {
			return nil, nil, err
		}
		window, windowText := time.Time{}, runWindow
		if win >= 0 {
			if t, ok := row[win].(time.Time); ok {
				window, windowText = t, Format(t)
			}
		}
		sum := sha256.Sum256(vb)
		recs = append(recs, &kgo.Record{Key: kb, Value: vb, Headers: []kgo.RecordHeader{
			{Key: HeaderReport, Value: []byte(job)}, {Key: HeaderWindow, Value: []byte(windowText)},
		}})
		items = append(items, publishedItem{Hash: hex.EncodeToString(sum[:16]), Window: window})
	}
	return recs, items, nil
}

// publish sends the rows of res that are new or changed since the job's
// last publication and then records them; it returns how many it sent.
// A crash between the two sends them again next time, under the same
// keys: consumers keeping the latest value per key see no difference.
func publish(ctx context.Context, o *PublishOptions, job string, res *Result, values map[string]any) (int64, error) {
	recs, items, err := records(job, res, o.Key, values)
	if err != nil {
		return 0, fmt.Errorf("publish to %s: %w", o.Topic, err)
	}
	stateKey := publishStateKey(job)
	raw, prev, err := o.Store.GetVersion(ctx, stateKey)
	state := publishState{}
	switch {
	case errors.Is(err, lake.ErrNotExist):
		prev = ""
	case err != nil:
		return 0, fmt.Errorf("publish to %s: read %s: %w", o.Topic, stateKey, err)
	default:
		if err := json.Unmarshal(raw, &state); err != nil {
			return 0, fmt.Errorf("publish to %s: read %s: %w", o.Topic, stateKey, err)
		}
	}
	if state.Topic != o.Topic || state.Keys == nil {
		state = publishState{Topic: o.Topic, Keys: map[string]publishedItem{}}
	}
	var send []*kgo.Record
	for i, r := range recs {
		if state.Keys[string(r.Key)].Hash != items[i].Hash {
			send = append(send, r)
		}
	}
	if len(send) > 0 {
		if err := produce(ctx, o, send); err != nil {
			return 0, err
		}
	}
	// Forget windows before this run's start: no run reports them again.
	from, _ := timeValue(values["start"])
	for k, it := range state.Keys {
		if !it.Window.IsZero() && it.Window.Before(from) {
			delete(state.Keys, k)
		}
	}
	for i, r := range recs {
		state.Keys[string(r.Key)] = items[i]
	}
	next, err := json.Marshal(state)
	if err != nil {
		return 0, err
	}
	if prev == "" {
		_, err = o.Store.Create(ctx, stateKey, next)
	} else {
		_, err = o.Store.Replace(ctx, stateKey, next, prev)
	}
	if err != nil {
		return int64(len(send)), fmt.Errorf("publish to %s: record what was published in %s (the next run publishes these rows again): %w", o.Topic, stateKey, err)
	}
	return int64(len(send)), nil
}

// produce sends recs with an idempotent producer and waits for every
// acknowledgement.
func produce(ctx context.Context, o *PublishOptions, recs []*kgo.Record) error {
	opts := append([]kgo.Opt{kgo.DefaultProduceTopic(o.Topic), kgo.ClientID("silt-report")}, o.Client...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("publish to %s: %w", o.Topic, err)
	}
	defer cl.Close()
	if o.CreateTopic {
		if err := createCompacted(ctx, cl, o.Topic, o.Partitions); err != nil {
			return err
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("publish to %s: %w", o.Topic, err)
	}
	return nil
}

// createCompacted creates topic as a compacted topic unless it exists:
// Kafka then keeps the latest record per key, which is what a consumer of
// a report needs.
func createCompacted(ctx context.Context, cl *kgo.Client, topic string, partitions int32) error {
	cfg := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, -1, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("publish to %s: create the topic: %w", topic, err)
	}
	return nil
}
