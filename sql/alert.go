package sql

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/silt-etl/silt/internal/ident"
)

// Condition is a report's alert: "column op operand", where operand is a
// number or a param name. It holds for a result row whose column compares
// true; the alert fires when any row does.
type Condition struct {
	Column  string
	Op      string
	Operand string // a number or a param name
	Text    string
}

var ops = []string{">=", "<=", "!=", "=", ">", "<"}

func parseCondition(s string) (*Condition, error) {
	for _, op := range ops {
		l, r, ok := strings.Cut(s, op)
		if !ok {
			continue
		}
		c := &Condition{Column: strings.TrimSpace(l), Op: op, Operand: strings.TrimSpace(r), Text: s}
		if !ident.Valid(c.Column) {
			return nil, fmt.Errorf("%q: the left side must be a result column", s)
		}
		if _, err := strconv.ParseFloat(c.Operand, 64); err != nil && !ident.Valid(c.Operand) {
			return nil, fmt.Errorf("%q: the right side must be a number or a param", s)
		}
		return c, nil
	}
	return nil, fmt.Errorf("%q: write column op value, op one of > >= < <= = !=", s)
}

func (c *Condition) check(params []Param) error {
	if _, err := strconv.ParseFloat(c.Operand, 64); err == nil {
		return nil
	}
	for _, p := range params {
		if p.Name == c.Operand {
			if p.Type != "int" && p.Type != "float" {
				return fmt.Errorf("param %s is a %s, compare with a number", p.Name, p.Type)
			}
			return nil
		}
	}
	return fmt.Errorf("%q is neither a number nor a param", c.Operand)
}

// Holds evaluates the condition on one row's value of c.Column (nil for
// NULL, which never holds) given the resolved params.
func (c *Condition) Holds(value any, params map[string]any) (bool, error) {
	x, ok := toFloat(value)
	if !ok {
		if value == nil {
			return false, nil
		}
		return false, fmt.Errorf("alert %q: column %s is %T, not a number", c.Text, c.Column, value)
	}
	y, err := strconv.ParseFloat(c.Operand, 64)
	if err != nil {
		if y, ok = toFloat(params[c.Operand]); !ok {
			return false, fmt.Errorf("alert %q: param %s has no numeric value", c.Text, c.Operand)
		}
	}
	switch c.Op {
	case ">":
		return x > y, nil
	case ">=":
		return x >= y, nil
	case "<":
		return x < y, nil
	case "<=":
		return x <= y, nil
	case "=":
		return x == y, nil
	}
	return x != y, nil
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case Int:
		return float64(x), true
	case Float:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case int:
		return float64(x), true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	return 0, false
}
