package meta_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// staleToken sends a token minted with the right secret at a fixed offset
// from now (outside the token lifetime when the offset is large).
type staleToken struct {
	secret string
	offset time.Duration
}

func (s staleToken) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	ri, _ := credentials.RequestInfoFromContext(ctx)
	return map[string]string{cluster.TokenHeader: cluster.MintToken([]byte(s.secret), ri.Method, cluster.TargetOf(uri...), time.Now().Add(s.offset))}, nil
}

func (staleToken) RequireTransportSecurity() bool { return false }

// rawClient dials addr with the given per-RPC credentials (none when nil).
func rawClient(t *testing.T, addr string, creds ...grpc.DialOption) metapb.MetaServiceClient {
	t.Helper()
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, creds...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return metapb.NewMetaServiceClient(conn)
}

func wantUnauthenticated(t *testing.T, what string, err error) {
	t.Helper()
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("%s: got %v, want codes.Unauthenticated", what, err)
	}
	for _, s := range []string{testSecret, "wrong-secret-of-the-same-size"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("%s: error %q reveals a secret", what, err)
		}
	}
}

// TestInternalSecretRequired: without the right internal secret (wrong one,
// none, or a token outside its lifetime) every MetaService RPC, unary or
// stream, on the leader and on a follower, is refused with
// codes.Unauthenticated and changes nothing; the right secret works.
func TestInternalSecretRequired(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	before := states(t, c)
	intruder := createUser("intruder", "intruder-pw", true)

	for _, tc := range []struct {
		name  string
		creds []grpc.DialOption
	}{
		{"wrong secret", []grpc.DialOption{grpc.WithPerRPCCredentials(cluster.TokenCredentials("wrong-secret-of-the-same-size", false))}},
		{"no token", nil},
		{"expired token", []grpc.DialOption{grpc.WithPerRPCCredentials(staleToken{testSecret, -2 * cluster.TokenLifetime})}},
		{"token from the future", []grpc.DialOption{grpc.WithPerRPCCredentials(staleToken{testSecret, 2 * cluster.TokenLifetime})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			for _, n := range []*testcluster.Node{c.Leader(), c.Nodes[c.Follower()]} {
				mc := rawClient(t, n.RPCAddr, tc.creds...)
				_, err := mc.Execute(ctx, &metapb.ExecuteRequest{Command: intruder})
				wantUnauthenticated(t, "Execute", err)
				_, err = mc.RegisterDataNode(ctx, &metapb.RegisterDataNodeRequest{HttpAddr: "h:1", TcpAddr: "h:2"})
				wantUnauthenticated(t, "RegisterDataNode", err)
				_, err = mc.AddMetaNode(ctx, &metapb.AddMetaNodeRequest{RaftAddr: "127.0.0.1:1", RpcAddr: "127.0.0.1:2"})
				wantUnauthenticated(t, "AddMetaNode", err)
				_, err = mc.RemoveNode(ctx, &metapb.RemoveNodeRequest{Node: &metapb.RemoveNodeRequest_MetaRaftAddr{MetaRaftAddr: n.RaftAddr}})
				wantUnauthenticated(t, "RemoveNode", err)
				_, err = mc.Snapshot(ctx, &metapb.SnapshotRequest{})
				wantUnauthenticated(t, "Snapshot", err)
				_, err = mc.Status(ctx, &metapb.StatusRequest{})
				wantUnauthenticated(t, "Status", err)
				stream, err := mc.Watch(ctx, &metapb.WatchRequest{})
				if err == nil {
					_, err = stream.Recv()
				}
				wantUnauthenticated(t, "Watch", err)
			}
			if tc.name == "wrong secret" || tc.name == "no token" {
				secret := map[string]string{"wrong secret": "wrong-secret-of-the-same-size", "no token": ""}[tc.name]
				cl := c.Client(secret)
				_, err := cl.Execute(ctx, intruder)
				wantUnauthenticated(t, "Client.Execute", err)
				// Client.Watch never gives up (a secret mismatch on one node
				// must not stop a data node from following the others): it
				// reports the refusal of each node and keeps trying.
				calls := 0
				wctx, wcancel := context.WithCancel(ctx)
				refused := map[string]bool{}
				err = cl.Watch(wctx, 0, func(*metapb.Data) error { calls++; return nil }, func(addr string, err error) {
					wantUnauthenticated(t, "Client.Watch", err)
					if refused[addr] = true; len(refused) == len(c.Nodes) {
						wcancel()
					}
				})
				wcancel()
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Client.Watch returned %v, want it to keep trying until cancelled", err)
				}
				if calls != 0 {
					t.Fatalf("Client.Watch delivered %d states without the secret", calls)
				}
			}
			assertUnchanged(t, c, before)
		})
	}

	t.Run("right secret", func(t *testing.T) {
		ctx := testContext(t)
		cl := c.Client(testSecret)
		resp, err := cl.Execute(ctx, createUser("insider", "insider-pw", false))
		if err != nil {
			t.Fatalf("Execute with the right secret: %v", err)
		}
		var got *metapb.Data
		err = cl.Watch(ctx, 0, func(d *metapb.Data) error {
			if d.Index >= resp.Index {
				got = d
				return errEnough
			}
			return nil
		}, nil)
		if !errors.Is(err, errEnough) || meta.FindUser(got, "insider") == nil {
			t.Fatalf("Watch with the right secret: %v, state %v", err, got)
		}
		if _, err := rawClient(t, c.Leader().RPCAddr, grpc.WithPerRPCCredentials(staleToken{testSecret, 0})).
			Status(ctx, &metapb.StatusRequest{}); err != nil {
			t.Fatalf("Status with a fresh token: %v", err)
		}
	})
}
