package gen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Template is a JSON event with placeholders, so each example can produce
// its own load with `silt gen --template FILE`:
//
//	{{seq}}              1, 2, 3 … (a number)
//	{{now_ms}} {{now_s}} the event time in epoch milliseconds or seconds
//	{{now}}              the event time as RFC 3339 text (UTC)
//	{{int 1 100}}        a whole number from 1 to 100
//	{{float 1 100}}      a number from 1 to 100, two decimals
//	{{choice "a" "b"}}   one of the strings, JSON-escaped without quotes
//	                     (so write it inside a JSON string: "{{choice "a" "b"}}")
//
// The same seed makes the same events; times come from the clock given
// to Next.
type Template struct {
	parts []templatePart
}

// templatePart is literal text or one placeholder.
type templatePart struct {
	literal string
	fn      string   // "" for literal text
	choices []string // choice: JSON-escaped
	lo, hi  float64  // int and float bounds
}

// ParseTemplate reads a template; name is for errors. A template that does
// not render to a JSON object is an error.
func ParseTemplate(name, text string) (*Template, error) {
	t := &Template{}
	rest := text
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			t.parts = append(t.parts, templatePart{literal: rest})
			break
		}
		t.parts = append(t.parts, templatePart{literal: rest[:i]})
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("template %s: %q has no closing }}", name, abbreviate(rest[i:]))
		}
		p, err := parsePlaceholder(rest[i+2 : i+j])
		if err != nil {
			return nil, fmt.Errorf("template %s: {{%s}}: %w", name, rest[i+2:i+j], err)
		}
		t.parts = append(t.parts, p)
		rest = rest[i+j+2:]
	}
	// Every random choice renders to the same JSON shape, so one sample
	// shows whether the template is a JSON object.
	sample := t.Source(1).Next(nil, time.Unix(0, 0))
	var obj map[string]any
	if err := json.Unmarshal(sample.JSON, &obj); err != nil {
		return nil, fmt.Errorf("template %s is not a JSON object once filled in (%s): %w", name, abbreviate(string(sample.JSON)), err)
	}
	return t, nil
}

func abbreviate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

func parsePlaceholder(src string) (templatePart, error) {
	args, err := splitArgs(src)
	if err != nil {
		return templatePart{}, err
	}
	if len(args) == 0 {
		return templatePart{}, fmt.Errorf("empty placeholder: use seq, now_ms, now_s, now, int, float or choice")
	}
	p := templatePart{fn: args[0]}
	switch p.fn {
	case "seq", "now_ms", "now_s", "now":
		if len(args) != 1 {
			return p, fmt.Errorf("%s takes no arguments", p.fn)
		}
	case "int", "float":
		if len(args) != 3 {
			return p, fmt.Errorf("write %s LOW HIGH, e.g. {{%s 1 100}}", p.fn, p.fn)
		}
		if p.lo, err = strconv.ParseFloat(args[1], 64); err != nil {
			return p, fmt.Errorf("%q is not a number", args[1])
		}
		if p.hi, err = strconv.ParseFloat(args[2], 64); err != nil {
			return p, fmt.Errorf("%q is not a number", args[2])
		}
		if p.hi < p.lo {
			return p, fmt.Errorf("%s is above %s: write the lower bound first", args[1], args[2])
		}
		if p.fn == "int" && (p.lo != float64(int64(p.lo)) || p.hi != float64(int64(p.hi))) {
			return p, fmt.Errorf("int takes whole numbers; use float for %s %s", args[1], args[2])
		}
	case "choice":
		if len(args) < 2 {
			return p, fmt.Errorf(`write choice "a" "b" …: at least one string`)
		}
		for _, a := range args[1:] {
			q, _ := json.Marshal(a)
			p.choices = append(p.choices, string(q[1:len(q)-1]))
		}
	default:
		return p, fmt.Errorf("unknown placeholder %q: use seq, now_ms, now_s, now, int, float or choice", p.fn)
	}
	return p, nil
}

// splitArgs splits on spaces; double-quoted arguments are Go strings.
func splitArgs(src string) ([]string, error) {
	var out []string
	s := strings.TrimSpace(src)
	for s != "" {
		if s[0] == '"' {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, fmt.Errorf("unterminated string in %q", src)
			}
			v, _ := strconv.Unquote(q)
			out = append(out, v)
			s = strings.TrimLeftFunc(s[len(q):], unicode.IsSpace)
			continue
		}
		end := strings.IndexFunc(s, unicode.IsSpace)
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = strings.TrimLeftFunc(s[end:], unicode.IsSpace)
	}
	return out, nil
}

// Source makes the template's events from seed.
func (t *Template) Source(seed uint64) *TemplateEvents {
	return &TemplateEvents{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// TemplateEvents fills a template again and again, deterministically.
type TemplateEvents struct {
	t   *Template
	rng *rand.Rand
	seq int64
}

// Next appends the next event's JSON to buf and returns it; at is its
// event time. Its Type and Host are its event_type and host (or Host)
// fields, for the counts `silt gen` prints.
func (e *TemplateEvents) Next(buf []byte, at time.Time) Event {
	e.seq++
	b := buf[:0]
	for _, p := range e.t.parts {
		switch p.fn {
		case "":
			b = append(b, p.literal...)
		case "seq":
			b = strconv.AppendInt(b, e.seq, 10)
		case "now_ms":
			b = strconv.AppendInt(b, at.UnixMilli(), 10)
		case "now_s":
			b = strconv.AppendInt(b, at.Unix(), 10)
		case "now":
			b = at.UTC().AppendFormat(b, time.RFC3339Nano)
		case "int":
			b = strconv.AppendInt(b, int64(p.lo)+e.rng.Int64N(int64(p.hi)-int64(p.lo)+1), 10)
		case "float":
			b = strconv.AppendFloat(b, p.lo+e.rng.Float64()*(p.hi-p.lo), 'f', 2, 64)
		case "choice":
			b = append(b, p.choices[e.rng.IntN(len(p.choices))]...)
		}
	}
	var head struct {
		Type  string `json:"event_type"`
		Host  string `json:"host"`
		HostH string `json:"Host"`
	}
	_ = json.Unmarshal(b, &head) // ParseTemplate checked it is an object
	if head.Host == "" {
		head.Host = head.HostH
	}
	return Event{Type: head.Type, Host: head.Host, JSON: b}
}
