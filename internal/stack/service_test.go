package stack

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// StopService stops one service; StartService starts it again from the
// recorded command, on the same port, and records its new pid.
func TestStopAndStartServiceFromTheRecordedCommand(t *testing.T) {
	dir := t.TempDir()
	port, err := freePort()
	require.NoError(t, err)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// A listener that says which start it is: the restarted process must
	// be a new one, started with the same arguments and environment.
	script := `import os, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
open(os.environ["MARK"], "a").write("started\n")
while True: s.accept()[0].close()
`
	mark := filepath.Join(dir, "starts")
	cmd := exec.Command("python3", "-c", script, strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "MARK="+mark)
	p, err := startProcess("minio", cmd, filepath.Join(dir, "minio.log"), false)
	require.NoError(t, err)
	stateFile := filepath.Join(dir, "state.json")
	st := &Stack{stateFile: stateFile, state: State{Processes: []*Process{p}}}
	st.state.Endpoints.S3Endpoint = addr
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Cleanup(func() { _ = st.Down(context.Background()) })
	require.NoError(t, st.waitListening(ctx, "minio"))

	require.NoError(t, st.StopService(ctx, "minio", 5*time.Second))
	require.False(t, p.Running())
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "the stopped service still answers")

	require.NoError(t, st.StartService(ctx, "minio"))
	np := st.state.Processes[0]
	require.NotEqual(t, p.PID, np.PID)
	require.True(t, np.Running())
	c, err := net.DialTimeout("tcp", addr, time.Second)
	require.NoError(t, err, "the restarted service does not answer on its port")
	_ = c.Close()
	starts, err := os.ReadFile(mark)
	require.NoError(t, err)
	require.Equal(t, "started\nstarted\n", string(starts), "the restart did not get the recorded environment")

	// The state file records the new process, for another process's Attach.
	attached, err := Attach(stateFile)
	require.NoError(t, err)
	require.Equal(t, np.PID, attached.state.Processes[0].PID)
	require.NoError(t, attached.StartService(ctx, "minio"), "starting a running service is a no-op")

	require.ErrorIs(t, st.StopService(ctx, "kafka", time.Second), ErrUnknownService)
}
