package main

import (
	"testing"

	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// TestCtlRefusesToRemoveTheLastAdmin (issue 6, point 12): `user admin
// <last admin> false` and `user drop <last admin>` would leave users
// without an admin, which lets anyone bootstrap one on the data nodes.
// palisade-ctl prints the refusal and exits non-zero; nothing changes.
func TestCtlRefusesToRemoveTheLastAdmin(t *testing.T) {
	tc := newTestCtl(t, 3)
	tc.execute(t, &metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{Name: "admin", Password: "admin-pw", Admin: true}}})
	tc.execute(t, &metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{Name: "bob", Password: "bob-pw"}}})

	for _, args := range [][]string{{"user", "admin", "admin", "false"}, {"user", "drop", "admin"}} {
		r := tc.run(t, "", args...)
		mustFail(t, r, exitFail, "cannot remove the last admin user")
		mustNotContain(t, r.stdout, "no longer admin", "Dropped")
	}
	if u := meta.FindUser(tc.data(t), "admin"); u == nil || !u.Admin {
		t.Fatalf("after the refusals: admin is %v, want an admin", u)
	}

	// With a second admin, the first may lose its flag.
	mustOK(t, tc.run(t, "", "user", "admin", "bob", "true"))
	mustOK(t, tc.run(t, "", "user", "admin", "admin", "false"))
	mustFail(t, tc.run(t, "", "user", "drop", "bob"), exitFail, "cannot remove the last admin user")
}
