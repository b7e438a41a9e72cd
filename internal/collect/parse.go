package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/silt-etl/silt/internal/ident"
)

// requestError is a rejection with the HTTP status it maps to.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func reject(status int, format string, args ...any) error {
	return &requestError{status: status, msg: fmt.Sprintf(format, args...)}
}

// enricher turns a client's event into the record value: the client's
// fields, received_at set by the collector, and the configured request
// headers under their own names. Fields the client sent win over headers
// that name the same column
// (a generator posting on behalf of many hosts keeps its Host), but
// received_at is always the collector's: it is the only clock we trust.
type enricher struct {
	typeField string
	// typeOptional accepts events without typeField: ingest routes them
	// to ingest.default_event_type.
	typeOptional  bool
	maxEventBytes int
	headers       []string // canonical header names
}

// parseBody splits a request body into events. NDJSON is one object per
// line; anything else is one object or an array of objects.
func (en *enricher) parseBody(p *fastjson.Parser, body []byte, ndjson bool, extra *extraFields) ([][]byte, error) {
	if ndjson {
		return en.parseNDJSON(p, body, extra)
	}
	v, err := p.ParseBytes(body)
	if err != nil {
		off, msg := syntaxOffset(body, err)
		line, col := position(body, off)
		return nil, reject(http.StatusBadRequest, "malformed JSON at byte %d (line %d, column %d): %s", off, line, col, msg)
	}
	switch v.Type() {
	case fastjson.TypeObject:
		ev, err := en.event(v, extra)
		if err != nil {
			return nil, err
		}
		return [][]byte{ev}, nil
	case fastjson.TypeArray:
		items, _ := v.Array()
		if len(items) == 0 {
			return nil, reject(http.StatusUnprocessableEntity, "empty array: send at least one event")
		}
		out := make([][]byte, 0, len(items))
		for i, it := range items {
			ev, err := en.event(it, extra)
			if err != nil {
				return nil, prefix(err, fmt.Sprintf("event %d: ", i))
			}
			out = append(out, ev)
		}
		return out, nil
	}
	return nil, reject(http.StatusUnprocessableEntity, "body is a JSON %s: send an object, an array of objects or NDJSON", v.Type())
}

func (en *enricher) parseNDJSON(p *fastjson.Parser, body []byte, extra *extraFields) ([][]byte, error) {
	var out [][]byte
	line, start := 0, 0
	for start < len(body) {
		line++
		end := bytes.IndexByte(body[start:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += start
		}
		raw := body[start:end]
		lineStart := start
		start = end + 1
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		v, err := p.ParseBytes(raw)
		if err != nil {
			off, msg := syntaxOffset(raw, err)
			_, col := position(raw, off)
			return nil, reject(http.StatusBadRequest, "malformed JSON at byte %d (line %d, column %d): %s", lineStart+off, line, col, msg)
		}
		ev, err := en.event(v, extra)
		if err != nil {
			return nil, prefix(err, fmt.Sprintf("line %d: ", line))
		}
		out = append(out, ev)
	}
	if len(out) == 0 {
		return nil, reject(http.StatusUnprocessableEntity, "no events in the body")
	}
	return out, nil
}

// extraFields are what the collector adds to every event of one request.
type extraFields struct {
	receivedAt string
	headers    [][2]string // name, value, only headers present on the request
}

func (en *enricher) extras(r *http.Request, now time.Time) *extraFields {
	x := &extraFields{receivedAt: now.UTC().Format(time.RFC3339Nano)}
	for _, h := range en.headers {
		var v string
		if h == "Host" { // Go moves Host out of the header map
			v = r.Host
		} else if vs := r.Header.Values(h); len(vs) > 0 {
			v = strings.Join(vs, ", ")
		}
		if v != "" {
			x.headers = append(x.headers, [2]string{h, v})
		}
	}
	return x
}

// event validates one parsed value and renders the record value.
func (en *enricher) event(v *fastjson.Value, x *extraFields) ([]byte, error) {
	o, err := v.Object()
	if err != nil {
		return nil, reject(http.StatusUnprocessableEntity, "not a JSON object (%s)", v.Type())
	}
	t := o.Get(en.typeField)
	switch {
	case t == nil && en.typeOptional:
	case t == nil:
		return nil, reject(http.StatusUnprocessableEntity, "missing %q", en.typeField)
	default:
		if s, err := t.StringBytes(); err != nil || len(bytes.TrimSpace(s)) == 0 {
			return nil, reject(http.StatusUnprocessableEntity, "%q must be a non-empty string", en.typeField)
		}
	}
	var a fastjson.Arena
	o.Set("received_at", a.NewString(x.receivedAt))
	if len(x.headers) > 0 {
		// A client field wins over a header when both name one column
		// (host and Host): ingest would otherwise dead-letter the event
		// for two fields mapping to one column.
		sent := map[string]bool{}
		o.Visit(func(k []byte, _ *fastjson.Value) {
			if col, err := ident.Normalize(string(k)); err == nil {
				sent[col] = true
			}
		})
		for _, h := range x.headers {
			if col, _ := ident.Normalize(h[0]); !sent[col] {
				o.Set(h[0], a.NewString(h[1]))
			}
		}
	}
	out := v.MarshalTo(nil)
	if en.maxEventBytes > 0 && len(out) > en.maxEventBytes {
		return nil, reject(http.StatusRequestEntityTooLarge, "event is %d bytes with the collector's fields, the limit is %d", len(out), en.maxEventBytes)
	}
	return out, nil
}

// routeEvent is the event of a GET convenience route.
func (en *enricher) routeEvent(eventType string, x *extraFields) []byte {
	var a fastjson.Arena
	o := a.NewObject()
	o.Set(en.typeField, a.NewString(eventType))
	o.Set("received_at", a.NewString(x.receivedAt))
	for _, h := range x.headers {
		o.Set(h[0], a.NewString(h[1]))
	}
	return o.MarshalTo(nil)
}

// syntaxOffset says where the JSON broke: the 1-based number of the byte
// that broke it (the last byte when the input ended early), as
// json.SyntaxError counts. fastjson is fast but does not say where;
// encoding/json does, so it re-parses the (already bad) input.
func syntaxOffset(b []byte, ferr error) (int, string) {
	var se *json.SyntaxError
	var raw json.RawMessage
	err := json.Unmarshal(b, &raw)
	if errors.As(err, &se) {
		return int(se.Offset), se.Error()
	}
	if err != nil {
		return len(b), err.Error()
	}
	return 0, ferr.Error()
}

// position is the 1-based line and column of the off-th byte of b, off
// counted from 1 as syntaxOffset gives it, so a body and an NDJSON line
// holding the same bad JSON report the same column.
func position(b []byte, off int) (line, col int) {
	i := min(max(off, 1), len(b)) - 1 // the byte's index
	if i < 0 {
		return 1, 1 // empty input
	}
	line = 1 + bytes.Count(b[:i], []byte{'\n'})
	col = i - bytes.LastIndexByte(b[:i], '\n')
	return line, col
}

func prefix(err error, p string) error {
	var re *requestError
	if errors.As(err, &re) {
		return &requestError{status: re.status, msg: p + re.msg}
	}
	return fmt.Errorf("%s%w", p, err)
}
