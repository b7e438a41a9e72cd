package main

import (
	"context"

	"github.com/silt-etl/silt/internal/config"
	"github.com/silt-etl/silt/internal/deadletters"
	"github.com/silt-etl/silt/internal/web"
	"github.com/silt-etl/silt/jobs/ingest"
	"github.com/silt-etl/silt/lake"
)

// ingestFreshness is the status page's view of the freshness the ingest
// jobs of this process committed (what /metrics shows).
type ingestFreshness struct{ m *ingest.Metrics }

func (f ingestFreshness) Freshness(context.Context) ([]web.TableFreshness, error) {
	fresh := f.m.Freshness()
	out := make([]web.TableFreshness, len(fresh))
	for i, t := range fresh {
		out[i] = web.TableFreshness{
			Table: t.Table, NewestEvent: t.NewestEvent, Age: t.Age, CommittedAt: t.CommittedAt,
			LatencyMin: t.LatencyMin, LatencyMax: t.LatencyMax, LatencyMean: t.LatencyMean,
		}
	}
	return out, nil
}

// opsViews are the status page's operations views over the lake: the
// freshness of m's ingest jobs, the tables view and the dead-letters
// view. close removes the dead-letter reader's local copies (an S3 lake's
// objects).
func opsViews(cfg *config.Config, store lake.Store, m *ingest.Metrics) (fresh web.Freshness, tables web.TableStatsSource, dead web.DeadLetters, close func()) {
	r := deadletters.NewReader(store, "")
	return ingestFreshness{m}, &web.LakeTableStats{Store: store, TargetFileBytes: int64(cfg.Ingest.TargetFileBytes), Layout: layoutOf(cfg), Iceberg: icebergTables(cfg)}, r, func() { _ = r.Close() }
}
