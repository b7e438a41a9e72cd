package ingest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// ingest.default_event_type takes events without the type field (missing
// or null), like stock ticks on a topic of their own; a type field that is
// there but wrong is still a dead letter.
func TestDefaultEventType(t *testing.T) {
	d := newDecoder("event_type", "ts").withDefaultTable("tick")
	for in, table := range map[string]string{
		`{"symbol":"ACME","price":10.5,"ts":1465484000}`:                   "tick",
		`{"event_type":null,"symbol":"ACME","price":10.5}`:                 "tick",
		`{"event_type":"Split","symbol":"ACME","ratio":2,"ts":1465484000}`: "split",
	} {
		ev, dl := d.decode([]byte(in), recordTime)
		require.Nil(t, dl, in)
		require.Equal(t, table, ev.table, in)
	}
	ev, dl := d.decode([]byte(`{"symbol":"ACME","price":10.5,"ts":1465484000}`), recordTime)
	require.Nil(t, dl)
	require.False(t, ev.fromKafka, "the tick's own ts is its event time")
	require.EqualValues(t, 1465484000, ev.eventTime.Unix())
	var cols []string
	for _, f := range ev.fields {
		cols = append(cols, f.column)
	}
	require.Equal(t, []string{"symbol", "price", "ts"}, cols)

	for in, reason := range map[string]string{
		`{"event_type":7,"price":1}`:      reasonNoEventType,
		`{"event_type":"../x","price":1}`: reasonBadEventType,
	} {
		_, dl := d.decode([]byte(in), recordTime)
		require.NotNil(t, dl, in)
		require.Equal(t, reason, dl.kind, in)
	}
	_, dl = newDecoder("event_type", "ts").decode([]byte(`{"symbol":"ACME"}`), recordTime)
	require.NotNil(t, dl, "without a default the event is a dead letter")
	require.Equal(t, reasonNoEventType, dl.kind)
}
