package web

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/silt-etl/silt/scheduler"
)

var pageTime = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

type staticJobs []scheduler.JobStatus

func (s staticJobs) Status() []scheduler.JobStatus { return s }

type staticTables []TableInfo

func (s staticTables) Tables(context.Context) ([]TableInfo, error) { return s, nil }

type staticLag []PartitionLag

func (s staticLag) Lag(context.Context) ([]PartitionLag, error) { return s, nil }

const hostBreakdownCSV = `host,event_type,events,share
game-1.example.com,purchase_sword,1200,0.4
game-2.example.com,join_guild,900,0.3
game-3.example.com,default,600,0.2
game-4.example.com,<script>alert(1)</script>,300,0.1
`

// fixture is a status page over fixed jobs, tables, lag and one report.
func fixture(t *testing.T) *Server {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "host_breakdown"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "host_breakdown", "latest.csv"), []byte(hostBreakdownCSV), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "never_ran"), 0o755))
	run := func(status string, sec int, counts map[string]int64, err string) scheduler.Run {
		at := pageTime.Add(-time.Duration(sec) * time.Second)
		return scheduler.Run{Scheduled: at, Start: at, End: at.Add(1500 * time.Millisecond), Status: status, Counts: counts, Error: err}
	}
	jobs := staticJobs{
		{Name: "ingest", Schedule: "@every 5s", Next: pageTime.Add(5 * time.Second), Running: true, Last: []scheduler.Run{
			run(scheduler.StatusOK, 5, map[string]int64{"records": 3000, "files": 4}, ""),
			run(scheduler.StatusFailed, 10, nil, "kafka: broker unreachable"),
		}},
		{Name: "host_breakdown", Schedule: "@every 30s", After: "ingest", Waiting: true, Next: pageTime.Add(30 * time.Second)},
		{Name: "register", After: "ingest", Last: []scheduler.Run{run(scheduler.StatusSkipped, 3, nil, "previous run still running")}},
	}
	return New(Options{
		Jobs:       jobs,
		Tables:     staticTables{{Name: "purchase_sword", Partitions: 3, Latest: "dt=2024-03-01/hour=11"}, {Name: "join_guild", Partitions: 1, Latest: "dt=2024-03-01/hour=11"}},
		Lag:        staticLag{{Topic: "events", Partition: 0, Lag: 42}},
		ReportsDir: dir,
		Now:        func() time.Time { return pageTime },
	})
}
