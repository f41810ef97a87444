package cluster_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/cluster"
)

func TestBackoffDelay(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name     string
		b        cluster.Backoff
		attempt  int
		min, max time.Duration
	}{
		{"zero value first", cluster.Backoff{}, 0, 50 * ms, 100 * ms},
		{"zero value second", cluster.Backoff{}, 1, 100 * ms, 200 * ms},
		{"zero value capped", cluster.Backoff{}, 10, 2500 * ms, 5 * time.Second},
		{"zero value huge attempt", cluster.Backoff{}, 1 << 30, 2500 * ms, 5 * time.Second},
		{"negative attempt", cluster.Backoff{}, -3, 50 * ms, 100 * ms},
		{"custom first", cluster.Backoff{Min: 10 * ms, Max: 40 * ms}, 0, 5 * ms, 10 * ms},
		{"custom third", cluster.Backoff{Min: 10 * ms, Max: 40 * ms}, 2, 20 * ms, 40 * ms},
		{"custom capped", cluster.Backoff{Min: 10 * ms, Max: 40 * ms}, 9, 20 * ms, 40 * ms},
		{"cap not a power of two", cluster.Backoff{Min: 50 * ms, Max: 500 * ms}, 4, 250 * ms, 500 * ms},
		{"max below min", cluster.Backoff{Min: 80 * ms, Max: 10 * ms}, 3, 40 * ms, 80 * ms},
		{"only max set", cluster.Backoff{Max: 150 * ms}, 5, 75 * ms, 150 * ms},
		{"max near overflow", cluster.Backoff{Min: time.Second, Max: 1<<63 - 1}, 80, (1<<63 - 1) / 2, 1<<63 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 200 {
				d := tt.b.Delay(tt.attempt)
				if d < tt.min || d > tt.max {
					t.Fatalf("Delay(%d) = %v, want in [%v, %v]", tt.attempt, d, tt.min, tt.max)
				}
			}
		})
	}
}

func TestBackoffDelayJitters(t *testing.T) {
	b := cluster.Backoff{Min: time.Second, Max: time.Minute}
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[b.Delay(3)] = true
	}
	if len(seen) < 2 {
		t.Fatalf("50 delays took %d distinct values; want jitter", len(seen))
	}
}

var errTransient = errors.New("transient")

func TestRetry(t *testing.T) {
	errFatal := errors.New("fatal")
	fast := cluster.Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond}
	isTransient := func(err error) bool { return errors.Is(err, errTransient) }
	tests := []struct {
		name      string
		results   []error // what fn returns on each call; the last repeats
		retryable func(error) bool
		wantCalls int
		wantErr   error
	}{
		{"first call succeeds", []error{nil}, isTransient, 1, nil},
		{"succeeds after transient failures", []error{errTransient, errTransient, nil}, isTransient, 3, nil},
		{"non-retryable error returned at once", []error{errFatal}, isTransient, 1, errFatal},
		{"non-retryable after transient", []error{errTransient, errFatal}, isTransient, 2, errFatal},
		{"nil retryable retries everything", []error{errFatal, errFatal, nil}, nil, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := cluster.Retry(context.Background(), fast, tt.retryable, func(context.Context) error {
				r := tt.results[min(calls, len(tt.results)-1)]
				calls++
				return r
			})
			if err != tt.wantErr {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if calls != tt.wantCalls {
				t.Errorf("fn called %d times, want %d", calls, tt.wantCalls)
			}
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	calls := 0
	err := cluster.Retry(ctx, cluster.Backoff{Min: 5 * time.Millisecond, Max: 10 * time.Millisecond}, nil, func(context.Context) error {
		calls++
		return errTransient
	})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errTransient) {
		t.Fatalf("err = %v, want it to wrap both context.DeadlineExceeded and fn's error", err)
	}
	if !strings.Contains(err.Error(), "last error: transient") {
		t.Errorf("err = %q, want it to name fn's last error", err)
	}
	if calls < 2 {
		t.Errorf("fn called %d times in 50ms with 10ms pauses", calls)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Retry returned %v after the deadline", el)
	}
}

// A long pause is cut short by the context: Retry must not sleep through a
// cancellation.
func TestRetryPauseHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- cluster.Retry(ctx, cluster.Backoff{Min: time.Hour, Max: time.Hour}, nil, func(context.Context) error {
			calls++
			return errTransient
		})
	}()
	time.AfterFunc(20*time.Millisecond, cancel)
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errTransient) {
			t.Fatalf("err = %v, want context.Canceled wrapping fn's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Retry slept through the cancellation")
	}
	if calls != 1 {
		t.Errorf("fn called %d times, want 1", calls)
	}
}

func TestRetryPassesContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	err := cluster.Retry(ctx, cluster.Backoff{}, nil, func(got context.Context) error {
		if got.Value(key{}) != "v" {
			return errors.New("fn did not get the caller's context")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A context cancelled with a cause (a store closing) makes Retry report the
// cause rather than context.Canceled.
func TestRetryReportsCancelCause(t *testing.T) {
	errStopped := errors.New("stopped")
	ctx, cancel := context.WithCancelCause(context.Background())
	calls := 0
	err := cluster.Retry(ctx, cluster.Backoff{Min: time.Millisecond, Max: time.Millisecond}, nil, func(context.Context) error {
		if calls++; calls == 3 {
			cancel(errStopped)
		}
		return errTransient
	})
	if !errors.Is(err, errStopped) || !errors.Is(err, errTransient) {
		t.Fatalf("err = %v, want it to wrap the cause and fn's error", err)
	}
	if got, want := err.Error(), "stopped (last error: transient)"; got != want {
		t.Errorf("err = %q, want %q", got, want)
	}
}
