package meta_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// deltaWatch opens a Watch stream that asks for deltas.
func deltaWatch(t *testing.T, ctx context.Context, addr string, index uint64) metapb.MetaService_WatchClient {
	t.Helper()
	conn, err := cluster.Dial(addr, cluster.DialOptions{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := metapb.NewMetaServiceClient(conn).Watch(ctx, &metapb.WatchRequest{Index: index, Deltas: true})
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// TestWatchSendsChanges: a watcher that asks for deltas gets each change
// as the change: small whatever the state's size, applying to the state it
// holds, on the leader and on a follower (which relays the leader); a
// watcher that resumes at a recent index gets a delta at once.
func TestWatchSendsChanges(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	for i := range 60 {
		mustExecute(t, c, 0, createDatabase(fmt.Sprintf("big%03d", i)))
	}
	for i := range 40 {
		mustExecute(t, c, 0, createHashedUser(fmt.Sprintf("user%03d", i), testHash))
	}
	base := waitConverged(t, c)
	ctx := testContext(t)

	for _, node := range []*testcluster.Node{c.Leader(), c.Nodes[c.Follower()]} {
		cur := waitConverged(t, c)
		stream := deltaWatch(t, ctx, node.RPCAddr, cur.Index)
		for i := range 5 {
			resp := mustExecute(t, c, i%3, createHashedUser(fmt.Sprintf("n%s%d", node.RPCAddr, i), testHash))
			for cur.Index < resp.Index {
				msg, err := stream.Recv()
				if err != nil {
					t.Fatal(err)
				}
				if msg.Delta == nil {
					t.Fatalf("%s: a whole state (%d bytes) where a delta was asked for", node.RPCAddr, proto.Size(msg.Data))
				}
				if size, whole := proto.Size(msg.Delta), proto.Size(cur); size*10 > whole {
					t.Fatalf("%s: a delta of %d bytes for one user, against a state of %d", node.RPCAddr, size, whole)
				}
				next, ch, err := meta.ApplyDelta(cur, msg.Delta)
				if err != nil {
					t.Fatal(err)
				}
				if len(ch.Databases) != 0 || len(ch.Users) != 1 {
					t.Fatalf("one new user changed databases %v and users %v", ch.Databases, ch.Users)
				}
				cur = next
			}
		}
		want := waitConverged(t, c)
		if !proto.Equal(cur, want) {
			t.Fatalf("%s: the deltas made another state than the cluster's at %d", node.RPCAddr, want.Index)
		}
	}

	// Resuming at a recent index: a delta from it, at once.
	now := waitConverged(t, c)
	for _, n := range c.Nodes {
		msg, err := deltaWatch(t, ctx, n.RPCAddr, base.Index).Recv()
		if err != nil {
			t.Fatal(err)
		}
		if msg.Delta == nil || msg.Delta.BaseIndex != base.Index {
			t.Fatalf("%s: resuming at %d got no delta from it", n.RPCAddr, base.Index)
		}
		got, _, err := meta.ApplyDelta(base, msg.Delta)
		if err != nil || !proto.Equal(got, now) {
			t.Fatalf("%s: resumed at %d: %v", n.RPCAddr, base.Index, err)
		}
	}
}

// TestFollowResyncsAfterABadDelta: Client.Follow from a state that is not
// the cluster's at that index (another cluster's, as after a rejoin) asks
// for a whole state instead of applying the delta to it, then follows.
func TestFollowResyncsAfterABadDelta(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 1, Secret: testSecret})
	mustExecute(t, c, 0, createDatabase("mine"))
	real := waitConverged(t, c)
	foreign := proto.CloneOf(real)
	foreign.ClusterId = "another-cluster"
	foreign.Databases = nil
	ctx := testContext(t)
	var got []meta.Update
	done := make(chan error, 1)
	go func() {
		done <- c.Client(testSecret).Follow(ctx, foreign, func(u meta.Update) error {
			got = append(got, u)
			if meta.FindUser(u.Data, "second") != nil {
				return errEnough
			}
			return nil
		}, nil)
	}()
	mustExecute(t, c, 0, createHashedUser("first", testHash))
	mustExecute(t, c, 0, createHashedUser("second", testHash))
	if err := <-done; !errors.Is(err, errEnough) {
		t.Fatal(err)
	}
	last := got[len(got)-1].Data
	if !proto.Equal(last, waitConverged(t, c)) || meta.FindDatabase(last, "mine") == nil {
		t.Fatalf("Follow from a foreign state ended at a state that is not the cluster's")
	}
	if got[0].Delta != nil {
		t.Fatal("the first update after a refused delta was a delta again")
	}
}
