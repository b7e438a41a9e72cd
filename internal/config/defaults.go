package config

import "time"

// Default is the embedded product: a local lake in ./silt-data, DuckDB as
// catalog and engine, ingest every few seconds and the host_breakdown report.
func Default() *Config {
	return &Config{
		Kafka: Kafka{
			Topics:         []string{"events"},
			Group:          "silt",
			SessionTimeout: Duration(45 * time.Second),
			Acks:           "all",
			CreateTopics:   true,
			Partitions:     3,
		},
		Lake: Lake{
			Kind:   "local",
			Root:   "./silt-data",
			Layout: "dt_hour",
			S3:     S3{Region: "us-east-1", PathStyle: true, CreateBucket: true},
		},
		Ingest: Ingest{
			EventTypeField:   "event_type",
			TimeField:        "timestamp",
			TimestampUnit:    "millis",
			MaxRecords:       2_000_000,
			MaxBytes:         512 << 20,
			MaxWait:          Duration(60 * time.Second),
			TargetFileBytes:  128 << 20,
			RowGroupBytes:    32 << 20,
			MaxOpenFiles:     64,
			MaxBufferedBytes: 96 << 20,
			MaxFileAge:       Duration(60 * time.Second),
			MemoryLimit:      208 << 20,
		},
		Catalog: Catalog{
			Kind: "duckdb",
			// DuckDB.Path is left empty: Load derives it from the lake.
			Trino: Trino{Catalog: "hive", Schema: "events", TableFormat: "hive", Iceberg: TrinoIceberg{
				SnapshotRetention: Duration(7 * 24 * time.Hour), OrphanFileRetention: Duration(7 * 24 * time.Hour),
			}},
		},
		// Reports.Out is left empty: Load derives it from the lake.
		Scheduler: Scheduler{Timezone: "UTC", LeaseTTL: Duration(60 * time.Second)},
		Jobs: []Job{
			{Name: "ingest", Kind: "ingest", Schedule: "@every 5s", Retries: 3, RetryDelay: Duration(time.Second)},
			{Name: "host_breakdown", Kind: "report", Report: "host_breakdown", After: "ingest", Schedule: "@every 30s"},
			{Name: "compact", Kind: "compact", Schedule: "@every 1h"},
		},
		HTTP: HTTP{Listen: "127.0.0.1:8321"},
		Collect: Collect{
			Listen:        "127.0.0.1:8322",
			Topic:         "events",
			MaxBodyBytes:  8 << 20,
			MaxEventBytes: 1 << 20,
			Headers:       []string{"Host", "User-Agent", "Accept"},
			PostPaths:     []string{"/events"},
			Routes: map[string]string{
				"/":                 "default",
				"/purchase_a_sword": "purchase_sword",
				"/join_the_guild":   "join_guild",
			},
			MaxBuffered: 100_000,
		},
		Gen: Gen{
			Rate:       200,
			Hosts:      []string{"game-1.example.com", "game-2.example.com", "game-3.example.com"},
			EventTypes: []string{"purchase_sword", "join_guild", "default"},
		},
		Ship: Ship{
			Pattern:    `^(?P<time>\d{2}:\d{2}:\d{2}\.\d{3}) \[(?P<thread>[^\]]+)\] (?P<level>\w+)\s+(?P<logger>\S+) - (?P<message>.*)$`,
			TimeField:  "time",
			TimeLayout: "15:04:05.000",
			Timezone:   "UTC",
			EventType:  "log",
			StateFile:  "./silt-ship.state",
			Poll:       Duration(250 * time.Millisecond),
		},
		Log: Log{Format: "text", Level: "info"},
	}
}
