package stacktest

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestParseListening(t *testing.T) {
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:8E3D 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0
   2: 0100007F:8E3D 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1
`
	tcp6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:A8F5 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:8E3D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2002 1 0000000000000000 100 0 0 10 0
   2: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2003 1 0000000000000000 100 0 0 10 0
`
	want := map[uint64]struct {
		addr     string
		loopback bool
	}{
		1001: {"127.0.0.1:36413", true},
		1002: {"0.0.0.0:2024", false},
		2001: {"[::ffff:127.0.0.1]:43253", true},
		2002: {"[::1]:36413", true},
		2003: {"[::]:8080", false},
	}
	got := map[uint64]netip.AddrPort{}
	for _, table := range []string{tcp, tcp6} {
		m, err := parseListening([]byte(table))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range m {
			got[k] = v
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want the %d LISTEN sockets only", got, len(want))
	}
	for ino, w := range want {
		if got[ino].String() != w.addr || LoopbackOnly(got[ino].Addr()) != w.loopback {
			t.Errorf("inode %d: %s (loopback %v), want %s (loopback %v)", ino, got[ino], LoopbackOnly(got[ino].Addr()), w.addr, w.loopback)
		}
	}
}

// Listeners finds this process's own sockets, loopback or not: what the
// integration test relies on to catch a service listening on 0.0.0.0.
func TestListenersSeeOwnSockets(t *testing.T) {
	listen := func(network, addr string) netip.AddrPort {
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return l.Addr().(*net.TCPAddr).AddrPort()
	}
	lo := listen("tcp4", "127.0.0.1:0")
	any4 := listen("tcp4", "0.0.0.0:0")
	ls, err := Listeners(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		addr     netip.AddrPort
		loopback bool
	}{{lo, true}, {any4, false}} {
		i := slices.IndexFunc(ls, func(l Listener) bool { return l.Addr == want.addr })
		if i < 0 {
			t.Errorf("listener %s not found among %v", want.addr, ls)
			continue
		}
		if ls[i].PID != os.Getpid() || LoopbackOnly(ls[i].Addr.Addr()) != want.loopback {
			t.Errorf("%+v: loopback %v, want %v", ls[i], LoopbackOnly(ls[i].Addr.Addr()), want.loopback)
		}
	}
}

// GroupPIDs sees a group's leader and its children, and none once killed.
func TestGroupPIDs(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 300 & sleep 300 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := GroupPIDs(pgid)
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) == 3 && slices.Contains(pids, pgid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %d: %v, want the shell and two sleeps", pgid, pids)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for {
		// The sleeps are reparented to init; until it reaps them they are
		// zombies, which GroupPIDs does not count.
		pids, err := GroupPIDs(pgid)
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %d still has %v after SIGKILL", pgid, pids)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
