package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-db/palisade/proto/metapb"
)

// TestChangesWaitForTheDataNodes (issue 19, point 1): a change made through
// palisade-ctl returns once every data node heard from lately reports it in
// its heartbeat, so that the next request through any data node sees it;
// a node that does not (it is behind) is waited for at most a few seconds
// and named in a warning; a node not heard from lately is not waited for.
func TestChangesWaitForTheDataNodes(t *testing.T) {
	t.Parallel()
	tc := newTestCtl(t, 1)
	tc.c.WaitForLeader()
	client := tc.c.Client(testSecret)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg, err := client.RegisterDataNode(ctx, "127.0.0.1:18086", "127.0.0.1:18088")
	if err != nil {
		t.Fatal(err)
	}
	// A data node that follows: every 100 ms it reports the state it has,
	// here the leader's (or, while held, an old one).
	var hold atomic.Bool
	go func() {
		for ctx.Err() == nil {
			index := uint64(1)
			if !hold.Load() {
				index = tc.c.Leader().Store.Data().Index
			}
			client.Heartbeat(ctx, &metapb.HeartbeatRequest{NodeId: reg.NodeId, MetaIndex: index})
			time.Sleep(100 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)

	start := time.Now()
	r := mustOK(t, tc.run(t, "", "user", "create", "-password", "pw-1-long-enough", "bob"))
	if took := time.Since(start); took > 2*time.Second || r.stderr != "" {
		t.Fatalf("with the data node following: took %s, stderr %q", took, r.stderr)
	}

	hold.Store(true)
	time.Sleep(300 * time.Millisecond)
	start = time.Now()
	r = mustOK(t, tc.run(t, "", "user", "drop", "bob"))
	took := time.Since(start)
	if took < visibleWait || !strings.Contains(r.stderr, "not confirmed by data node") {
		t.Fatalf("with the data node behind: took %s, stderr %q; want about %s and a warning", took, r.stderr, visibleWait)
	}

	cancel() // the node stops: after visibleLately it is not waited for
	time.Sleep(visibleLately + 500*time.Millisecond)
	start = time.Now()
	r = mustOK(t, tc.run(t, "", "user", "create", "-password", "pw-2-long-enough", "carol"))
	if took := time.Since(start); took > 2*time.Second || r.stderr != "" {
		t.Fatalf("with the data node gone: took %s, stderr %q", took, r.stderr)
	}
}
