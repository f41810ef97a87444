package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Defaults of Backoff's zero fields.
const (
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
)

// Backoff is a capped exponential backoff with jitter. A zero Min means
// DefaultBackoffMin (100 ms), a zero Max DefaultBackoffMax (5 s); a Max below
// Min is raised to Min. The zero value is ready to use.
type Backoff struct {
	Min, Max time.Duration
}

// Delay returns the pause before retry number attempt (0 is the first
// retry). The ceiling doubles from Min with each attempt up to Max, and the
// delay is drawn uniformly from its upper half ("equal jitter"): at least
// half the ceiling, so that a crowd of retrying clients spreads out without
// any of them spinning, and never more than Max.
func (b Backoff) Delay(attempt int) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = DefaultBackoffMin
	}
	if hi <= 0 {
		hi = DefaultBackoffMax
	}
	hi = max(hi, lo)
	ceil := lo
	for i := 0; i < attempt && ceil < hi; i++ {
		if ceil > hi/2 {
			ceil = hi
			break
		}
		ceil *= 2
	}
	half := ceil / 2
	return ceil - half + rand.N(half+1)
}

// Retry calls fn until it returns nil or an error that retryable rejects,
// or ctx ends, pausing b.Delay(0) after the first failure, b.Delay(1) after
// the second, and so on (a pause that ctx cuts short). fn always runs at least once and gets ctx.
//
// Retry returns fn's last error as it is, except when ctx ended first: then
// the error wraps both context.Cause(ctx) (ctx.Err() unless ctx was
// cancelled with a cause) and fn's last error, so errors.Is matches either,
// and reads "context deadline exceeded (last error: ...)". A nil retryable
// retries every error.
func Retry(ctx context.Context, b Backoff, retryable func(error) bool, fn func(ctx context.Context) error) error {
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil || (retryable != nil && !retryable(err)) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %w)", context.Cause(ctx), err)
		}
		t := time.NewTimer(b.Delay(attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %w)", context.Cause(ctx), err)
		}
	}
}

// Sleep pauses for d, or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
