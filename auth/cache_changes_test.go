package auth

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/palisade-db/palisade/proto/metapb"
)

// TestUpdateChangedMatchesUpdate: a cache told only which users changed
// ends, after every state of a random history, where a cache rebuilt from
// each whole state ends: the same users with the same admin flags,
// privileges and hashes, the same admin-exists answer and dummy cost; and a
// user whose hash did not change keeps its remembered password.
func TestUpdateChangedMatchesUpdate(t *testing.T) {
	hashes := [][]byte{mustHashCost(t, "a", bcrypt.MinCost), mustHashCost(t, "b", bcrypt.MinCost+1)}
	r := rand.New(rand.NewPCG(3, 4))
	full, delta := NewCache(Options{}), NewCache(Options{})
	var users []*metapb.User
	for step := range 400 {
		name := fmt.Sprintf("u%02d", r.IntN(30))
		i, found := slices.BinarySearchFunc(users, name, func(u *metapb.User, n string) int {
			if u.Name < n {
				return -1
			} else if u.Name > n {
				return 1
			}
			return 0
		})
		users = slices.Clone(users)
		if found && r.IntN(3) == 0 {
			users = slices.Delete(users, i, i+1)
		} else {
			u := &metapb.User{Name: name, Hash: hashes[r.IntN(2)], Admin: r.IntN(4) == 0,
				Privileges: map[string]metapb.Privilege{"db": metapb.Privilege(r.IntN(4))}}
			if found {
				users[i] = u
			} else {
				users = slices.Insert(users, i, u)
			}
		}
		d := &metapb.Data{Users: users, JwtSecrets: testSecrets()}
		full.Update(d)
		delta.UpdateChanged(d, []string{name})
		for k := range 30 {
			n := fmt.Sprintf("u%02d", k)
			a, b := full.Lookup(n), delta.Lookup(n)
			if (a == nil) != (b == nil) || a != nil && (a.admin != b.admin || string(a.hash) != string(b.hash) ||
				a.privileges["db"] != b.privileges["db"]) {
				t.Fatalf("step %d: user %s differs: whole state %+v, changes %+v", step, n, a, b)
			}
		}
		fs, ds := full.snap.Load(), delta.snap.Load()
		if fs.adminExists != ds.adminExists || fs.dummyCost != ds.dummyCost || fs.users.Len() != ds.users.Len() {
			t.Fatalf("step %d: admin %v/%v, dummy cost %d/%d, users %d/%d", step, fs.adminExists, ds.adminExists,
				fs.dummyCost, ds.dummyCost, fs.users.Len(), ds.users.Len())
		}
	}
}

func mustHashCost(t *testing.T, pw string, cost int) []byte {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
