// Package gen makes synthetic game events like those of the game API silt
// replaces: a few hosts, event types purchase_sword, join_guild and default,
// and the request headers Host, User-Agent and Accept.
package gen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Events makes events deterministically from a seed, so tests can produce
// and later recount exactly the same data.
type Events struct {
	Hosts      []string
	EventTypes []string
	rng        *rand.Rand
	seq        int64
}

var userAgents = []string{
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
	"ApacheBench/2.3",
	"curl/8.5.0",
	"GameClient/4.2 (Android 14)",
}

var accepts = []string{"*/*", "application/json", "text/html,application/xhtml+xml"}

// NewEvents makes an event source; empty hosts or types get the defaults.
func NewEvents(seed uint64, hosts, eventTypes []string) *Events {
	if len(hosts) == 0 {
		hosts = []string{"game-1.example.com", "game-2.example.com", "game-3.example.com"}
	}
	if len(eventTypes) == 0 {
		eventTypes = []string{"purchase_sword", "join_guild", "default"}
	}
	return &Events{Hosts: hosts, EventTypes: eventTypes, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Event is one synthetic event: its type, host and JSON encoding.
type Event struct {
	Type string
	Host string
	JSON []byte
}

// Next appends the next event's JSON to buf (reused by the caller) and
// returns it; at is its event time.
func (e *Events) Next(buf []byte, at time.Time) Event {
	e.seq++
	typ := e.EventTypes[e.rng.IntN(len(e.EventTypes))]
	host := e.Hosts[e.rng.IntN(len(e.Hosts))]
	b := buf[:0]
	b = append(b, `{"event_type":"`...)
	b = append(b, typ...)
	b = append(b, `","timestamp":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","Host":"`...)
	b = append(b, host...)
	b = append(b, `","User-Agent":"`...)
	b = append(b, userAgents[e.rng.IntN(len(userAgents))]...)
	b = append(b, `","Accept":"`...)
	b = append(b, accepts[e.rng.IntN(len(accepts))]...)
	b = append(b, `","user_id":"u-`...)
	b = strconv.AppendInt(b, int64(e.rng.IntN(100_000)), 10)
	b = append(b, `","session":"`...)
	b = strconv.AppendUint(b, e.rng.Uint64(), 16)
	b = append(b, `","client":"4.`...)
	b = strconv.AppendInt(b, int64(e.rng.IntN(10)), 10)
	b = append(b, `","seq":`...)
	b = strconv.AppendInt(b, e.seq, 10)
	switch typ {
	case "purchase_sword":
		b = append(b, `,"sword":"`...)
		b = append(b, swords[e.rng.IntN(len(swords))]...)
		b = append(b, `","price":`...)
		b = strconv.AppendFloat(b, float64(e.rng.IntN(10_000))/100, 'f', 2, 64)
	case "join_guild":
		b = append(b, `,"guild":"`...)
		b = append(b, fmt.Sprintf("guild-%02d", e.rng.IntN(20))...)
		b = append(b, `","level":`...)
		b = strconv.AppendInt(b, int64(1+e.rng.IntN(60)), 10)
	default:
		b = append(b, `,"path":"/"`...)
	}
	b = append(b, '}')
	return Event{Type: typ, Host: host, JSON: b}
}

var swords = []string{"excalibur", "longsword", "katana", "rapier", "claymore"}
