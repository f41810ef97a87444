package meta

import (
	"errors"
	"testing"

	"github.com/palisade-db/palisade/proto/metapb"
	"google.golang.org/protobuf/proto"
)

// TestMarkDataNodeStale (issue 19, point 1): the mark is set at the
// missed index, never moved back, cleared with index 0; an unknown node
// changes nothing; and it needs feature level 8.
func TestMarkDataNodeStale(t *testing.T) {
	d := applyAll(t, cmdOf(&metapb.SetFeatureLevel{Level: levelStaleNodes}),
		cmdOf(&metapb.CreateDataNode{HttpAddr: "h1:8086", TcpAddr: "h1:8088"}))
	id := d.DataNodes[0].Id
	index := uint64(50)
	mark := func(node, at uint64) {
		t.Helper()
		next, res := apply(d, cmdOf(&metapb.MarkDataNodeStale{NodeId: node, Index: at}), index)
		if res.err != nil {
			t.Fatal(res.err)
		}
		d, index = next, index+1
	}
	for _, step := range []struct{ at, want uint64 }{{12, 12}, {9, 12}, {20, 20}, {0, 0}, {0, 0}, {7, 7}} {
		mark(id, step.at)
		if got := d.DataNodes[0].StaleIndex; got != step.want {
			t.Fatalf("after marking at %d: %d, want %d", step.at, got, step.want)
		}
	}
	before := proto.Clone(d.DataNodes[0])
	mark(id+100, 30)
	if len(d.DataNodes) != 1 || !proto.Equal(before, d.DataNodes[0]) {
		t.Fatalf("marking an unknown node changed the data nodes: %v", d.DataNodes)
	}
	old := applyAll(t, cmdOf(&metapb.SetFeatureLevel{Level: levelTruncatedGroups}),
		cmdOf(&metapb.CreateDataNode{HttpAddr: "h1:8086", TcpAddr: "h1:8088"}))
	if _, res := apply(old, cmdOf(&metapb.MarkDataNodeStale{NodeId: id, Index: 5}), 90); !errors.Is(res.err, ErrFeatureLevel) {
		t.Fatalf("below level 8: %v, want ErrFeatureLevel", res.err)
	}
}
