package stacktest

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/silt-etl/silt/internal/stack"
)

// The stack's services lead their own process groups (stack/proc.go).
// These read /proc to see what a group's processes are and where they
// listen, so tests can check the stack binds loopback only and that
// `silt stack down` leaves nothing behind. Linux only, like the stack.

// Listener is a TCP socket in the LISTEN state, held by process PID.
type Listener struct {
	PID  int
	Addr netip.AddrPort
}

// LoopbackOnly reports whether a listener on addr is reachable from this
// machine only, as the stack's must be: 127.0.0.1 (also as the IPv4-mapped
// ::ffff:127.0.0.1 of a Java dual-stack socket) or ::1. ::1 is allowed
// because MinIO listens on every loopback address besides --address, with
// no flag to stop it (getServerListenAddrs in its cmd/server-main.go).
func LoopbackOnly(addr netip.Addr) bool {
	return addr.Unmap() == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || addr == netip.IPv6Loopback()
}

// GroupPIDs lists the live (not zombie) processes of process group pgid.
func GroupPIDs(pgid int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := stack.ReadProcStat(pid)
		var readErr *fs.PathError
		if errors.As(err, &readErr) {
			continue // gone meanwhile
		}
		if err != nil {
			return nil, err
		}
		if st.PGRP == pgid && !st.Exited() {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Listeners returns the listening TCP sockets (IPv4 and IPv6) that
// process pid has open.
func Listeners(pid int) ([]Listener, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return nil, err
	}
	inodes := map[uint64]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if s, ok := strings.CutPrefix(link, "socket:["); ok {
			if ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				inodes[ino] = true
			}
		}
	}
	var out []Listener
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(filepath.Join(dir, "net", table))
		if errors.Is(err, os.ErrNotExist) && table == "tcp6" {
			continue // a kernel without IPv6
		}
		if err != nil {
			return nil, err
		}
		socks, err := parseListening(b)
		if err != nil {
			return nil, fmt.Errorf("%s/net/%s: %w", dir, table, err)
		}
		for ino, addr := range socks {
			if inodes[ino] {
				out = append(out, Listener{PID: pid, Addr: addr})
			}
		}
	}
	return out, nil
}

// parseListening reads a /proc/net/tcp or tcp6 table into the local
// address of each socket in the LISTEN state (st 0A), by inode.
func parseListening(b []byte) (map[uint64]netip.AddrPort, error) {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	out := map[uint64]netip.AddrPort{}
	for _, line := range lines[1:] { // the first is the header
		f := strings.Fields(line)
		if len(f) < 10 {
			return nil, fmt.Errorf("short line %q", line)
		}
		if f[3] != "0A" {
			continue
		}
		addr, err := parseHexAddr(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		ino, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %q: inode: %w", line, err)
		}
		out[ino] = addr
	}
	return out, nil
}

// parseHexAddr reads the kernel's ADDR:PORT: the address as 32-bit words,
// each printed as a number in host byte order, the port as a number.
func parseHexAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %q: no port", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %w", s, err)
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q: not 8 or 32 hex digits", s)
	}
	ip := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(addr, uint16(port)), nil
}
