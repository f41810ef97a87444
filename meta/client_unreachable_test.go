package meta_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// A meta address that accepts connections but never answers (a hung node)
// costs one connect timeout, then the client moves on to the next address.
func TestClientSkipsSilentNode(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 1})
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // hold it open, say nothing
		}
	}()
	cl, err := meta.NewClient([]string{silent.Addr().String(), c.Nodes[0].RPCAddr}, cluster.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*cluster.ConnectTimeout)
	defer cancel()
	start := time.Now()
	_, err = cl.Execute(ctx, &metapb.Command{Op: &metapb.Command_CreateDatabase{CreateDatabase: &metapb.CreateDatabase{Name: "db0"}}})
	if err != nil {
		t.Fatalf("Execute with a silent first node: %v (after %v)", err, time.Since(start))
	}
}
