package peer

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/data/metastate"
	"github.com/palisade-db/palisade/proto/datapb"
	"github.com/palisade-db/palisade/proto/metapb"
)

// answering is a data service that answers AwaitMetaIndex.
type answering struct {
	datapb.UnimplementedDataServiceServer
}

func (answering) AwaitMetaIndex(context.Context, *datapb.AwaitMetaIndexRequest) (*datapb.AwaitMetaIndexResponse, error) {
	return &datapb.AwaitMetaIndexResponse{}, nil
}

// TestCircuitOpensOnSilenceAndClosesOnAnswer: a call that a node does not
// answer opens its circuit (the node is not Reachable, so reads go to the
// other owners first) until a call is answered; the caller giving up says
// nothing about the node; while the circuit is open, the node is probed
// once per cooldown in the background, and its answer closes the circuit.
func TestCircuitOpensOnSilenceAndClosesOnAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	datapb.RegisterDataServiceServer(srv, answering{})
	go srv.Serve(ln)
	defer srv.Stop()
	dead, err := net.Listen("tcp", "127.0.0.1:0") // closed at once: connections are refused
	if err != nil {
		t.Fatal(err)
	}
	dead.Close()

	view := metastate.NewView()
	view.Update(&metapb.Data{Index: 1, DataNodes: []*metapb.DataNode{
		{Id: 2, TcpAddr: ln.Addr().String()}, {Id: 3, TcpAddr: ln.Addr().String()}, {Id: 4, TcpAddr: dead.Addr().String()},
	}}, nil)
	p := New(view, cluster.DialOptions{})
	defer p.Close()
	var mu sync.Mutex
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	p.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ctx := context.Background()
	silent := status.Error(codes.DeadlineExceeded, "no answer from data node within 10s")

	p.Record(ctx, 2, silent)
	if p.Available(2) || p.Reachable(2) {
		t.Fatal("a node that did not answer is still reachable")
	}
	p.Record(ctx, 2, status.Error(codes.NotFound, "shard 7 does not exist"))
	if !p.Available(2) || !p.Reachable(2) {
		t.Fatal("a node that answered (with an error) is still cut off")
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	p.Record(canceled, 3, status.Error(codes.Canceled, "context canceled"))
	if !p.Available(3) {
		t.Fatal("a call its caller gave up on opened the node's circuit")
	}

	// Probes: none before the cooldown, then one that the node answers.
	p.Record(ctx, 2, silent)
	time.Sleep(50 * time.Millisecond)
	if p.Available(2) {
		t.Fatal("the circuit closed before the cooldown")
	}
	advance(breakerCooldown)
	deadline := time.Now().Add(5 * time.Second)
	for !p.Available(2) {
		if time.Now().After(deadline) {
			t.Fatal("the probe of a node that answers did not close its circuit")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// A node that refuses stays cut off, probed once per cooldown.
	p.Record(ctx, 4, silent)
	advance(breakerCooldown)
	if p.Available(4) {
		t.Fatal("a refusing node is available")
	}
	time.Sleep(200 * time.Millisecond) // the probe fails
	if p.Available(4) {
		t.Fatal("a failed probe closed the circuit")
	}
	p.breakers.mu.Lock()
	c := p.breakers.open[4]
	probing, next := c.probing, c.next
	p.breakers.mu.Unlock()
	if probing || !next.After(p.now()) {
		t.Fatalf("after a failed probe: probing %v, next probe at %v (now %v): want one more after the cooldown", probing, next, p.now())
	}
}
