package meta_test

import (
	"context"
	"errors"
	"testing"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
)

// TestRestartedNodeHasAppliedItsSnapshotIndex (issue 6, point 11): a
// refused command after the last change advances the applied index, not
// the state's. A node restarted from a snapshot taken then must report the
// snapshot's applied index: with the state's index instead, waiting for
// the refused command's index (as Execute's callers do) stalled until the
// next unrelated change.
func TestRestartedNodeHasAppliedItsSnapshotIndex(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	mustExecute(t, c, 0, createUser("alice", "alice-pw", false))
	_, err := c.Execute(0, dropUser("ghost"))
	var ce *meta.CommandError
	if !errors.As(err, &ce) || !errors.Is(err, meta.ErrUserNotFound) {
		t.Fatalf("dropping a missing user: %v, want a refused command", err)
	}
	c.WaitForIndex(ce.Index)
	n := c.Nodes[0]
	if got := n.Store.Data().Index; got >= ce.Index {
		t.Fatalf("setup: state index %d, want below the refused command's %d", got, ce.Index)
	}
	if err := n.Store.Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}

	// Every node down, then node 0 alone: without a quorum it applies no
	// log entry, so its applied index comes from its snapshot.
	for i := range c.Nodes {
		c.Kill(i)
	}
	c.Restart(0)
	st := c.Nodes[0].Store.State()
	if st.Applied < ce.Index {
		t.Fatalf("restored applied index %d, want at least the snapshot's %d (state index %d)", st.Applied, ce.Index, st.Data.Index)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the wait must not need any time at all
	if err := c.Nodes[0].Store.WaitForApplied(ctx, ce.Index); err != nil {
		t.Fatalf("WaitForApplied(%d) after restore: %v", ce.Index, err)
	}
}
