package queue

import (
	"math/rand/v2"
	"time"
)

// Backoff spaces the attempts of a failing job: capped exponential
// growth with jitter, so that jobs failing together (a dependency down)
// do not come back together.
type Backoff struct {
	// Base is the nominal delay after the first failed attempt.
	Base time.Duration
	// Max caps the delay.
	Max time.Duration
	// Jitter returns a number in [0, 1); nil uses math/rand/v2.
	Jitter func() float64
}

// DefaultBackoff waits about 10s, 20s, 40s, ... up to 15 minutes.
var DefaultBackoff = Backoff{Base: 10 * time.Second, Max: 15 * time.Minute}

// Delay is the wait after failed attempt number attempt (from 1): the
// capped nominal delay Base*2^(attempt-1), less up to half of it at
// random ("equal jitter": never shorter than half the nominal delay).
func (b Backoff) Delay(attempt int) time.Duration {
	if b.Base <= 0 {
		return 0
	}
	if attempt < 1 {
		attempt = 1
	}
	d := b.Base
	for i := 1; i < attempt && (b.Max <= 0 || d < b.Max); i++ {
		d *= 2
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	j := b.Jitter
	if j == nil {
		j = rand.Float64
	}
	half := d / 2
	return half + time.Duration(j()*float64(d-half))
}
