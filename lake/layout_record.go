package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// LayoutKey records the layout a lake's tables are written in. A lake is
// written in one layout for its whole life: read in another, every table
// would look empty (or half of it would), so silt refuses to start instead.
const LayoutKey = MetaPrefix + "layout.json"

type layoutRecord struct {
	Layout string `json:"layout"`
}

// LayoutMismatchError says the configured layout is not the lake's.
type LayoutMismatchError struct {
	Configured, Lake Layout
	// Legacy is set when the lake has no record but holds tables written
	// before silt recorded layouts (which were all dt_hour).
	Legacy bool
}

func (e *LayoutMismatchError) Error() string {
	why := "the lake records " + LayoutKey + " = " + e.Lake.String()
	if e.Legacy {
		why = "the lake's tables were written before silt recorded layouts, in " + e.Lake.String()
	}
	return fmt.Sprintf("lake.layout is %s but %s: set lake.layout: %s (SILT_LAKE_LAYOUT=%s), or use a new lake (lake.root or lake.s3.prefix) for %s",
		e.Configured, why, e.Lake, e.Lake, e.Configured)
}

// LakeLayout is the layout the lake is written in: the recorded one, or,
// for a lake with tables but no record (written before silt recorded
// layouts), DtHour. ok is false for a lake that has neither (nothing
// written yet).
func LakeLayout(ctx context.Context, st Store) (l Layout, legacy, ok bool, err error) {
	raw, _, err := st.GetVersion(ctx, LayoutKey)
	switch {
	case err == nil:
		var rec layoutRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return DtHour, false, false, fmt.Errorf("read %s: %w", LayoutKey, err)
		}
		l, err := ParseLayout(rec.Layout)
		if err != nil {
			return DtHour, false, false, fmt.Errorf("read %s: layout %w", LayoutKey, err)
		}
		return l, false, true, nil
	case !errors.Is(err, ErrNotExist):
		return DtHour, false, false, fmt.Errorf("read %s: %w", LayoutKey, err)
	}
	tables, err := Tables(ctx, st)
	if err != nil {
		return DtHour, false, false, err
	}
	return DtHour, len(tables) > 0, len(tables) > 0, nil
}

// CheckLayout fails with a *LayoutMismatchError when the lake is written
// in another layout than want. A lake with nothing written yet passes.
func CheckLayout(ctx context.Context, st Store, want Layout) error {
	have, legacy, ok, err := LakeLayout(ctx, st)
	if err != nil {
		return fmt.Errorf("check lake.layout: %w", err)
	}
	if ok && have != want {
		return &LayoutMismatchError{Configured: want, Lake: have, Legacy: legacy}
	}
	return nil
}

// RecordLayout records want as the lake's layout unless one is recorded,
// create-if-absent, so two processes starting on a new lake with different
// layouts cannot both win; it fails like CheckLayout when the lake is
// written in another layout. Writers call it before their first object.
func RecordLayout(ctx context.Context, st Store, want Layout) error {
	if err := CheckLayout(ctx, st, want); err != nil {
		return err
	}
	raw, err := json.Marshal(layoutRecord{Layout: want.String()})
	if err != nil {
		return err
	}
	if _, err := st.Create(ctx, LayoutKey, raw); err != nil && !errors.Is(err, ErrPreconditionFailed) {
		return fmt.Errorf("record lake.layout in %s: %w", LayoutKey, err)
	}
	// Recorded now, by this process or (a lost race) another: read it back.
	return CheckLayout(ctx, st, want)
}
