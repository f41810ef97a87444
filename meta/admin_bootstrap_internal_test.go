package meta

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// applyAll applies cmds in order from an empty state, failing on a refusal.
func applyAll(t *testing.T, cmds ...*metapb.Command) *metapb.Data {
	t.Helper()
	d := &metapb.Data{}
	for i, cmd := range cmds {
		next, res := apply(d, cmd, uint64(i+1))
		if res.err != nil {
			t.Fatalf("command %d (%v): %v", i+1, cmd, res.err)
		}
		d = next
	}
	return d
}

func bootstrapUser(name string) *metapb.Command {
	return cmdOf(&metapb.CreateUser{Name: name, Hash: validHash, Admin: true, Bootstrap: true})
}

// TestRacingAdminBootstrapsInTheLogOnlyFirstPasses (issue 6, point 2b): two
// data nodes that both saw no admin each let an unauthenticated client
// bootstrap one. Both commands reach the log; the state machine, deciding in
// log order, accepts the first and refuses the second, which changes
// nothing.
func TestRacingAdminBootstrapsInTheLogOnlyFirstPasses(t *testing.T) {
	// Users without an admin (made with palisade-ctl before any admin): the
	// bootstrap is still open.
	d := applyAll(t, cmdOf(&metapb.CreateUser{Name: "bob", Hash: validHash}))
	if HasAdmin(d) {
		t.Fatalf("HasAdmin with only a non-admin user")
	}
	first, res := apply(d, bootstrapUser("mallory"), 2)
	if res.err != nil {
		t.Fatalf("first bootstrap refused: %v", res.err)
	}
	if u := FindUser(first, "mallory"); u == nil || !u.Admin || !HasAdmin(first) {
		t.Fatalf("first bootstrap did not create an admin: %v", first)
	}
	want := proto.Clone(first).(*metapb.Data)
	for _, name := range []string{"eve", "mallory"} {
		next, res := apply(first, bootstrapUser(name), 3)
		if !errors.Is(res.err, ErrAdminExists) {
			t.Fatalf("second bootstrap (%s): got %v, want ErrAdminExists", name, res.err)
		}
		if next != first || !proto.Equal(first, want) {
			t.Fatalf("a refused bootstrap changed the state")
		}
	}
	// Without the bootstrap mark, an admin may still be created: the
	// caller was authenticated by the node that sent it.
	if _, res := apply(first, cmdOf(&metapb.CreateUser{Name: "eve", Hash: validHash, Admin: true}), 3); res.err != nil {
		t.Fatalf("authenticated admin creation refused: %v", res.err)
	}
}
