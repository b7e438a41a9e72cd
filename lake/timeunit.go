package lake

import "time"

// TimeUnit is the unit of every timestamp column in the Parquet silt writes.
type TimeUnit int

const (
	Millis TimeUnit = iota
	Micros
)

// Of is t in the unit, since the Unix epoch.
func (u TimeUnit) Of(t time.Time) int64 {
	if u == Micros {
		return t.UnixMicro()
	}
	return t.UnixMilli()
}

// ParseTimeUnit reads the config spelling: "millis" or "micros".
func ParseTimeUnit(s string) TimeUnit {
	if s == "micros" {
		return Micros
	}
	return Millis
}
