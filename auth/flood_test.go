package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	floodClient = "203.0.113.66" // the address a flood comes from
	otherClient = "198.51.100.20"
)

// newFloodCache returns a cache with alice and bob whose bcrypt runs are
// counted in *hashes, with a per-client budget of budget failures a minute.
func newFloodCache(t *testing.T, budget int, hashes *atomic.Int64) (*Cache, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	c := NewCache(Options{
		FailureThreshold:       3,
		ClientFailureThreshold: budget,
		FailureWindow:          time.Minute,
		Now:                    clock.Now,
		MaxConcurrentHashes:    2,
		HashWait:               time.Minute,
		OnHash:                 func() { hashes.Add(1) },
	})
	c.Update(state(user(t, "alice", "alice-pw", false), user(t, "bob", "bob-pw", false), user(t, "carol", "carol-pw", false)))
	return c, clock
}

// TestUnknownUserFloodStopsCostingBcrypt (influxdb#3157): every made-up
// user name is a new (user, client) pair, so the pair throttle never fires
// and each name cost a full bcrypt run (40 threads from one address delayed
// a real user's first login to 1.85 s). The client's own budget stops that
// after ClientFailureThreshold failures, and only for that client.
func TestUnknownUserFloodStopsCostingBcrypt(t *testing.T) {
	t.Parallel()
	const budget = 5
	var hashes atomic.Int64
	c, clock := newFloodCache(t, budget, &hashes)
	mustAuthenticateFrom(t, c, basic("alice", "alice-pw"), floodClient) // remembered from now on
	hashes.Store(0)

	const threads, perThread = 40, 5
	var failed, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range threads {
		wg.Go(func() {
			for j := range perThread {
				_, err := c.Authenticate(context.Background(), basic(fmt.Sprintf("ghost-%d-%d", i, j), "guess"), floodClient)
				var e *Error
				switch {
				case err == ErrAuthorizationFailed:
					failed.Add(1)
				case errors.Is(err, ErrTooManyFailures) && errors.As(err, &e) && e.RetryAfter > 0:
					refused.Add(1)
				default:
					t.Errorf("flood: err = %v", err)
				}
			}
		})
	}
	wg.Wait()
	if got := hashes.Load(); got != budget {
		t.Errorf("the flood cost %d bcrypt runs, want %d", got, budget)
	}
	if failed.Load() != budget || refused.Load() != threads*perThread-budget {
		t.Errorf("failed %d refused %d, want %d and %d", failed.Load(), refused.Load(), budget, threads*perThread-budget)
	}

	// A remembered password from the same address passes, without bcrypt
	// and without a free slot.
	if u, err := authenticateNoBcrypt(t, c, basic("alice", "alice-pw"), floodClient); err != nil || u.Name() != "alice" {
		t.Fatalf("remembered user from the flooding address: %v, %v", u, err)
	}
	// Another address still gets bcrypt.
	mustAuthenticateFrom(t, c, basic("bob", "bob-pw"), otherClient)
	if got := hashes.Load(); got != budget+1 {
		t.Errorf("bcrypt runs = %d, want %d", got, budget+1)
	}
	// A login from the flooding address that needs bcrypt waits for the
	// window, even with the right password.
	if _, err := c.Authenticate(context.Background(), basic("carol", "carol-pw"), floodClient); !errors.Is(err, ErrTooManyFailures) {
		t.Fatalf("unremembered user from the flooding address: %v, want too many failures", err)
	}
	clock.Advance(time.Minute)
	mustAuthenticateFrom(t, c, basic("carol", "carol-pw"), floodClient)
	if got := hashes.Load(); got != budget+2 {
		t.Errorf("bcrypt runs = %d, want %d", got, budget+2)
	}
}

// TestOverBudgetGuessesCountAgainstThePair: a client over its budget gets no
// bcrypt, so its guesses at a remembered password are answered from the
// cache: a fast 200 for the right one. Each wrong guess must therefore count
// for (user, client), so that after FailureThreshold of them the right
// password is refused too, as it would be with bcrypt.
func TestOverBudgetGuessesCountAgainstThePair(t *testing.T) {
	t.Parallel()
	const budget = 2
	var hashes atomic.Int64
	c, _ := newFloodCache(t, budget, &hashes)
	mustAuthenticateFrom(t, c, basic("alice", "alice-pw"), otherClient) // remembered
	for i := range budget {
		if _, err := c.Authenticate(context.Background(), basic(fmt.Sprint("ghost", i), "x"), floodClient); err != ErrAuthorizationFailed {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	hashes.Store(0)
	for i := range 3 { // FailureThreshold
		if _, err := c.Authenticate(context.Background(), basic("alice", fmt.Sprint("guess", i)), floodClient); !errors.Is(err, ErrTooManyFailures) {
			t.Fatalf("guess %d: %v, want too many failures", i, err)
		}
	}
	if _, err := authenticateNoBcrypt(t, c, basic("alice", "alice-pw"), floodClient); !errors.Is(err, ErrTooManyFailures) {
		t.Fatalf("right password after the pair's threshold: %v, want too many failures", err)
	}
	if got := hashes.Load(); got != 0 {
		t.Errorf("guesses from a client over budget ran bcrypt %d times", got)
	}
	// alice herself, elsewhere, is not affected.
	if _, err := authenticateNoBcrypt(t, c, basic("alice", "alice-pw"), otherClient); err != nil {
		t.Fatalf("alice from another address: %v", err)
	}
}

// TestSuccessDoesNotSpendClientBudget: the budget counts failures, so the
// many users behind one NAT address may each log in.
func TestSuccessDoesNotSpendClientBudget(t *testing.T) {
	t.Parallel()
	var hashes atomic.Int64
	c, _ := newFloodCache(t, 1, &hashes)
	for _, name := range []string{"alice", "bob", "carol"} {
		mustAuthenticateFrom(t, c, basic(name, name+"-pw"), floodClient)
	}
	if _, err := c.Authenticate(context.Background(), basic("ghost", "x"), floodClient); err != ErrAuthorizationFailed {
		t.Fatalf("first failure: %v", err)
	}
	if _, err := c.Authenticate(context.Background(), basic("ghost2", "x"), floodClient); !errors.Is(err, ErrTooManyFailures) {
		t.Fatalf("failure over budget: %v, want too many failures", err)
	}
}

// TestFullHashSlotsAnswerBusy: a login that cannot get a bcrypt slot within
// HashWait is refused with 429 and Retry-After instead of queueing without
// bound, and it does not count as a failure.
func TestFullHashSlotsAnswerBusy(t *testing.T) {
	t.Parallel()
	const slots, logins = 2, 16
	gate := make(chan struct{})
	var entered atomic.Int32
	c := NewCache(Options{
		MaxConcurrentHashes: slots,
		HashWait:            20 * time.Millisecond,
		OnHash:              func() { entered.Add(1); <-gate },
	})
	c.Update(state(user(t, "alice", "alice-pw", false)))

	errs := make(chan error, logins)
	for i := range logins {
		go func() {
			_, err := c.Authenticate(context.Background(), basic("alice", "wrong"), fmt.Sprint("192.0.2.", 100+i))
			errs <- err
		}()
	}
	deadline := time.After(30 * time.Second)
	for range logins - slots { // the holders cannot answer before the gate opens
		select {
		case err := <-errs:
			var e *Error
			if !errors.Is(err, ErrAuthenticationBusy) || !errors.As(err, &e) ||
				e.Status != http.StatusTooManyRequests || e.RetryAfter != time.Second {
				t.Fatalf("err = %#v, want busy with a RetryAfter of 1s", err)
			}
		case <-deadline:
			t.Fatal("logins without a slot did not give up")
		}
	}
	if got := entered.Load(); got != slots {
		t.Fatalf("%d comparisons ran at once, want %d", got, slots)
	}
	close(gate)
	for range slots {
		if err := <-errs; err != ErrAuthorizationFailed {
			t.Fatalf("holder: %v", err)
		}
	}
	// A refusal for lack of a slot is not a failure: the client that got it
	// may log in.
	mustAuthenticateFrom(t, c, basic("alice", "alice-pw"), "192.0.2.100")
}

// TestHashWaitEndsWithTheRequest: a client that goes away stops waiting for
// a slot at once.
func TestHashWaitEndsWithTheRequest(t *testing.T) {
	t.Parallel()
	c := NewCache(Options{MaxConcurrentHashes: 1, HashWait: time.Hour})
	c.Update(state(user(t, "alice", "alice-pw", false)))
	release := holdHashSlots(c)
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Authenticate(ctx, basic("alice", "alice-pw"), "192.0.2.1")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrAuthenticationBusy) {
			t.Fatalf("err = %v, want busy", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a cancelled login kept waiting for a slot")
	}
}

// TestHashSlotsLeaveACore: by default bcrypt may not take every core, so
// that remembered logins are still served during a flood.
func TestHashSlotsLeaveACore(t *testing.T) {
	t.Parallel()
	c := NewCache(Options{})
	if got, want := cap(c.sem), max(1, runtime.GOMAXPROCS(0)-1); got != want {
		t.Errorf("%d bcrypt slots, want %d", got, want)
	}
}
