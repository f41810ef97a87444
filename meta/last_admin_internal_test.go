package meta

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

func userCmd(name string, admin bool) *metapb.Command {
	return cmdOf(&metapb.CreateUser{Name: name, Hash: validHash, Admin: admin})
}

// TestLastAdminCannotBeRemoved (issue 6, point 12): dropping the last admin
// or taking its admin flag would leave users without an admin, which
// reopens the unauthenticated admin bootstrap on the data nodes. Both are
// refused and change nothing; dropping the only user of all is allowed
// (the cluster is then as new).
func TestLastAdminCannotBeRemoved(t *testing.T) {
	withDB := cmdOf(&metapb.CreateDatabase{Name: "db"})
	for _, tc := range []struct {
		name  string
		start []*metapb.Command
		cmd   *metapb.Command
		want  error // nil: accepted
	}{
		{"drop the last admin", []*metapb.Command{userCmd("admin", true), userCmd("bob", false)},
			cmdOf(&metapb.DropUser{Name: "admin"}), ErrLastAdmin},
		{"admin flag off for the last admin (REVOKE ALL PRIVILEGES)", []*metapb.Command{userCmd("admin", true), userCmd("bob", false)},
			cmdOf(&metapb.SetAdmin{Name: "admin"}), ErrLastAdmin},
		// The user would stay, without an admin: refused although it is
		// the only user (DROP USER is the way back to a new cluster).
		{"admin flag off for the only user", []*metapb.Command{userCmd("admin", true)},
			cmdOf(&metapb.SetAdmin{Name: "admin"}), ErrLastAdmin},
		{"drop the only user", []*metapb.Command{userCmd("admin", true)},
			cmdOf(&metapb.DropUser{Name: "admin"}), nil},
		{"drop one of two admins", []*metapb.Command{userCmd("admin", true), userCmd("root", true), userCmd("bob", false)},
			cmdOf(&metapb.DropUser{Name: "root"}), nil},
		{"admin flag off for one of two admins", []*metapb.Command{userCmd("admin", true), userCmd("root", true), userCmd("bob", false)},
			cmdOf(&metapb.SetAdmin{Name: "root"}), nil},
		{"drop a non-admin", []*metapb.Command{userCmd("admin", true), userCmd("bob", false)},
			cmdOf(&metapb.DropUser{Name: "bob"}), nil},
		{"admin flag off for a non-admin", []*metapb.Command{userCmd("admin", true), userCmd("bob", false)},
			cmdOf(&metapb.SetAdmin{Name: "bob"}), nil},
		{"admin flag on for the last admin", []*metapb.Command{userCmd("admin", true), userCmd("bob", false)},
			cmdOf(&metapb.SetAdmin{Name: "admin", Admin: true}), nil},
		// Database privileges never touch the admin flag.
		{"revoke a database privilege from the last admin", []*metapb.Command{userCmd("admin", true), userCmd("bob", false), withDB,
			cmdOf(&metapb.SetPrivilege{Name: "admin", Database: "db", Privilege: metapb.Privilege_PRIVILEGE_ALL})},
			cmdOf(&metapb.SetPrivilege{Name: "admin", Database: "db"}), nil},
		{"drop the database the last admin has privileges on", []*metapb.Command{userCmd("admin", true), userCmd("bob", false), withDB,
			cmdOf(&metapb.SetPrivilege{Name: "admin", Database: "db", Privilege: metapb.Privilege_PRIVILEGE_ALL})},
			cmdOf(&metapb.DropDatabase{Name: "db"}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := applyAll(t, tc.start...)
			before := proto.Clone(d).(*metapb.Data)
			next, res := apply(d, tc.cmd, 100)
			if tc.want != nil {
				if !errors.Is(res.err, tc.want) || res.err.Error() != "cannot remove the last admin user" {
					t.Fatalf("got %v, want %q", res.err, tc.want)
				}
				if next != d || !proto.Equal(d, before) {
					t.Fatalf("a refused command changed the state")
				}
				return
			}
			if res.err != nil {
				t.Fatalf("refused: %v", res.err)
			}
			if len(next.Users) > 0 && !HasAdmin(next) {
				t.Fatalf("accepted, and left users without an admin: %v", next.Users)
			}
		})
	}
}

// TestRacingAdminRemovalsKeepOneAdmin: two admins each remove the other
// (drop, or flag off) at once. Each command was valid where it was
// decided, but the state machine applies them in log order and refuses the
// second.
func TestRacingAdminRemovalsKeepOneAdmin(t *testing.T) {
	for _, second := range []*metapb.Command{
		cmdOf(&metapb.DropUser{Name: "b"}),
		cmdOf(&metapb.SetAdmin{Name: "b"}),
	} {
		d := applyAll(t, userCmd("a", true), userCmd("b", true), userCmd("c", false),
			cmdOf(&metapb.DropUser{Name: "a"}))
		if _, res := apply(d, second, 100); !errors.Is(res.err, ErrLastAdmin) {
			t.Fatalf("%v after the other admin was dropped: got %v, want ErrLastAdmin", second, res.err)
		}
	}
}
