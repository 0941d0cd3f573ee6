//go:build race

package logging_test

// The race detector changes what escapes to the heap, so allocation counts
// are only checked without it.
const raceEnabled = true
