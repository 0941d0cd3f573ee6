package api

import "time"

// UTC is an optional time as the API writes it: in UTC, nil as nil.
func UTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
