package backoff

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDelayDoublesCapsAndJittersInTheUpperHalf(t *testing.T) {
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		require.Equal(t, want/2, Delay(time.Second, 5*time.Second, n, 0), "n=%d, r=0: half the nominal delay", n)
		require.Equal(t, want, Delay(time.Second, 5*time.Second, n, 1), "n=%d, r=1: the nominal delay", n)
		mid := Delay(time.Second, 5*time.Second, n, 0.5)
		require.Equal(t, want/2+want/4, mid, "n=%d", n)
	}
	require.Equal(t, 500*time.Microsecond, Delay(0, time.Second, 0, 0), "a zero base is 1ms")
	require.Equal(t, 5*time.Second, Delay(time.Second, 5*time.Second, 1000, 1), "no overflow far past the cap")
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, Sleep(ctx, time.Hour, time.Hour, 0), context.Canceled)
	require.NoError(t, Sleep(context.Background(), time.Millisecond, time.Millisecond, 0))
}
