package httpd

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-db/palisade/auth"
)

// from serves rq as coming from the client address addr.
func (s *server) from(addr string, rq req) response {
	s.t.Helper()
	r := mustRequest(s.t, rq.method, rq.target, rq.body)
	if rq.method == "" {
		r.Method = http.MethodGet
	}
	r.RemoteAddr = addr + ":40000"
	for k, v := range rq.headers {
		r.Header.Set(k, v)
	}
	if rq.user != "" {
		r.SetBasicAuth(rq.user, passwordOf(rq.user))
	}
	return serve(s.t, s.h, r)
}

// TestUnknownUserFloodIsThrottledPerClient (issue 6, point 8): the failure
// throttle counted per (user, client), so a flood of made-up user names
// from one address cost a bcrypt run each and delayed real users' logins.
// The client's own budget ends that; a user whose password is remembered
// still gets in from that address, and other addresses are not affected.
func TestUnknownUserFloodIsThrottledPerClient(t *testing.T) {
	t.Parallel()
	const budget, flood = 5, 50
	const attacker, elsewhere = "203.0.113.66", "198.51.100.20"
	var hashes atomic.Int64
	cache := newCache(t, stateOf(t, false), auth.Options{
		ClientFailureThreshold: budget,
		HashWait:               time.Minute,
		OnHash:                 func() { hashes.Add(1) },
	})
	s := newServerWith(t, Config{AuthEnabled: true, Version: testVersion, Build: "OSS"}, cache)
	wantStatus(t, s.from(attacker, req{target: q("SHOW DATABASES"), user: "reader"}), 200, "") // remembered now
	hashes.Store(0)

	for i := range flood {
		res := s.from(attacker, req{target: q("SHOW DATABASES"), headers: map[string]string{
			"Authorization": basic(fmt.Sprintf("ghost-%d", i), "guess")}})
		if i < budget {
			wantStatus(t, res, 401, "authorization failed")
			continue
		}
		wantStatus(t, res, 429, "too many failed authentication attempts")
		if got := res.header.Get("Retry-After"); got != "60" {
			t.Fatalf("Retry-After = %q, want 60", got)
		}
	}
	if got := hashes.Load(); got != budget {
		t.Errorf("%d made-up names cost %d bcrypt runs, want %d", flood, got, budget)
	}
	// The statistics (SHOW STATS, /debug/vars, /metrics) count both answers.
	st := s.h.Statistics(nil)[0].Values
	if st["authFail"] != int64(budget) || st["authThrottled"] != int64(flood-budget) {
		t.Errorf("authFail %v, authThrottled %v; want %d and %d", st["authFail"], st["authThrottled"], budget, flood-budget)
	}
	wantStatus(t, s.from(attacker, req{target: q("SHOW DATABASES"), user: "reader"}), 200, "")
	wantStatus(t, s.from(elsewhere, req{target: q("SHOW DATABASES"), user: "writer"}), 200, "")
	if got := hashes.Load(); got != budget+1 {
		t.Errorf("bcrypt runs = %d, want %d (one for the writer elsewhere)", got, budget+1)
	}
}

// TestFullHashSlotsAnswer429: a login that finds every bcrypt slot taken
// waits a bounded time, then gets 429 with Retry-After instead of queueing.
func TestFullHashSlotsAnswer429(t *testing.T) {
	t.Parallel()
	entered, gate := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	cache := newCache(t, stateOf(t, false), auth.Options{
		MaxConcurrentHashes: 1,
		HashWait:            20 * time.Millisecond,
		OnHash: func() {
			if first.CompareAndSwap(false, true) {
				close(entered)
				<-gate
			}
		},
	})
	s := newServerWith(t, Config{AuthEnabled: true, Version: testVersion, Build: "OSS"}, cache)

	held := make(chan response, 1)
	go func() { held <- s.from("192.0.2.10", req{target: q("SHOW DATABASES"), user: "reader"}) }()
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the first login never reached bcrypt")
	}
	res := s.from("192.0.2.11", req{target: q("SHOW DATABASES"), user: "writer"})
	wantStatus(t, res, 429, "too many authentication attempts in progress")
	if got := res.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	close(gate)
	wantStatus(t, <-held, 200, "")
	// The refused login did not count as a failure.
	wantStatus(t, s.from("192.0.2.11", req{target: q("SHOW DATABASES"), user: "writer"}), 200, "")
}
