package httpd

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/palisade-db/palisade/proto/metapb"
)

// TestNotFoundIsDecidedOnTheNewestState (issue 19, point 2): before the
// handler answers that a database does not exist, that credentials are
// wrong or that a user may not do something, it brings the node's meta
// state up to the leader's (Config.Sync) and decides again: a database,
// user or privilege created through another node a moment ago is there.
// When the state cannot be brought up, the answer is 503, not a wrong
// "no". Requests whose answer is "yes" do not sync.
func TestNotFoundIsDecidedOnTheNewestState(t *testing.T) {
	var s *server
	syncs := 0
	// The newest state, which a sync brings: database newdb, user carol
	// with WRITE on it, reader with WRITE on db0 too.
	newest := stateOf(t, true)
	for _, u := range newest.Users {
		if u.Name == "reader" {
			u.Privileges = map[string]metapb.Privilege{"db0": metapb.Privilege_PRIVILEGE_ALL}
		}
	}
	newest.Users = append(newest.Users, &metapb.User{Name: "carol", Hash: userHash(t, "reader"),
		Privileges: map[string]metapb.Privilege{"newdb": metapb.Privilege_PRIVILEGE_WRITE}})
	var syncErr error
	s = newServer(t, func(c *Config) {
		c.Sync = func(context.Context) (bool, error) {
			syncs++
			if syncErr != nil {
				return false, syncErr
			}
			s.eng.mu.Lock()
			defer s.eng.mu.Unlock()
			if len(s.eng.dbs) == 3 {
				s.eng.dbs = append(s.eng.dbs, "newdb")
				s.cache.Update(newest)
				return true, nil
			}
			return false, nil
		}
	})
	w := func(db, user string) response {
		return s.do(req{method: http.MethodPost, target: "/write?db=" + db, body: "m v=1", user: user})
	}
	if r := w("db0", "admin"); r.status != http.StatusNoContent || syncs != 0 {
		t.Fatalf("a write that needs no sync: %d %s, %d syncs", r.status, r.body, syncs)
	}
	// reader has READ on db0 here; WRITE was granted elsewhere.
	if r := w("db0", "reader"); r.status != http.StatusNoContent || syncs != 1 {
		t.Fatalf("write with a privilege granted elsewhere: %d %s, %d syncs", r.status, r.body, syncs)
	}
	if r := w("newdb", "admin"); r.status != http.StatusNoContent {
		t.Fatalf("write to a database created elsewhere: %d %s", r.status, r.body)
	}
	// carol exists only in the newest state (the password is reader's).
	r := httpRequestAs(t, s, "carol", "readerpw", "/write?db=newdb")
	if r.status != http.StatusNoContent {
		t.Fatalf("write as a user created elsewhere: %d %s", r.status, r.body)
	}
	if r := w("nodb", "admin"); r.status != http.StatusNotFound {
		t.Fatalf("write to a database that exists nowhere: %d %s, want 404", r.status, r.body)
	}
	// A query reading a database this node does not know syncs first; one
	// reading databases it knows does not.
	before := syncs
	if r := s.do(req{target: "/query?db=db0&q=SELECT+*+FROM+m", user: "admin"}); r.status != http.StatusOK || syncs != before {
		t.Fatalf("query of a known database: %d %s, %d syncs", r.status, r.body, syncs-before)
	}
	if r := s.do(req{target: "/query?q=SHOW+MEASUREMENTS+ON+elsewhere", user: "admin"}); r.status != http.StatusOK || syncs != before+1 {
		t.Fatalf("query of an unknown database: %d %s, %d syncs, want 1", r.status, r.body, syncs-before)
	}
	// SHOW GRANTS for a user this node does not know (created elsewhere).
	before = syncs
	if r := s.do(req{target: "/query?q=SHOW+GRANTS+FOR+nosuchuser", user: "admin"}); r.status != http.StatusOK || syncs != before+1 {
		t.Fatalf("SHOW GRANTS for an unknown user: %d %s, %d syncs, want 1", r.status, r.body, syncs-before)
	}
	syncErr = errors.New("meta state at index 7 is behind the meta cluster's (9)")
	if r := w("stilldb", "admin"); r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "is behind") {
		t.Fatalf("a node that cannot catch up: %d %s, want 503", r.status, r.body)
	}
}

// httpRequestAs writes one point to target as user with password.
func httpRequestAs(t *testing.T, s *server, user, password, target string) response {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, target, strings.NewReader("m v=1"))
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(user, password)
	return serve(t, s.h, r)
}
