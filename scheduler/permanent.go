package scheduler

import (
	"errors"
	"time"
)

// A permanent error is one that retrying cannot fix until someone changes
// something: a refused login, an untrusted certificate, a wrong key. The
// job's own packages mark such errors with a Permanent() bool method (no
// import of this package needed). The scheduler does not retry them within
// the run, and holds the job's next runs off with a growing delay (up to
// maxBackoff) instead of failing it on every tick: a wrong password costs a
// handful of attempts an hour, not hundreds, and the job's status says why.
type permanent interface{ Permanent() bool }

// IsPermanent reports whether err, or an error it wraps, says it is permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p) && p.Permanent()
}

// Permanent marks err as permanent (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ error }

func (e permanentError) Unwrap() error   { return e.error }
func (e permanentError) Permanent() bool { return true }

// permanentHoldBase is the first hold after a permanent failure; each
// further one in a row doubles it, up to maxBackoff.
const permanentHoldBase = 10 * time.Second
