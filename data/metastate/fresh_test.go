package metastate_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/data/metastate"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// TestFreshWaitsForTheClustersNewestState (issue 19, point 1): a node whose
// state has not been confirmed current lately (it missed changes: stopped,
// cut off) asks the meta leader for its index before it answers, and
// refuses (an error: 503) while it cannot reach that index; once it has,
// it answers, and asks no more while its state is young. With no meta
// node to ask, it serves from what it has.
func TestFreshWaitsForTheClustersNewestState(t *testing.T) {
	const secret = "fresh-test-secret"
	mc := testcluster.New(t, testcluster.Options{Meta: 1, Secret: secret})
	view := metastate.NewView()
	f, err := metastate.NewFollower(metastate.FollowerConfig{
		Logger: slog.New(slog.DiscardHandler), Client: mc.Client(secret), View: view, Dir: t.TempDir(),
		HTTPAddr: "127.0.0.1:18086", TCPAddr: "127.0.0.1:18088", HeartbeatEvery: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.Register(ctx); err != nil {
		t.Fatal(err)
	}
	// The node follows nothing (no Run): every change passes it by.
	resp, err := mc.Execute(mc.LeaderIndex(), &metapb.Command{Op: &metapb.Command_CreateDatabase{CreateDatabase: &metapb.CreateDatabase{Name: "missed"}}})
	if err != nil {
		t.Fatal(err)
	}
	const bound = 400 * time.Millisecond
	err = f.Fresh(ctx, bound)
	if err == nil || !strings.Contains(err.Error(), "is behind the meta cluster's") {
		t.Fatalf("Fresh with the state behind: %v, want an error saying so", err)
	}
	if f.LeaderIndex() < resp.Index {
		t.Fatalf("the leader's index %d was not asked (change at %d)", f.LeaderIndex(), resp.Index)
	}

	// Applied meanwhile (as Watch would): Fresh waits for it and passes.
	go func() {
		time.Sleep(50 * time.Millisecond)
		view.Update(mc.Leader().Store.Data(), nil)
	}()
	if err := f.Fresh(ctx, bound); err != nil {
		t.Fatalf("Fresh once the state catches up: %v", err)
	}
	if age := f.Age(time.Now()); age < 0 || age > bound/2 {
		t.Fatalf("state age %s after a successful check, want it confirmed", age)
	}

	// Young: no call, even with a change pending.
	if _, err := mc.Execute(mc.LeaderIndex(), &metapb.Command{Op: &metapb.Command_CreateDatabase{CreateDatabase: &metapb.CreateDatabase{Name: "later"}}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Fresh(ctx, bound); err != nil {
		t.Fatalf("Fresh with a young state: %v, want no check", err)
	}

	// Young, but about to answer "not found": Sync asks all the same.
	go func() {
		time.Sleep(50 * time.Millisecond)
		view.Update(mc.Leader().Store.Data(), nil)
	}()
	if err := f.Sync(ctx, bound); err != nil || meta.FindDatabase(view.Data(), "later") == nil {
		t.Fatalf("Sync with a young state: %v, database later known: %v", err, meta.FindDatabase(view.Data(), "later") != nil)
	}

	// The meta cluster away: served from what the node has.
	time.Sleep(bound / 2)
	mc.Kill(mc.LeaderIndex())
	start := time.Now()
	if err := f.Fresh(ctx, bound); err != nil {
		t.Fatalf("Fresh with no meta node: %v, want the node to serve", err)
	}
	if err := f.Fresh(ctx, bound); err != nil || time.Since(start) > 2*bound {
		t.Fatalf("Fresh again with no meta node: %v after %s, want at once", err, time.Since(start))
	}
}
