package meta_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/proto/metapb"
)

// wiretap records the internal token of each RPC a legitimate client sends,
// as an eavesdropper on a plaintext connection would see it.
type wiretap struct {
	credentials.PerRPCCredentials
	mu     sync.Mutex
	tokens map[string]string // full method → last token sent
}

func (w *wiretap) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	md, err := w.PerRPCCredentials.GetRequestMetadata(ctx, uri...)
	if err != nil {
		return nil, err
	}
	ri, _ := credentials.RequestInfoFromContext(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tokens[ri.Method] = md[cluster.TokenHeader]
	return md, nil
}

func (w *wiretap) token(t *testing.T, method string) string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	tok, ok := w.tokens[method]
	if !ok {
		t.Fatalf("no token seen for %s", method)
	}
	return tok
}

// TestCapturedInternalTokenCannotBeReplayed (issue 6, point 9; issue 17): an
// eavesdropper who saw the internal token of a legitimate RPC (TLS is off by
// default) sends it again, at once, to the same node: on the same RPC, and on
// Snapshot (every bcrypt hash and JWT secret) and Execute (an admin of its
// own); and to another meta node, which has not seen it. Every call is
// refused with codes.Unauthenticated and nothing changes.
func TestCapturedInternalTokenCannotBeReplayed(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	before := states(t, c)
	ctx := testContext(t)
	target := c.Nodes[c.Follower()]

	tap := &wiretap{PerRPCCredentials: cluster.TokenCredentials(testSecret, false), tokens: map[string]string{}}
	victim := rawClient(t, target.RPCAddr, grpc.WithPerRPCCredentials(tap))
	if _, err := victim.Status(ctx, &metapb.StatusRequest{}); err != nil {
		t.Fatalf("legitimate Status: %v", err)
	}
	if _, err := victim.Snapshot(ctx, &metapb.SnapshotRequest{}); err != nil {
		t.Fatalf("legitimate Snapshot: %v", err)
	}
	// A legitimate Execute whose command the state machine refuses, so that
	// the state stays as it was.
	if _, err := victim.Execute(ctx, &metapb.ExecuteRequest{Command: dropUser("no such user")}); status.Code(err) == codes.Unauthenticated {
		t.Fatalf("legitimate Execute: %v", err)
	}
	stream, err := victim.Watch(ctx, &metapb.WatchRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if err != nil {
		t.Fatalf("legitimate Watch: %v", err)
	}

	const svc = "/palisade.meta.v1.MetaService/"
	statusTok := tap.token(t, svc+"Status")
	attacker := rawClient(t, target.RPCAddr) // sends no token of its own
	with := func(tok string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, cluster.TokenHeader, tok)
	}
	intruder := &metapb.ExecuteRequest{Command: createHashedUser("intruder", testHash)}
	// Another meta node, which has not seen the tokens (issue 17: tokens
	// are bound to the node they were sent to).
	other := c.Leader()
	elsewhere := rawClient(t, other.RPCAddr)
	elsewhereAsVictim := rawClient(t, other.RPCAddr, grpc.WithAuthority(target.RPCAddr))
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"Status token replayed on Status", func() error {
			_, err := attacker.Status(with(statusTok), &metapb.StatusRequest{})
			return err
		}, cluster.ErrTokenReplayed},
		{"Status token used on Snapshot", func() error {
			_, err := attacker.Snapshot(with(statusTok), &metapb.SnapshotRequest{})
			return err
		}, cluster.ErrTokenInvalid},
		{"Status token used on Execute", func() error {
			_, err := attacker.Execute(with(statusTok), intruder)
			return err
		}, cluster.ErrTokenInvalid},
		{"Snapshot token replayed on Snapshot", func() error {
			_, err := attacker.Snapshot(with(tap.token(t, svc+"Snapshot")), &metapb.SnapshotRequest{})
			return err
		}, cluster.ErrTokenReplayed},
		{"Execute token replayed with another command", func() error {
			_, err := attacker.Execute(with(tap.token(t, svc+"Execute")), intruder)
			return err
		}, cluster.ErrTokenReplayed},
		{"Snapshot token replayed to another meta node", func() error {
			_, err := elsewhere.Snapshot(with(tap.token(t, svc+"Snapshot")), &metapb.SnapshotRequest{})
			return err
		}, cluster.ErrTokenInvalid},
		{"Snapshot token replayed to another meta node, naming the victim's address", func() error {
			_, err := elsewhereAsVictim.Snapshot(with(tap.token(t, svc+"Snapshot")), &metapb.SnapshotRequest{})
			return err
		}, cluster.ErrTokenTarget},
		{"Watch token replayed on Watch", func() error {
			s, err := attacker.Watch(with(tap.token(t, svc+"Watch")), &metapb.WatchRequest{})
			if err == nil {
				_, err = s.Recv()
			}
			return err
		}, cluster.ErrTokenReplayed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantUnauthenticated(t, tc.name, err)
			if !strings.Contains(status.Convert(err).Message(), tc.want.Error()) {
				t.Fatalf("refused with %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), statusTok) {
				t.Fatalf("the error repeats the token: %v", err)
			}
		})
	}
	assertUnchanged(t, c, before)
}
