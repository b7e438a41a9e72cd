package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/silt-etl/silt/internal/embedded"
	"github.com/silt-etl/silt/lake"
	"github.com/silt-etl/silt/testbed/lakecheck"
)

// schemaRendezvous makes two jobs race for a table's first schema: the
// first read of the schema file by each waits until the other's read it
// too (both see no schema), and the loser's Create waits until the
// winner's is done, so the loser's Create fails and it must re-read and
// merge.
type schemaRendezvous struct {
	key       string
	read      sync.WaitGroup
	created   chan struct{}
	closeOnce sync.Once
}

func newSchemaRendezvous(table string) *schemaRendezvous {
	rv := &schemaRendezvous{key: lake.SchemaKey(table), created: make(chan struct{})}
	rv.read.Add(2)
	return rv
}

// racingStore is one job's store in the race.
type racingStore struct {
	lake.Store
	rv        *schemaRendezvous
	winner    bool
	firstRead atomic.Bool
	lost      atomic.Int32 // conditional writes of the schema that lost
	replaced  atomic.Int32 // Replaces of the schema that won
}

func (s *racingStore) GetVersion(ctx context.Context, key string) ([]byte, lake.Version, error) {
	raw, v, err := s.Store.GetVersion(ctx, key)
	if key == s.rv.key && s.firstRead.CompareAndSwap(false, true) {
		s.rv.read.Done()
		done := make(chan struct{})
		go func() { s.rv.read.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second): // the other job never came: the test's asserts say so
		}
	}
	return raw, v, err
}

func (s *racingStore) Create(ctx context.Context, key string, data []byte) (lake.Version, error) {
	if key == s.rv.key && !s.winner {
		select {
		case <-s.rv.created:
		case <-time.After(30 * time.Second):
			return "", errors.New("the winner never created the schema")
		}
	}
	v, err := s.Store.Create(ctx, key, data)
	if key == s.rv.key {
		if s.winner {
			s.rv.closeOnce.Do(func() { close(s.rv.created) })
		}
		if errors.Is(err, lake.ErrPreconditionFailed) {
			s.lost.Add(1)
		}
	}
	return v, err
}

func (s *racingStore) Replace(ctx context.Context, key string, data []byte, prev lake.Version) (lake.Version, error) {
	v, err := s.Store.Replace(ctx, key, data, prev)
	if key == s.rv.key {
		if errors.Is(err, lake.ErrPreconditionFailed) {
			s.lost.Add(1)
		} else if err == nil {
			s.replaced.Add(1)
		}
	}
	return v, err
}

// Two ingest jobs (two processes' worth: each its own consumer group,
// topic and store) write one table of one local lake at once. Job a sees
// score as a number and a column a_only; job b sees score as a string and
// a column b_only. Both find no schema and both try to create it: one
// wins. After: both new columns are in the schema file; score has the
// winner's type everywhere; the loser's records took that type where they
// fit (numbers into varchar) and are type_conflict dead letters where they
// do not (text into double); and no Parquet file disagrees with the schema.
func TestTwoJobsRacingForOneSchemaAgree(t *testing.T) {
	for _, tc := range []struct {
		name, winner string
		score        string // the committed type
		cols         []lake.Column
		rows, dead   int64
	}{
		{"double first", "a", lake.TypeDouble,
			[]lake.Column{{Name: "score", Type: "double"}, {Name: "a_only", Type: "varchar"}, {Name: "b_only", Type: "boolean"}}, 30, 10},
		{"varchar first", "b", lake.TypeVarchar,
			[]lake.Column{{Name: "score", Type: "varchar"}, {Name: "b_only", Type: "boolean"}, {Name: "a_only", Type: "varchar"}}, 40, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			broker, err := embedded.StartBroker(0, "", []string{"ta", "tb"}, 1)
			require.NoError(t, err)
			t.Cleanup(broker.Close)
			root := t.TempDir()
			var a, b []string
			for i := range 20 {
				a = append(a, fmt.Sprintf(`{"event_type":"shared","score":%d.5,"a_only":"x"}`, i))
				if i < 10 {
					b = append(b, `{"event_type":"shared","score":"high","b_only":true}`)
				} else {
					b = append(b, `{"event_type":"shared","b_only":false}`)
				}
			}
			produceTo(t, broker.Addrs(), "ta", a)
			produceTo(t, broker.Addrs(), "tb", b)

			rv := newSchemaRendezvous("shared")
			var stores []*racingStore
			var jobs []*Job
			for _, name := range []string{"a", "b"} {
				opts := DefaultOptions()
				opts.Kafka.Brokers = broker.Addrs()
				opts.Kafka.Topics = []string{"t" + name}
				opts.Kafka.Group = "silt-" + name
				opts.Kafka.SessionTimeout = 6 * time.Second
				opts.SpoolDir = t.TempDir()
				opts.MaxWait = 20 * time.Second
				local, err := lake.NewLocal(root) // a store each, as separate processes have
				require.NoError(t, err)
				st := &racingStore{Store: local, rv: rv, winner: name == tc.winner}
				j := New(opts, st)
				t.Cleanup(j.Close)
				stores, jobs = append(stores, st), append(jobs, j)
			}

			stats := make([]BatchStats, 2)
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i, j := range jobs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					stats[i], errs[i] = j.RunBatch(ctx)
				}()
			}
			wg.Wait()
			require.NoError(t, errors.Join(errs...))
			require.EqualValues(t, 20, stats[0].Events)
			require.EqualValues(t, 20, stats[1].Events)

			loser := stores[1]
			if tc.winner == "b" {
				loser = stores[0]
			}
			require.EqualValues(t, 1, loser.lost.Load(), "the loser's Create lost the race")
			require.EqualValues(t, 1, loser.replaced.Load(), "and it merged its column into the winner's schema")

			local, err := lake.NewLocal(root)
			require.NoError(t, err)
			schema, ok, err := lake.LoadSchema(ctx, local, "shared")
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, tc.cols, schema.Columns, "both new columns; score as first committed")

			rep, err := lakecheck.Check(ctx, root)
			require.NoError(t, err)
			require.Equal(t, tc.rows, rep.Rows["shared"])
			require.Equal(t, tc.dead, rep.Rows[lake.DeadLetterTable])
			require.Zero(t, rep.Duplicates)
			if tc.dead > 0 {
				require.Equal(t, map[string]int64{reasonTypeConflict: tc.dead}, rep.DeadReasons)
				require.Equal(t, tc.dead, stats[1].DeadLetters, "the loser's text scores")
			}

			// No Parquet file disagrees with the schema file.
			files, err := filepath.Glob(filepath.Join(root, "shared", "dt=*", "hour=*", "*.parquet"))
			require.NoError(t, err)
			require.NotEmpty(t, files)
			want := map[string]string{}
			for _, c := range schema.AllColumns() {
				want[c.Name] = c.Type
			}
			for _, f := range files {
				n := 0
				q := fmt.Sprintf(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('%s', hive_partitioning = false))`, f)
				require.NoError(t, lakecheck.Query(ctx, q, func(r *sql.Rows) error {
					var name, typ string
					if err := r.Scan(&name, &typ); err != nil {
						return err
					}
					n++
					w, ok := want[name]
					if !ok {
						return fmt.Errorf("%s: column %s is not in the schema", f, name)
					}
					if !strings.HasPrefix(strings.ToLower(typ), w) {
						return fmt.Errorf("%s: column %s is %s, the schema says %s", f, name, typ, w)
					}
					return nil
				}))
				require.NotZero(t, n, f)
			}

			// Coerced where lossless: the numbers of job a as their text.
			if tc.score == lake.TypeVarchar {
				var got []string
				q := fmt.Sprintf(`SELECT score FROM read_parquet('%s/shared/*/*/*.parquet', union_by_name=true) WHERE kafka_topic = 'ta' ORDER BY kafka_offset LIMIT 2`, root)
				require.NoError(t, lakecheck.Query(ctx, q, func(r *sql.Rows) error {
					var s string
					err := r.Scan(&s)
					got = append(got, s)
					return err
				}))
				require.Equal(t, []string{"0.5", "1.5"}, got)
			}
		})
	}
}

func produceTo(t *testing.T, brokers []string, topic string, values []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Value: []byte(v)}
	}
	require.NoError(t, cl.ProduceSync(context.Background(), recs...).FirstErr())
}
