package meta_test

import (
	"testing"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/proto/metapb"
)

func TestSmoke(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: "s3cret-internal"})
	f := c.Follower()
	resp, err := c.Execute(f, &metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{Name: "alice", Password: "pw", Admin: true}}})
	if err != nil {
		t.Fatal(err)
	}
	c.WaitForIndex(resp.Index)
	for _, n := range c.Nodes {
		if u := n.Store.Data().Users; len(u) != 1 || u[0].Name != "alice" {
			t.Fatalf("node %s users %v", n.RaftAddr, u)
		}
	}
}
