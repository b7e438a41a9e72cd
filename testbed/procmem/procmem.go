// Package procmem samples a running process's resident memory from
// /proc for the benchmarks: its peak, split into the process's own
// anonymous memory and the file pages mapped into it (the binary's code
// and read-only data, which a kernel with file THP maps in 2 MB pages).
// Linux only. Not the rusage of an exited child: Go starts children with
// vfork, sharing the parent's memory until exec, and Linux then reports
// the parent's peak (a benchmark holding a broker's events: 1.6 GB at
// 10M events) as the child's.
package procmem

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Peak is the most a process held while it was watched, in bytes. Anon and
// File are each the highest value sampled, not necessarily at the moment
// of RSS's peak.
type Peak struct {
	RSS  int64 // VmHWM: the kernel's own high-water mark of the resident set
	Anon int64 // RssAnon: heap, stacks, runtime and C allocations
	File int64 // RssFile: mapped file pages, the binary's own above all
}

// String is "RSS MB (anon MB, file MB)".
func (p Peak) String() string {
	return fmt.Sprintf("%4d MB (anon %d, file %d)", p.RSS>>20, p.Anon>>20, p.File>>20)
}

// sampleEvery is how often Watch reads /proc: VmHWM only grows, so the
// last reading misses at most this much of RSS's peak; Anon and File can
// miss a spike shorter than it.
const sampleEvery = 50 * time.Millisecond

// Watch samples process pid until it is gone and returns its peak. Start
// it right after the process starts, in its own goroutine.
func Watch(pid int) Peak {
	var peak Peak
	for {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return peak
		}
		s, err := parseStatus(string(raw))
		if err != nil {
			return peak
		}
		peak = Peak{RSS: max(peak.RSS, s.RSS), Anon: max(peak.Anon, s.Anon), File: max(peak.File, s.File)}
		time.Sleep(sampleEvery)
	}
}

// parseStatus reads VmHWM, RssAnon and RssFile (in kB) from the text of
// /proc/PID/status.
func parseStatus(text string) (Peak, error) {
	var p Peak
	fields := map[string]*int64{"VmHWM:": &p.RSS, "RssAnon:": &p.Anon, "RssFile:": &p.File}
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[2] != "kB" || fields[f[0]] == nil {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return Peak{}, fmt.Errorf("read %s of /proc/PID/status: %w", f[0], err)
		}
		*fields[f[0]] = kb << 10
		seen++
	}
	if seen != len(fields) {
		return Peak{}, fmt.Errorf("/proc/PID/status has %d of VmHWM, RssAnon and RssFile", seen)
	}
	return p, nil
}
