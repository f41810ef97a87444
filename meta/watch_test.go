package meta_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

var errEnough = errors.New("watcher has what it waited for")

// rawWatch opens a MetaService.Watch stream on addr from index.
func rawWatch(t *testing.T, ctx context.Context, addr, secret string, index uint64) metapb.MetaService_WatchClient {
	t.Helper()
	conn, err := cluster.Dial(addr, cluster.DialOptions{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := metapb.NewMetaServiceClient(conn).Watch(ctx, &metapb.WatchRequest{Index: index})
	if err != nil {
		t.Fatalf("Watch on %s: %v", addr, err)
	}
	return stream
}

// checkCommittedPrefixes checks a watcher's states against the committed
// history: indexes strictly increase from after start, each state holds
// exactly the test users committed at or before its index (so it never
// loses one and never shows one out of order), and the last holds all.
func checkCommittedPrefixes(t *testing.T, who string, got []*metapb.Data, start uint64, users []string, created map[string]uint64) {
	t.Helper()
	if len(got) == 0 {
		t.Fatalf("%s: received nothing", who)
	}
	prev := start
	var prevUsers []string
	for _, d := range got {
		if d.Index <= prev {
			t.Fatalf("%s: index %d after %d: not strictly increasing", who, d.Index, prev)
		}
		var have, want []string
		for _, u := range users {
			if meta.FindUser(d, u) != nil {
				have = append(have, u)
			}
			if created[u] <= d.Index {
				want = append(want, u)
			}
		}
		if !slices.Equal(have, want) {
			t.Fatalf("%s: state at index %d has users %v, want the ones committed by then: %v", who, d.Index, have, want)
		}
		for _, u := range prevUsers {
			if !slices.Contains(have, u) {
				t.Fatalf("%s: user %s disappeared at index %d", who, u, d.Index)
			}
		}
		prev, prevUsers = d.Index, have
	}
	if last := got[len(got)-1]; len(prevUsers) != len(users) {
		t.Fatalf("%s: last state (index %d) has %d of %d users", who, last.Index, len(prevUsers), len(users))
	}
}

// TestWatchDeliversCommittedChangesInOrder: watchers (the Client, and raw
// streams on the leader and a follower) see every user created one at a
// time, in commit order, never losing one.
func TestWatchDeliversCommittedChangesInOrder(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	start := waitConverged(t, c).Index
	ctx := testContext(t)
	const n = 40
	var users []string
	for i := range n {
		users = append(users, fmt.Sprintf("watched%02d", i))
	}
	last := users[n-1]

	type result struct {
		who    string
		states []*metapb.Data
		err    error
	}
	results := make(chan result, 3)
	cl := c.Client(testSecret)
	go func() {
		var got []*metapb.Data
		err := cl.Watch(ctx, start, func(d *metapb.Data) error {
			got = append(got, d)
			if meta.FindUser(d, last) != nil {
				return errEnough
			}
			return nil
		}, nil)
		results <- result{"Client.Watch", got, err}
	}()
	for _, who := range []struct {
		name string
		node *testcluster.Node
	}{{"raw stream on the leader", c.Leader()}, {"raw stream on a follower", c.Nodes[c.Follower()]}} {
		stream := rawWatch(t, ctx, who.node.RPCAddr, testSecret, start)
		go func() {
			var got []*metapb.Data
			for {
				resp, err := stream.Recv()
				if err != nil {
					results <- result{who.name, got, err}
					return
				}
				got = append(got, resp.Data)
				if meta.FindUser(resp.Data, last) != nil {
					results <- result{who.name, got, errEnough}
					return
				}
			}
		}()
	}

	created := map[string]uint64{}
	for i, u := range users {
		resp := mustExecute(t, c, i%3, createHashedUser(u, testHash))
		created[u] = resp.Index
	}
	for range 3 {
		r := <-results
		if !errors.Is(r.err, errEnough) {
			t.Fatalf("%s ended with %v before seeing every user", r.who, r.err)
		}
		checkCommittedPrefixes(t, r.who, r.states, start, users, created)
		t.Logf("%s: %d states for %d changes", r.who, len(r.states), n)
	}
}

// TestWatchResumesFromIndex: a Watch from index X sends nothing at or
// before X, then the changes after it.
func TestWatchResumesFromIndex(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	ctx := testContext(t)
	var idx []uint64
	for i := range 5 {
		idx = append(idx, mustExecute(t, c, 0, createHashedUser(fmt.Sprintf("early%d", i), testHash)).Index)
	}
	current := waitConverged(t, c).Index

	// From the middle of the history: the current state first (it is newer).
	x := idx[2]
	for _, n := range c.Nodes {
		stream := rawWatch(t, ctx, n.RPCAddr, testSecret, x)
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Watch(%d) on %s: %v", x, n.RPCAddr, err)
		}
		if resp.Data.Index != current || len(resp.Data.Users) != 5 {
			t.Fatalf("Watch(%d) on %s: first state at %d with %d users, want the current one at %d with 5",
				x, n.RPCAddr, resp.Data.Index, len(resp.Data.Users), current)
		}
	}

	// From the current index: nothing until the next change, then exactly it.
	follower := c.Nodes[c.Follower()]
	stream := rawWatch(t, ctx, follower.RPCAddr, testSecret, current)
	var clientGot []*metapb.Data
	clientDone := make(chan error, 1)
	go func() {
		clientDone <- c.Client(testSecret).Watch(ctx, current, func(d *metapb.Data) error {
			clientGot = append(clientGot, d)
			if meta.FindUser(d, "late1") != nil {
				return errEnough
			}
			return nil
		}, nil)
	}()
	late0 := mustExecute(t, c, 1, createHashedUser("late0", testHash)).Index
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Data.Index != late0 || meta.FindUser(resp.Data, "late0") == nil {
		t.Fatalf("Watch(%d): first state at %d, want the next change at %d", current, resp.Data.Index, late0)
	}
	late1 := mustExecute(t, c, 2, createHashedUser("late1", testHash)).Index
	resp, err = stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Data.Index != late1 || meta.FindUser(resp.Data, "late1") == nil {
		t.Fatalf("Watch(%d): second state at %d, want %d", current, resp.Data.Index, late1)
	}
	if err := <-clientDone; !errors.Is(err, errEnough) {
		t.Fatalf("Client.Watch: %v", err)
	}
	checkCommittedPrefixes(t, "Client.Watch", clientGot, current, []string{"late0", "late1"}, map[string]uint64{"late0": late0, "late1": late1})
}

// TestClientWatchFailsOver: when the node a Client.Watch streams from goes
// away, the watch continues on another node from the last index it saw.
func TestClientWatchFailsOver(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	ctx := testContext(t)
	fi := c.Follower()
	var others []string
	for i, n := range c.Nodes {
		if i != fi {
			others = append(others, n.RPCAddr)
		}
	}
	// The client tries the follower first.
	cl, err := meta.NewClient(append([]string{c.Nodes[fi].RPCAddr}, others...), cluster.DialOptions{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	start := waitConverged(t, c).Index
	got := make(chan *metapb.Data, 100)
	done := make(chan error, 1)
	go func() {
		done <- cl.Watch(ctx, start, func(d *metapb.Data) error {
			got <- d
			if meta.FindUser(d, "after") != nil {
				return errEnough
			}
			return nil
		}, nil)
	}()
	before := mustExecute(t, c, runningIndex(c), createHashedUser("before", testHash)).Index
	first := <-got
	if first.Index != before {
		t.Fatalf("first state at %d, want %d", first.Index, before)
	}
	c.Kill(fi)
	after := mustExecute(t, c, runningIndex(c), createHashedUser("after", testHash)).Index
	if err := <-done; !errors.Is(err, errEnough) {
		t.Fatalf("Client.Watch: %v", err)
	}
	close(got)
	states := []*metapb.Data{first}
	for d := range got {
		states = append(states, d)
	}
	checkCommittedPrefixes(t, "Client.Watch across a node failure", states, start,
		[]string{"after", "before"}, map[string]uint64{"before": before, "after": after})
}

// TestClientWatchReturnsCallbackError: when the callback fails, Watch
// returns its error at once and calls it no more.
func TestClientWatchReturnsCallbackError(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	cl := c.Client(testSecret)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	calls := 0
	err := cl.Watch(ctx, 0, func(*metapb.Data) error {
		calls++
		return errEnough
	}, nil)
	if !errors.Is(err, errEnough) {
		t.Fatalf("Watch returned %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Fatalf("callback called %d times after failing, want 1", calls)
	}
}
