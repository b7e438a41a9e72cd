package ship

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// State is what the shipper persists, only after Kafka acknowledged it:
// each file's offset, and where in the topic a restart looks for records
// it produced but did not get to persist.
type State struct {
	Topic string                `json:"topic"`
	Files map[string]*FileState `json:"files"` // by fileKey: device:inode
	// ScanFrom is, per partition, an offset at or before every record
	// this shipper produced that Files does not yet account for.
	ScanFrom map[int32]int64 `json:"scan_from"`
}

// FileState is one file's progress: Offset is the byte after the last
// line Kafka acknowledged. Path is for humans (and for finding a file
// renamed while the shipper was down).
type FileState struct {
	Path   string   `json:"path"`
	Offset int64    `json:"offset"`
	Clock  dayClock `json:"clock"`
}

func loadState(path string) (*State, error) {
	st := &State{Files: map[string]*FileState{}, ScanFrom: map[int32]int64{}}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ship state: %w", err)
	}
	if err := json.Unmarshal(raw, st); err != nil {
		return nil, fmt.Errorf("ship state %s is not valid JSON (%w): move it away only if you accept re-sending or losing lines", path, err)
	}
	if st.Files == nil {
		st.Files = map[string]*FileState{}
	}
	if st.ScanFrom == nil {
		st.ScanFrom = map[int32]int64{}
	}
	return st, nil
}

// save writes the state atomically: a temporary file beside it, synced,
// renamed over it, and the directory synced, so a crash leaves either the
// old state or the new one.
func (st *State) save(path string) error {
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode ship state: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write ship state: %w", err)
	}
	_, werr := tmp.Write(append(raw, '\n'))
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write ship state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("replace ship state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // makes the rename durable; if it fails, a crash only leaves the older state, which recovery corrects from the topic
		_ = d.Close()
	}
	return nil
}
