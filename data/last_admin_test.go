package data_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/palisade-db/palisade/internal/testcluster"
)

// TestLastAdminCannotBeRemovedOverHTTP (issue 6, point 12): REVOKE ALL
// PRIVILEGES FROM and DROP USER of the only admin, with other users left,
// would reopen the unauthenticated admin bootstrap to anyone. Both are
// refused with a statement error; the admin keeps working and the bootstrap
// stays closed. (InfluxDB 1.x allows both: Palisade does better.)
func TestLastAdminCannotBeRemovedOverHTTP(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: authOn(localSecret)})
	setupUsers(t, d.URL)
	admin := basic("admin", adminPW)
	const refused = "cannot remove the last admin user"

	for _, q := range []string{"REVOKE ALL PRIVILEGES FROM admin", "DROP USER admin"} {
		r := query(t, d.URL, q, admin)
		if r.status != http.StatusOK || r.statementError() != refused {
			t.Fatalf("%s: %d %s, want 200 with statement error %q", q, r.status, r.body, refused)
		}
	}
	r := mustQuery(t, d.URL, "SHOW USERS", admin)
	if !strings.Contains(r.body, `["admin",true]`) {
		t.Fatalf("SHOW USERS after the refusals: %s", r.body)
	}
	mustQuery(t, d.URL, "CREATE DATABASE db2", admin)
	r = query(t, d.URL, "CREATE USER mallory WITH PASSWORD 'mallory-pw' WITH ALL PRIVILEGES", noCred)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("unauthenticated admin bootstrap after the refusals: %d %s", r.status, r.body)
	}

	// With a second admin the first may go; the second is then the last.
	mustQuery(t, d.URL, "CREATE USER root WITH PASSWORD 'root-pw' WITH ALL PRIVILEGES", admin)
	mustQuery(t, d.URL, "REVOKE ALL PRIVILEGES FROM admin", admin)
	root := basic("root", "root-pw")
	for _, q := range []string{"REVOKE ALL PRIVILEGES FROM root", "DROP USER root"} {
		if r := query(t, d.URL, q, root); r.statementError() != refused {
			t.Fatalf("%s: %d %s, want statement error %q", q, r.status, r.body, refused)
		}
	}
	mustQuery(t, d.URL, "DROP USER admin", root)
	mustQuery(t, d.URL, "SHOW DATABASES", root)
}
