package main

import (
	"fmt"
	"io"
	"time"
)

// progressPrinter prints a long command's progress on stderr in silt
// gen's style ("<command>: <elapsed>s  …"), at most a line a second and
// always the last one.
type progressPrinter struct {
	w           io.Writer
	name, unit  string
	now         func() time.Time
	start, last time.Time
}

// newProgress prints to w (nil: nothing) for command name, counting unit
// (e.g. "partitions"); now is the clock.
func newProgress(w io.Writer, name, unit string, now func() time.Time) *progressPrinter {
	t := now()
	return &progressPrinter{w: w, name: name, unit: unit, now: now, start: t}
}

// update reports done of total (total 0: unknown); detail follows the
// count. final prints whatever a second.
func (p *progressPrinter) update(done, total int64, detail string, final bool) {
	if p == nil || p.w == nil {
		return
	}
	t := p.now()
	if !final && !p.last.IsZero() && t.Sub(p.last) < time.Second {
		return
	}
	p.last = t
	fmt.Fprintln(p.w, progressLine(p.name, p.unit, t.Sub(p.start), done, total, detail))
}

// progressLine: elapsed time, done (of total, with the share), detail,
// the average rate so far and, with a total, the ETA at that rate.
func progressLine(name, unit string, elapsed time.Duration, done, total int64, detail string) string {
	line := fmt.Sprintf("%s: %6.1fs  %d", name, elapsed.Seconds(), done)
	if total > 0 {
		line += fmt.Sprintf(" of %d %s (%d%%)", total, unit, done*100/total)
	} else {
		line += " " + unit
	}
	if detail != "" {
		line += "  " + detail
	}
	var rate float64
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	line += fmt.Sprintf("  rate %.1f/s", rate)
	if total > 0 && done < total {
		if rate > 0 {
			line += "  ETA " + time.Duration(float64(total-done)/rate*float64(time.Second)).Round(time.Second).String()
		} else {
			line += "  ETA unknown"
		}
	}
	return line
}
