package data_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/internal/testcluster"
)

// Issue 7, point 4: every user and privilege statement answers as InfluxDB
// does. The script below ran once against Debian's influxd 1.6.7; its
// answers (status, X-Influxdb-Error, WWW-Authenticate, JSON body) are in
// usermgmtReferenceFile. TestUserManagementMatchesInfluxDB runs the same
// script against standalone Palisade nodes and compares every answer, except
// the differences listed in usermgmtDifferences, each with its reason.
//
// To record the reference again (needs influxd; nothing else does):
//
//	PALISADE_RECORD_REFERENCE=1 go test -count=1 -run TestUserManagementMatchesInfluxDB ./data/
//
// PALISADE_INFLUXD names the influxd binary (default: influxd on PATH). The
// recorder runs it on 127.0.0.1:18086 (HTTP) and 127.0.0.1:18088 (RPC) with
// a config from `influxd config` whose directories point into a temporary
// directory, and stops it before the test ends.
const (
	usermgmtReferenceFile = "testdata/usermgmt-influxd-1.6.7.json"
	usermgmtReferenceVer  = "1.6.7"
	usermgmtInfluxdHTTP   = "127.0.0.1:18086"
	usermgmtInfluxdRPC    = "127.0.0.1:18088"
)

// umCred is who runs a step. The zero umCred sends no credentials.
type umCred struct{ user, password string }

var (
	umNone       = umCred{}
	umAdmin      = umCred{"admin", "admin-pw"}
	umRoot       = umCred{"root", "root-pw"}
	umAlice      = umCred{"alice", "alice-pw"}
	umBob        = umCred{"bob", "bob-pw"}
	umBobWrong   = umCred{"bob", "not-bobs-pw"}
	umBob2       = umCred{"bob", "bob-pw-2"}
	umBob3       = umCred{"bob", "bob-pw-3"}
	umAliceWrong = umCred{"alice", "not-alices-pw"}
)

// umStep is one request of the script, or (enableAuth) a restart of the
// server with [http] auth-enabled = true on the same directories.
type umStep struct {
	name       string
	as         umCred
	q          string
	enableAuth bool
}

// umSession runs on a fresh server.
type umSession struct {
	name  string
	auth  bool // [http] auth-enabled at start
	steps []umStep
}

func umQ(name string, as umCred, q string) umStep { return umStep{name: name, as: as, q: q} }

// usermgmtScript is the script. Sessions start from empty servers. Step names
// are the keys of the recording and of usermgmtDifferences: rename a step
// only together with both.
//
// Steps that Palisade answers differently on purpose are placed so that
// what follows does not depend on them: a non-admin's SET PASSWORD FOR
// itself sets the password it already has, the last admin is removed only
// in sessions of its own, empty passwords come last.
func usermgmtScript() []umSession {
	return []umSession{
		{name: "auth", auth: true, steps: []umStep{
			// The admin bootstrap.
			umQ("no-admin-show-users", umNone, "SHOW USERS"),
			umQ("no-admin-create-user", umNone, "CREATE USER alice WITH PASSWORD 'alice-pw'"),
			umQ("bootstrap-admin", umNone, "CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES"),
			umQ("after-bootstrap-no-credentials", umNone, "SHOW USERS"),
			umQ("second-bootstrap-no-credentials", umNone, "CREATE USER mallory WITH PASSWORD 'mallory-pw' WITH ALL PRIVILEGES"),
			umQ("bootstrap-repeated-by-admin", umAdmin, "CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES"),
			umQ("create-databases", umAdmin, "CREATE DATABASE db0; CREATE DATABASE db1; CREATE DATABASE db2"),
			umQ("show-users-only-admin", umAdmin, "SHOW USERS"),
			umQ("show-grants-admin-none", umAdmin, "SHOW GRANTS FOR admin"),

			// CREATE USER.
			umQ("create-zoe", umAdmin, "CREATE USER zoe WITH PASSWORD 'zoe-pw'"),
			umQ("create-bob", umAdmin, "CREATE USER bob WITH PASSWORD 'bob-pw'"),
			umQ("create-root-admin", umAdmin, "CREATE USER root WITH PASSWORD 'root-pw' WITH ALL PRIVILEGES"),
			umQ("create-alice", umAdmin, "CREATE USER alice WITH PASSWORD 'alice-pw'"),
			umQ("create-quoted-name", umAdmin, `CREATE USER "Dave Smith" WITH PASSWORD 'dave-pw'`),
			umQ("show-users-after-creates", umAdmin, "SHOW USERS"),
			umQ("create-bob-same-password", umAdmin, "CREATE USER bob WITH PASSWORD 'bob-pw'"),
			umQ("create-bob-other-password", umAdmin, "CREATE USER bob WITH PASSWORD 'other-pw'"),
			umQ("create-bob-same-password-as-admin", umAdmin, "CREATE USER bob WITH PASSWORD 'bob-pw' WITH ALL PRIVILEGES"),
			umQ("create-root-same", umAdmin, "CREATE USER root WITH PASSWORD 'root-pw' WITH ALL PRIVILEGES"),
			umQ("create-root-same-not-admin", umAdmin, "CREATE USER root WITH PASSWORD 'root-pw'"),
			umQ("create-root-other-password", umAdmin, "CREATE USER root WITH PASSWORD 'other-pw' WITH ALL PRIVILEGES"),
			umQ("create-empty-name", umAdmin, `CREATE USER "" WITH PASSWORD 'empty-pw'`),
			umQ("show-users-after-refused-creates", umAdmin, "SHOW USERS"),
			umQ("show-grants-new-user", umAdmin, "SHOW GRANTS FOR alice"),
			umQ("bob-logs-in", umBob, "SHOW DATABASES"),
			umQ("bob-wrong-password", umBobWrong, "SHOW DATABASES"),

			// GRANT on a database.
			umQ("grant-read-db0-alice", umAdmin, "GRANT READ ON db0 TO alice"),
			umQ("grants-alice-read", umAdmin, "SHOW GRANTS FOR alice"),
			umQ("grant-write-db1-alice", umAdmin, "GRANT WRITE ON db1 TO alice"),
			umQ("grant-all-db2-alice", umAdmin, "GRANT ALL ON db2 TO alice"),
			umQ("grants-alice-three", umAdmin, "SHOW GRANTS FOR alice"),
			umQ("grant-read-db1-alice-replaces-write", umAdmin, "GRANT READ ON db1 TO alice"),
			umQ("grants-alice-replaced", umAdmin, "SHOW GRANTS FOR alice"),
			umQ("grant-all-privileges-keyword-on-db", umAdmin, "GRANT ALL PRIVILEGES ON db1 TO alice"),
			umQ("grants-alice-all-on-db1", umAdmin, "SHOW GRANTS FOR alice"),
			umQ("grant-read-db1-alice-again", umAdmin, "GRANT READ ON db1 TO alice"),
			umQ("grant-missing-db", umAdmin, "GRANT READ ON nodb TO alice"),
			umQ("grant-all-missing-db", umAdmin, "GRANT ALL ON nodb TO alice"),
			umQ("grant-missing-user", umAdmin, "GRANT READ ON db0 TO ghost"),
			umQ("grant-missing-user-missing-db", umAdmin, "GRANT WRITE ON nodb TO ghost"),
			umQ("grants-alice-after-refused-grants", umAdmin, "SHOW GRANTS FOR alice"),
			umQ("alice-show-databases", umAlice, "SHOW DATABASES"),

			// REVOKE on a database: the privilege loses the revoked bits,
			// and the database stays listed, with NO PRIVILEGES at worst.
			umQ("revoke-write-from-all", umAdmin, "REVOKE WRITE ON db2 FROM alice"),
			umQ("grants-alice-all-minus-write", umAdmin, "SHOW GRANTS FOR alice"),
			umQ("revoke-read-from-read", umAdmin, "REVOKE READ ON db2 FROM alice"),
			umQ("grants-alice-db2-no-privileges", umAdmin, "SHOW GRANTS FOR alice"),
			umQ("alice-show-databases-after-revoke", umAlice, "SHOW DATABASES"),
			umQ("grant-write-db0-bob", umAdmin, "GRANT WRITE ON db0 TO bob"),
			umQ("revoke-read-from-write", umAdmin, "REVOKE READ ON db0 FROM bob"),
			umQ("grants-bob-write-stays", umAdmin, "SHOW GRANTS FOR bob"),
			umQ("revoke-write-from-write", umAdmin, "REVOKE WRITE ON db0 FROM bob"),
			umQ("grants-bob-db0-no-privileges", umAdmin, "SHOW GRANTS FOR bob"),
			umQ("grant-all-db1-bob", umAdmin, "GRANT ALL ON db1 TO bob"),
			umQ("revoke-all-from-all", umAdmin, "REVOKE ALL ON db1 FROM bob"),
			umQ("revoke-read-never-granted", umAdmin, "REVOKE READ ON db2 FROM bob"),
			umQ("grants-bob-after-revokes", umAdmin, "SHOW GRANTS FOR bob"),
			umQ("revoke-all-privileges-keyword-on-db", umAdmin, "REVOKE ALL PRIVILEGES ON db0 FROM alice"),
			umQ("grants-alice-db0-revoked-all", umAdmin, "SHOW GRANTS FOR alice"),
			umQ("grant-read-db0-alice-back", umAdmin, "GRANT READ ON db0 TO alice"),
			umQ("revoke-missing-db", umAdmin, "REVOKE READ ON nodb FROM bob"),
			umQ("revoke-all-missing-db", umAdmin, "REVOKE ALL ON nodb FROM bob"),
			umQ("revoke-missing-user", umAdmin, "REVOKE READ ON db0 FROM ghost"),
			umQ("revoke-all-missing-user", umAdmin, "REVOKE ALL ON db0 FROM ghost"),
			umQ("revoke-all-missing-user-missing-db", umAdmin, "REVOKE ALL ON nodb FROM ghost"),
			umQ("grants-bob-after-refused-revokes", umAdmin, "SHOW GRANTS FOR bob"),
			umQ("grants-missing-user", umAdmin, "SHOW GRANTS FOR ghost"),
			umQ("grant-after-no-privileges", umAdmin, "GRANT READ ON db0 TO bob"),
			umQ("grants-bob-read-again", umAdmin, "SHOW GRANTS FOR bob"),

			// GRANT / REVOKE ALL PRIVILEGES (admin).
			umQ("grant-admin-alice", umAdmin, "GRANT ALL PRIVILEGES TO alice"),
			umQ("show-users-alice-admin", umAdmin, "SHOW USERS"),
			umQ("grants-admin-alice-keeps-db-grants", umAdmin, "SHOW GRANTS FOR alice"),
			umQ("alice-as-admin", umAlice, "SHOW USERS"),
			umQ("grant-admin-alice-again", umAdmin, "GRANT ALL PRIVILEGES TO alice"),
			umQ("revoke-admin-alice", umAdmin, "REVOKE ALL PRIVILEGES FROM alice"),
			umQ("show-users-alice-not-admin", umAdmin, "SHOW USERS"),
			umQ("grants-alice-after-revoke-admin", umAdmin, "SHOW GRANTS FOR alice"),
			umQ("alice-no-longer-admin", umAlice, "SHOW USERS"),
			umQ("revoke-admin-non-admin", umAdmin, "REVOKE ALL PRIVILEGES FROM bob"),
			umQ("grant-admin-missing", umAdmin, "GRANT ALL PRIVILEGES TO ghost"),
			umQ("revoke-admin-missing", umAdmin, "REVOKE ALL PRIVILEGES FROM ghost"),

			// Revoking an admin while another admin remains (root), so the
			// last-admin rule stays out of the way.
			umQ("root-revokes-admin", umRoot, "REVOKE ALL PRIVILEGES FROM admin"),
			umQ("admin-not-admin-now", umAdmin, "SHOW USERS"),
			umQ("show-users-admin-revoked", umRoot, "SHOW USERS"),
			umQ("root-grants-admin", umRoot, "GRANT ALL PRIVILEGES TO admin"),
			umQ("admin-revokes-root", umAdmin, "REVOKE ALL PRIVILEGES FROM root"),
			umQ("root-not-admin-now", umRoot, "SHOW USERS"),
			umQ("admin-grants-root", umAdmin, "GRANT ALL PRIVILEGES TO root"),
			umQ("admin-revokes-itself", umAdmin, "REVOKE ALL PRIVILEGES FROM admin"),
			umQ("root-grants-admin-back", umRoot, "GRANT ALL PRIVILEGES TO admin"),
			umQ("show-users-two-admins", umAdmin, "SHOW USERS"),

			// SET PASSWORD.
			umQ("set-password-bob", umAdmin, "SET PASSWORD FOR bob = 'bob-pw-2'"),
			umQ("bob-old-password", umBob, "SHOW DATABASES"),
			umQ("bob-new-password", umBob2, "SHOW DATABASES"),
			umQ("set-password-missing-user", umAdmin, "SET PASSWORD FOR ghost = 'ghost-pw'"),
			umQ("set-password-self-non-admin", umAlice, "SET PASSWORD FOR alice = 'alice-pw'"),
			umQ("set-password-other-non-admin", umAlice, "SET PASSWORD FOR bob = 'alice-pw'"),
			umQ("set-password-self-admin", umAdmin, "SET PASSWORD FOR admin = 'admin-pw'"),
			umQ("set-password-wrong-credentials", umAliceWrong, "SET PASSWORD FOR alice = 'alice-pw'"),

			// Statements a non-admin may not run.
			umQ("non-admin-create-user", umAlice, "CREATE USER eve WITH PASSWORD 'eve-pw'"),
			umQ("non-admin-create-admin", umAlice, "CREATE USER eve WITH PASSWORD 'eve-pw' WITH ALL PRIVILEGES"),
			umQ("non-admin-drop-user", umAlice, "DROP USER bob"),
			umQ("non-admin-drop-self", umAlice, "DROP USER alice"),
			umQ("non-admin-grant", umAlice, "GRANT ALL ON db0 TO alice"),
			umQ("non-admin-grant-admin", umAlice, "GRANT ALL PRIVILEGES TO alice"),
			umQ("non-admin-revoke", umAlice, "REVOKE READ ON db0 FROM bob"),
			umQ("non-admin-revoke-admin", umAlice, "REVOKE ALL PRIVILEGES FROM admin"),
			umQ("non-admin-show-users", umAlice, "SHOW USERS"),
			umQ("non-admin-show-own-grants", umAlice, "SHOW GRANTS FOR alice"),
			umQ("non-admin-show-other-grants", umAlice, "SHOW GRANTS FOR bob"),
			umQ("non-admin-mixed", umAlice, "SHOW DATABASES; SHOW USERS"),
			umQ("non-admin-mixed-set-password-first", umAlice, "SET PASSWORD FOR alice = 'alice-pw'; SHOW USERS"),
			umQ("no-credentials-create-user", umNone, "CREATE USER eve WITH PASSWORD 'eve-pw'"),

			// Several statements in one query.
			umQ("multi-create-grant-show", umAdmin, "CREATE USER carol WITH PASSWORD 'carol-pw'; GRANT READ ON db0 TO carol; GRANT WRITE ON db1 TO carol; SHOW GRANTS FOR carol; SHOW USERS"),
			umQ("multi-error-in-the-middle", umAdmin, "REVOKE WRITE ON db1 FROM carol; GRANT READ ON nodb TO carol; SHOW GRANTS FOR carol"),
			umQ("multi-after-error", umAdmin, "SHOW GRANTS FOR carol"),
			umQ("multi-first-fails", umAdmin, "DROP USER ghost; SHOW USERS"),
			umQ("multi-drop-recreate", umAdmin, "DROP USER carol; CREATE USER carol WITH PASSWORD 'carol-pw-2'; SHOW GRANTS FOR carol"),

			// DROP USER.
			umQ("drop-zoe", umAdmin, "DROP USER zoe"),
			umQ("drop-zoe-again", umAdmin, "DROP USER zoe"),
			umQ("show-users-after-drop", umAdmin, "SHOW USERS"),
			umQ("drop-missing", umAdmin, "DROP USER ghost"),
			umQ("drop-bob", umAdmin, "DROP USER bob"),
			umQ("dropped-bob-logs-in", umBob2, "SHOW DATABASES"),
			umQ("grants-dropped-bob", umAdmin, "SHOW GRANTS FOR bob"),
			umQ("recreate-bob", umAdmin, "CREATE USER bob WITH PASSWORD 'bob-pw-3'"),
			umQ("recreated-bob-old-password", umBob2, "SHOW DATABASES"),
			umQ("recreated-bob-new-password", umBob3, "SHOW DATABASES"),
			umQ("grants-recreated-bob", umAdmin, "SHOW GRANTS FOR bob"),
			umQ("show-users-recreated-bob", umAdmin, "SHOW USERS"),

			// DROP DATABASE takes the grants on it along.
			umQ("drop-db1", umAdmin, "DROP DATABASE db1"),
			umQ("grants-alice-after-drop-db", umAdmin, "SHOW GRANTS FOR alice"),
			umQ("recreate-db1", umAdmin, "CREATE DATABASE db1"),
			umQ("grants-alice-after-recreate-db", umAdmin, "SHOW GRANTS FOR alice"),

			// Dropping an admin while another remains.
			umQ("drop-root", umAdmin, "DROP USER root"),
			umQ("show-users-final", umAdmin, "SHOW USERS"),

			// Empty passwords, last: nothing after depends on them.
			umQ("create-user-empty-password", umAdmin, "CREATE USER nopw WITH PASSWORD ''"),
			umQ("set-password-empty", umAdmin, "SET PASSWORD FOR alice = ''"),
		}},

		// An unauthenticated request may create the first admin, and only
		// that: in InfluxDB, it may run more statements after it.
		{name: "bootstrap-with-more-statements", auth: true, steps: []umStep{
			umQ("bootstrap-and-create-user", umNone, "CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES; CREATE USER eve WITH PASSWORD 'eve-pw'"),
			umQ("show-users-after", umAdmin, "SHOW USERS"),
			umQ("bootstrap-alone", umNone, "CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES"),
			umQ("show-users-after-bootstrap-alone", umAdmin, "SHOW USERS"),
		}},

		// The last admin: REVOKE ALL PRIVILEGES.
		{name: "last-admin-revoke", auth: true, steps: []umStep{
			umQ("bootstrap-admin", umNone, "CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES"),
			umQ("create-alice", umAdmin, "CREATE USER alice WITH PASSWORD 'alice-pw'"),
			umQ("revoke-last-admin", umAdmin, "REVOKE ALL PRIVILEGES FROM admin"),
			umQ("show-users-as-admin", umAdmin, "SHOW USERS"),
			umQ("show-users-no-credentials", umNone, "SHOW USERS"),
			umQ("bootstrap-no-credentials", umNone, "CREATE USER mallory WITH PASSWORD 'mallory-pw' WITH ALL PRIVILEGES"),
		}},

		// The last admin: DROP USER.
		{name: "last-admin-drop", auth: true, steps: []umStep{
			umQ("bootstrap-admin", umNone, "CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES"),
			umQ("create-alice", umAdmin, "CREATE USER alice WITH PASSWORD 'alice-pw'"),
			umQ("drop-last-admin", umAdmin, "DROP USER admin"),
			umQ("show-users-as-alice", umAlice, "SHOW USERS"),
			umQ("show-users-no-credentials", umNone, "SHOW USERS"),
			umQ("bootstrap-no-credentials", umNone, "CREATE USER mallory WITH PASSWORD 'mallory-pw' WITH ALL PRIVILEGES"),
		}},

		// The last user of all may be dropped: the server is as new.
		{name: "last-user-drop", auth: true, steps: []umStep{
			umQ("bootstrap-admin", umNone, "CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES"),
			umQ("drop-only-user", umAdmin, "DROP USER admin"),
			umQ("show-users-no-credentials", umNone, "SHOW USERS"),
			umQ("show-users-old-credentials", umAdmin, "SHOW USERS"),
			umQ("bootstrap-again", umNone, "CREATE USER root WITH PASSWORD 'root-pw' WITH ALL PRIVILEGES"),
			umQ("show-users-new-admin", umRoot, "SHOW USERS"),
		}},

		// The last admin is the last user of all: REVOKE ALL PRIVILEGES.
		{name: "last-user-revoke", auth: true, steps: []umStep{
			umQ("bootstrap-admin", umNone, "CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES"),
			umQ("revoke-only-user", umAdmin, "REVOKE ALL PRIVILEGES FROM admin"),
		}},

		// Without authentication every statement runs for anyone; then the
		// same directories with authentication on and users but no admin.
		{name: "auth-disabled", auth: false, steps: []umStep{
			umQ("create-non-admin-first", umNone, "CREATE USER alice WITH PASSWORD 'alice-pw'"),
			umQ("create-database", umNone, "CREATE DATABASE db0"),
			umQ("grant-write", umNone, "GRANT WRITE ON db0 TO alice"),
			umQ("grants-write", umNone, "SHOW GRANTS FOR alice"),
			umQ("revoke-write", umNone, "REVOKE WRITE ON db0 FROM alice"),
			umQ("grants-after-revoke", umNone, "SHOW GRANTS FOR alice"),
			umQ("show-users", umNone, "SHOW USERS"),
			umQ("wrong-credentials-ignored", umAliceWrong, "SHOW USERS"),
			umQ("set-password", umNone, "SET PASSWORD FOR alice = 'alice-pw'"),
			umQ("drop-and-create-without-auth", umNone, "DROP USER alice; CREATE USER alice WITH PASSWORD 'alice-pw'"),
			umQ("show-users-no-admin", umNone, "SHOW USERS"),
			{name: "restart-with-auth", enableAuth: true},
			umQ("auth-no-admin-no-credentials", umNone, "SHOW USERS"),
			umQ("auth-no-admin-as-alice", umAlice, "SHOW USERS"),
			umQ("auth-no-admin-wrong-password", umAliceWrong, "SHOW USERS"),
			umQ("auth-no-admin-bootstrap", umNone, "CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES"),
			umQ("auth-after-bootstrap", umAdmin, "SHOW USERS"),
		}},
	}
}

// umAnswer is what a server answered to one step.
type umAnswer struct {
	Status          int             `json:"status,omitempty"`
	Error           string          `json:"x_influxdb_error,omitempty"`
	WWWAuthenticate string          `json:"www_authenticate,omitempty"`
	Body            json.RawMessage `json:"body,omitempty"`
}

func (a umAnswer) String() string {
	s := fmt.Sprintf("%d %s", a.Status, a.Body)
	if a.Error != "" {
		s += fmt.Sprintf(" [X-Influxdb-Error: %s]", a.Error)
	}
	if a.WWWAuthenticate != "" {
		s += fmt.Sprintf(" [WWW-Authenticate: %s]", a.WWWAuthenticate)
	}
	return s
}

func (a umAnswer) equal(b umAnswer) bool {
	return a.Status == b.Status && a.Error == b.Error && a.WWWAuthenticate == b.WWWAuthenticate && bytes.Equal(a.Body, b.Body)
}

// umRecord is one step of the recording. Query is the statement text with
// passwords shown as [REDACTED]: the recording never holds one.
type umRecord struct {
	Session string `json:"session"`
	Step    string `json:"step"`
	Query   string `json:"query,omitempty"`
	umAnswer
}

type umReference struct {
	Comment string     `json:"comment"`
	Server  string     `json:"server"` // X-Influxdb-Version of the recorded server
	Records []umRecord `json:"records"`
}

// redactedQuery is the canonical text of q, passwords redacted.
func redactedQuery(q string) string {
	if q == "" {
		return ""
	}
	pq, err := influxql.ParseQuery(q)
	if err != nil {
		return "(unparsable query)"
	}
	return pq.String()
}

// umTarget is a server the script runs against.
type umTarget interface {
	baseURL() string
	// enableAuth restarts the server with authentication on, on the same
	// directories.
	enableAuth(t *testing.T)
	// check checks what the recording does not hold.
	check(t *testing.T, step string, r response)
	// stop ends the server at the end of its session.
	stop()
}

// runScript runs every session against a fresh target from start.
func runScript(t *testing.T, start func(t *testing.T, auth bool) umTarget) []umRecord {
	t.Helper()
	var out []umRecord
	for _, s := range usermgmtScript() {
		target := start(t, s.auth)
		for _, st := range s.steps {
			rec := umRecord{Session: s.name, Step: st.name, Query: redactedQuery(st.q)}
			if st.enableAuth {
				target.enableAuth(t)
			} else {
				r := runStep(t, target.baseURL(), st)
				target.check(t, s.name+"/"+st.name, r)
				rec.umAnswer = answerOf(t, st.name, r)
			}
			out = append(out, rec)
		}
		target.stop()
	}
	return out
}

func runStep(t *testing.T, base string, st umStep) response {
	t.Helper()
	c := noCred
	if st.as != umNone {
		c = basic(st.as.user, st.as.password)
	}
	return query(t, base, st.q, c)
}

func answerOf(t *testing.T, step string, r response) umAnswer {
	t.Helper()
	a := umAnswer{
		Status:          r.status,
		Error:           r.header.Get("X-Influxdb-Error"),
		WWWAuthenticate: r.header.Get("WWW-Authenticate"),
	}
	body, err := canonicalBody([]byte(r.body))
	if err != nil {
		t.Fatalf("step %s: body %q: %v", step, r.body, err)
	}
	a.Body = body
	return a
}

// canonicalBody re-encodes a JSON body with sorted keys and no spaces. The
// rows of SHOW GRANTS are sorted by database: InfluxDB 1.x and the v1.10
// statement executor that Palisade runs both list them in Go map order,
// which is random, so only the set of rows is part of the answer.
func canonicalBody(b []byte) (json.RawMessage, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	return sortRows(b, "[database privilege]")
}

// sortRows decodes a /query body, sorts the rows of every series whose
// columns are columns (as fmt prints them) by their first value, and
// encodes it again.
func sortRows(b []byte, columns string) (json.RawMessage, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	top, _ := v.(map[string]any)
	results, _ := top["results"].([]any)
	for _, r := range results {
		res, _ := r.(map[string]any)
		series, _ := res["series"].([]any)
		for _, s := range series {
			row, _ := s.(map[string]any)
			if fmt.Sprint(row["columns"]) != columns {
				continue
			}
			values, _ := row["values"].([]any)
			slices.SortStableFunc(values, func(a, b any) int {
				return strings.Compare(fmt.Sprint(a.([]any)[0]), fmt.Sprint(b.([]any)[0]))
			})
		}
	}
	return json.Marshal(v)
}

// --- differences ---------------------------------------------------------------

// umDifference is an answer Palisade gives on purpose instead of InfluxDB's.
// palisade computes Palisade's answer from the reference's.
type umDifference struct {
	steps    []string // "session/step"
	reason   string
	palisade func(ref umAnswer) umAnswer
}

// answer returns a fixed answer.
func answer(status int, body string) func(umAnswer) umAnswer {
	return func(umAnswer) umAnswer {
		b, err := canonicalBody([]byte(body))
		if err != nil {
			panic(fmt.Sprintf("answer %q: %v", body, err))
		}
		return umAnswer{Status: status, Body: b}
	}
}

// errorAnswer returns a fixed non-2xx answer: status, message in the body
// and in X-Influxdb-Error (except for a 401, which sets WWW-Authenticate).
func errorAnswer(status int, msg string) func(umAnswer) umAnswer {
	return func(umAnswer) umAnswer {
		b, _ := json.Marshal(map[string]string{"error": msg})
		a := umAnswer{Status: status, Body: b}
		if status == http.StatusUnauthorized {
			a.WWWAuthenticate = `Basic realm="InfluxDB"`
		} else {
			a.Error = msg
		}
		return a
	}
}

const (
	okBody = `{"results":[{"statement_id":0}]}`

	whySetPasswordSelf = "A non-admin may change its own password with SET PASSWORD FOR <self>: InfluxDB 1.x " +
		"requires admin (influxdb#7584). COMPAT.md, known faults we must not copy."
	whyLastAdmin = "The last admin cannot be removed (DROP USER, REVOKE ALL PRIVILEGES) while other users exist, " +
		"nor lose its admin flag when it is the only user: `cannot remove the last admin user`, a statement " +
		"error. InfluxDB 1.x allows both. docs/compat-better.md; data.TestLastAdminCannotBeRemovedOverHTTP."
	whyLastAdminAfter = "Follows from the refused removal of the last admin: the admin is still there. In InfluxDB " +
		"1.x, with users but no admin, every request (the former admin's, and an admin bootstrap, too) gets " +
		"403 `error authorizing query: no user provided` until authentication is turned off."
	whyOldPassword = "After DROP USER and CREATE USER with a new password, InfluxDB 1.x keeps accepting the old " +
		"password from its authentication cache (influxdb#6020); Palisade never does. COMPAT.md, known faults."
	whyNotExecuted = "Debian's 1.6.7 sends \"not executed\" under the ID of the statement that failed, which " +
		"overwrites that statement's error, and nothing for the last statement (influxdb#19136, fixed by " +
		"influxdb#22273 in 2021). Palisade runs the fixed v1.10 executor: the failed statement's error, then " +
		"\"not executed\" for every later statement."
	whyEmptyPassword = "An empty password is refused with `password required` (a user with an empty password " +
		"can be logged in as by anyone who knows the name); the meta state machine refuses a user without a " +
		"password hash (meta.TestBadCommandsRefused), as palisade-ctl does. InfluxDB 1.x accepts it."
	whyBootstrapAlone = "Without credentials, while no admin exists, only a query of exactly one " +
		"`CREATE USER <name> WITH PASSWORD '<pw>' WITH ALL PRIVILEGES` may run (COMPAT.md, Credentials). " +
		"InfluxDB 1.x authorizes the whole query when its first statement is such a CREATE USER, so the " +
		"statements after it run unauthenticated."
	whyNoAdminWithUsers = "Authentication on, users, no admin (they were created with authentication off): " +
		"InfluxDB 1.x answers every request, the admin bootstrap included, with 403 `error authorizing " +
		"query: no user provided`, and the server cannot be administered until authentication is turned " +
		"off again. Palisade answers as whenever no admin exists (COMPAT.md, Credentials): 403 `create admin " +
		"user first or disable authentication`, except for the admin bootstrap, which is allowed."
)

// usermgmtDifferences lists every step whose Palisade answer differs from the
// reference, and why. A listed difference that does not show in the
// recording fails the test, so the list never outlives the differences.
func usermgmtDifferences() []umDifference {
	const notAdmin = "error authorizing query: alice not authorized to execute statement 'SHOW USERS', requires admin privilege"
	const createAdminFirst = "error authorizing query: create admin user first or disable authentication"
	return []umDifference{
		{
			steps:    []string{"auth/set-password-self-non-admin"},
			reason:   whySetPasswordSelf,
			palisade: answer(200, okBody),
		},
		{
			steps:    []string{"auth/non-admin-mixed-set-password-first"},
			reason:   whySetPasswordSelf + " So the 403 names the next statement, which needs admin.",
			palisade: errorAnswer(403, notAdmin),
		},
		{
			steps: []string{
				"last-admin-revoke/revoke-last-admin", "last-admin-drop/drop-last-admin",
				"last-user-revoke/revoke-only-user",
			},
			reason:   whyLastAdmin,
			palisade: answer(200, `{"results":[{"statement_id":0,"error":"cannot remove the last admin user"}]}`),
		},
		{
			steps:  []string{"last-admin-revoke/show-users-as-admin"},
			reason: whyLastAdminAfter,
			palisade: answer(200, `{"results":[{"statement_id":0,"series":[{"columns":["user","admin"],`+
				`"values":[["admin",true],["alice",false]]}]}]}`),
		},
		{
			steps:    []string{"last-admin-drop/show-users-as-alice"},
			reason:   whyLastAdminAfter,
			palisade: errorAnswer(403, notAdmin),
		},
		{
			steps: []string{
				"last-admin-revoke/show-users-no-credentials", "last-admin-revoke/bootstrap-no-credentials",
				"last-admin-drop/show-users-no-credentials", "last-admin-drop/bootstrap-no-credentials",
			},
			reason:   whyLastAdminAfter,
			palisade: errorAnswer(401, "unable to parse authentication credentials"),
		},
		{
			steps:    []string{"auth/recreated-bob-old-password"},
			reason:   whyOldPassword,
			palisade: errorAnswer(401, "authorization failed"),
		},
		{
			steps:  []string{"auth/multi-error-in-the-middle"},
			reason: whyNotExecuted,
			palisade: answer(200, `{"results":[{"statement_id":0},{"statement_id":1,"error":"database not found: nodb"},`+
				`{"statement_id":2,"error":"not executed"}]}`),
		},
		{
			steps:  []string{"auth/multi-first-fails"},
			reason: whyNotExecuted,
			palisade: answer(200, `{"results":[{"statement_id":0,"error":"user not found"},`+
				`{"statement_id":1,"error":"not executed"}]}`),
		},
		{
			steps:    []string{"auth/create-user-empty-password", "auth/set-password-empty"},
			reason:   whyEmptyPassword,
			palisade: answer(200, `{"results":[{"statement_id":0,"error":"password required"}]}`),
		},
		{
			steps: []string{
				"bootstrap-with-more-statements/bootstrap-and-create-user",
				"bootstrap-with-more-statements/show-users-after",
			},
			reason:   whyBootstrapAlone + " (So no admin exists after the first step.)",
			palisade: errorAnswer(403, createAdminFirst),
		},
		{
			steps:    []string{"bootstrap-with-more-statements/bootstrap-alone"},
			reason:   whyBootstrapAlone + " (So this is the bootstrap; in 1.x the admin exists already.)",
			palisade: answer(200, okBody),
		},
		{
			steps:  []string{"bootstrap-with-more-statements/show-users-after-bootstrap-alone"},
			reason: whyBootstrapAlone + " (So eve was never created.)",
			palisade: answer(200, `{"results":[{"statement_id":0,"series":[{"columns":["user","admin"],`+
				`"values":[["admin",true]]}]}]}`),
		},
		{
			steps: []string{
				"auth-disabled/auth-no-admin-no-credentials", "auth-disabled/auth-no-admin-as-alice",
				"auth-disabled/auth-no-admin-wrong-password",
			},
			reason:   whyNoAdminWithUsers,
			palisade: errorAnswer(403, createAdminFirst),
		},
		{
			steps:    []string{"auth-disabled/auth-no-admin-bootstrap"},
			reason:   whyNoAdminWithUsers,
			palisade: answer(200, okBody),
		},
		{
			steps:  []string{"auth-disabled/auth-after-bootstrap"},
			reason: whyNoAdminWithUsers,
			palisade: answer(200, `{"results":[{"statement_id":0,"series":[{"columns":["user","admin"],`+
				`"values":[["alice",false],["admin",true]]}]}]}`),
		},
	}
}

// --- the test ------------------------------------------------------------------

// TestUserManagementMatchesInfluxDB (issue 7, point 4) runs every user and
// privilege statement against Palisade and compares each answer with
// InfluxDB's recorded one. Besides the listed differences, Palisade sends
// its own X-Influxdb-Version and X-Influxdb-Build (not compared; checked to
// be set).
func TestUserManagementMatchesInfluxDB(t *testing.T) {
	if os.Getenv("PALISADE_RECORD_REFERENCE") != "" {
		recordUsermgmtReference(t)
	}
	ref := loadUsermgmtReference(t)
	if !strings.HasPrefix(ref.Server, usermgmtReferenceVer) {
		t.Fatalf("%s was recorded from influxd %q, want %s", usermgmtReferenceFile, ref.Server, usermgmtReferenceVer)
	}

	got := runScript(t, startPalisadeTarget)
	if len(got) != len(ref.Records) {
		t.Fatalf("the script has %d steps, the recording %d: record the reference again (see the file comment)", len(got), len(ref.Records))
	}
	diffs := map[string]umDifference{}
	for _, d := range usermgmtDifferences() {
		for _, s := range d.steps {
			if _, dup := diffs[s]; dup {
				t.Fatalf("difference listed twice for %s", s)
			}
			diffs[s] = d
		}
	}
	used := map[string]bool{}
	for i, g := range got {
		r := ref.Records[i]
		key := g.Session + "/" + g.Step
		if r.Session != g.Session || r.Step != g.Step || r.Query != g.Query {
			t.Fatalf("step %d is %s (%q) in the script, %s/%s (%q) in the recording: record the reference again",
				i, key, g.Query, r.Session, r.Step, r.Query)
		}
		want := r.umAnswer
		if d, ok := diffs[key]; ok {
			used[key] = true
			want = d.palisade(r.umAnswer)
			if want.equal(r.umAnswer) {
				t.Errorf("%s: listed as a difference (%s) but the reference answers the same: remove it from usermgmtDifferences",
					key, d.reason)
			}
		}
		if !g.equal(want) {
			t.Errorf("%s: %s\n  palisade:  %s\n  want:      %s", key, g.Query, g.umAnswer, want)
		}
	}
	for key := range diffs {
		if !used[key] {
			t.Errorf("difference listed for %s, which is not a step of the script", key)
		}
	}
}

// palisadeTarget is a standalone Palisade node.
type palisadeTarget struct{ d *testcluster.DataNode }

func startPalisadeTarget(t *testing.T, auth bool) umTarget {
	o := testcluster.DataOptions{}
	if auth {
		o.Configure = authOn(localSecret)
	}
	return &palisadeTarget{d: testcluster.StartStandalone(t, o)}
}

func (p *palisadeTarget) baseURL() string { return p.d.URL }

func (p *palisadeTarget) stop() { p.d.Kill() }

func (p *palisadeTarget) enableAuth(t *testing.T) {
	t.Helper()
	p.d.Kill()
	authOn(localSecret)(p.d.Cfg)
	p.d.Restart()
}

// check: every Palisade answer carries its own version headers.
func (p *palisadeTarget) check(t *testing.T, step string, r response) {
	t.Helper()
	if r.header.Get("X-Influxdb-Version") == "" || r.header.Get("X-Influxdb-Build") == "" {
		t.Errorf("%s: missing X-Influxdb-Version/Build: %v", step, r.header)
	}
}

func loadUsermgmtReference(t *testing.T) umReference {
	t.Helper()
	b, err := os.ReadFile(usermgmtReferenceFile)
	if err != nil {
		t.Fatalf("reading the reference: %v (record it: see the comment of usermgmtReferenceFile)", err)
	}
	var ref umReference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatalf("%s: %v", usermgmtReferenceFile, err)
	}
	for i := range ref.Records {
		body, err := canonicalBody(ref.Records[i].Body)
		if err != nil {
			t.Fatalf("%s: record %d: %v", usermgmtReferenceFile, i, err)
		}
		ref.Records[i].Body = body
	}
	return ref
}

// --- recording -----------------------------------------------------------------

// recordUsermgmtReference runs the script against influxd and writes the
// recording.
func recordUsermgmtReference(t *testing.T) {
	path := influxdBinary(t)
	var version string
	records := runScript(t, func(t *testing.T, auth bool) umTarget {
		ix := startInfluxd(t, path, auth)
		if version == "" {
			version = ix.version
		}
		return ix
	})
	if !strings.HasPrefix(version, usermgmtReferenceVer) {
		t.Fatalf("influxd %s is version %q; this recording is of %s", path, version, usermgmtReferenceVer)
	}
	ref := umReference{
		Comment: "Answers of influxd to usermgmtScript (data/usermgmt_test.go). Recorded by " +
			"PALISADE_RECORD_REFERENCE=1 go test -count=1 -run TestUserManagementMatchesInfluxDB ./data/ . " +
			"Rows of SHOW GRANTS are sorted by database (the server's order is random).",
		Server:  version,
		Records: records,
	}
	b, err := encodeReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(usermgmtReferenceFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(usermgmtReferenceFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d steps from influxd %s into %s", len(records), version, usermgmtReferenceFile)
}

// influxdBinary is the influxd that recordings run: $PALISADE_INFLUXD, or
// influxd on PATH.
func influxdBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("PALISADE_INFLUXD")
	if bin == "" {
		bin = "influxd"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("recording needs influxd (PALISADE_INFLUXD): %v", err)
	}
	return path
}

// encodeReference writes ref as JSON with one record a line, so that a new
// recording reads well in a diff.
func encodeReference(ref umReference) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteString("{\n  \"comment\": ")
	if err := enc.Encode(ref.Comment); err != nil {
		return nil, err
	}
	buf.Truncate(buf.Len() - 1)
	buf.WriteString(",\n  \"server\": ")
	if err := enc.Encode(ref.Server); err != nil {
		return nil, err
	}
	buf.Truncate(buf.Len() - 1)
	buf.WriteString(",\n  \"records\": [\n")
	for i, r := range ref.Records {
		buf.WriteString("    ")
		if err := enc.Encode(r); err != nil {
			return nil, err
		}
		if i < len(ref.Records)-1 {
			buf.Truncate(buf.Len() - 1)
			buf.WriteString(",\n")
		}
	}
	buf.WriteString("  ]\n}\n")
	return buf.Bytes(), nil
}

// influxdTarget is an influxd process on loopback, stopped at the end of the
// test.
type influxdTarget struct {
	bin, dir, conf string
	cmd            *exec.Cmd
	exited         chan struct{}
	version        string
}

func startInfluxd(t *testing.T, bin string, auth bool) *influxdTarget {
	t.Helper()
	ix := &influxdTarget{bin: bin, dir: t.TempDir()}
	ix.conf = filepath.Join(ix.dir, "influxd.conf")
	ix.writeConfig(t, auth)
	ix.start(t)
	t.Cleanup(ix.stop)
	return ix
}

func (ix *influxdTarget) baseURL() string { return "http://" + usermgmtInfluxdHTTP }

func (ix *influxdTarget) check(*testing.T, string, response) {}

func (ix *influxdTarget) enableAuth(t *testing.T) {
	t.Helper()
	ix.stop()
	ix.writeConfig(t, true)
	ix.start(t)
}

// writeConfig writes influxd's own default config (`influxd config`) with
// the settings below changed. Every setting must be found, so a config
// layout that changed fails here rather than run with defaults.
func (ix *influxdTarget) writeConfig(t *testing.T, auth bool) {
	t.Helper()
	cmd := exec.Command(ix.bin, "config")
	cmd.Env = influxdEnv()
	def, err := cmd.Output()
	if err != nil {
		t.Fatalf("influxd config: %v", err)
	}
	set := []struct{ section, key, value string }{
		{"", "bind-address", fmt.Sprintf("%q", usermgmtInfluxdRPC)},
		{"meta", "dir", fmt.Sprintf("%q", filepath.Join(ix.dir, "meta"))},
		{"data", "dir", fmt.Sprintf("%q", filepath.Join(ix.dir, "data"))},
		{"data", "wal-dir", fmt.Sprintf("%q", filepath.Join(ix.dir, "wal"))},
		{"data", "query-log-enabled", "false"},
		{"monitor", "store-enabled", "false"},
		{"http", "bind-address", fmt.Sprintf("%q", usermgmtInfluxdHTTP)},
		{"http", "auth-enabled", fmt.Sprint(auth)},
		{"http", "log-enabled", "false"},
	}
	lines := strings.Split(string(def), "\n")
	found := make([]bool, len(set))
	reporting := false
	section := ""
	for i, l := range lines {
		s := strings.TrimSpace(l)
		if strings.HasPrefix(s, "[") {
			section = strings.Trim(s, "[]")
			continue
		}
		k, _, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		// Upstream says reporting-disabled, Debian's build reporting-enabled.
		if section == "" && (k == "reporting-disabled" || k == "reporting-enabled") {
			lines[i] = fmt.Sprintf("%s = %v", k, k == "reporting-disabled")
			reporting = true
			continue
		}
		for j, c := range set {
			if c.section == section && c.key == k {
				lines[i] = fmt.Sprintf("%s = %s", k, c.value)
				found[j] = true
			}
		}
	}
	for j, c := range set {
		if !found[j] {
			t.Fatalf("influxd config has no [%s] %s", c.section, c.key)
		}
	}
	if !reporting {
		t.Fatalf("influxd config has no reporting-disabled")
	}
	if err := os.WriteFile(ix.conf, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// influxdEnv is the environment without INFLUXDB_* variables, which would
// override the config file.
func influxdEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "INFLUXDB_") })
}

func (ix *influxdTarget) start(t *testing.T) {
	t.Helper()
	for _, addr := range []string{usermgmtInfluxdHTTP, usermgmtInfluxdRPC} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("%s is in use: is another influxd running?", addr)
		}
	}
	logf, err := os.Create(filepath.Join(ix.dir, "influxd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	ix.cmd = exec.Command(ix.bin, "-config", ix.conf)
	ix.cmd.Env = influxdEnv()
	ix.cmd.Stdout, ix.cmd.Stderr = logf, logf
	if err := ix.cmd.Start(); err != nil {
		t.Fatalf("starting influxd: %v", err)
	}
	ix.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(ix.cmd, ix.exited)

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-ix.exited:
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("influxd exited at start:\n%s", log)
		default:
		}
		resp, err := http.Get(ix.baseURL() + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				ix.version = resp.Header.Get("X-Influxdb-Version")
				return
			}
		}
		if time.Now().After(deadline) {
			ix.stop()
			t.Fatalf("influxd did not answer /ping within 30s (last error: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends influxd: SIGTERM, then SIGKILL after 15 s. It returns once the
// process has exited.
func (ix *influxdTarget) stop() {
	if ix.cmd == nil {
		return
	}
	defer func() { ix.cmd = nil }()
	if err := ix.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = ix.cmd.Process.Kill()
	}
	select {
	case <-ix.exited:
	case <-time.After(15 * time.Second):
		_ = ix.cmd.Process.Kill()
		<-ix.exited
	}
}
