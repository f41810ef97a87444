package data_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/proto/metapb"
)

const (
	localSecret = "node-local-jwt-secret-0123456789"
	adminPW     = "admin-pw-Q7"
	readerPW    = "reader-pw-Q7"
	writerPW    = "writer-pw-Q7"
)

func authOn(secret string) func(*data.Config) {
	return func(c *data.Config) {
		c.HTTP.AuthEnabled = true
		c.HTTP.SharedSecret = secret
	}
}

// setupUsers bootstraps the admin (without credentials, as InfluxDB allows)
// and creates db0, db1, a reader of db0 and a writer of db0.
func setupUsers(t *testing.T, base string) {
	t.Helper()
	// Before an admin exists, everything but the admin bootstrap is refused.
	r := query(t, base, "SHOW DATABASES", noCred)
	if r.status != http.StatusForbidden || r.errorMessage() != "error authorizing query: create admin user first or disable authentication" {
		t.Fatalf("before admin: %d %s", r.status, r.body)
	}
	r = query(t, base, "CREATE USER reader WITH PASSWORD 'x'", noCred)
	if r.status != http.StatusForbidden {
		t.Fatalf("non-admin CREATE USER before admin exists: %d %s", r.status, r.body)
	}
	mustQuery(t, base, "CREATE USER admin WITH PASSWORD '"+adminPW+"' WITH ALL PRIVILEGES", noCred)
	admin := basic("admin", adminPW)
	for _, q := range []string{
		"CREATE DATABASE db0",
		"CREATE DATABASE db1",
		"CREATE USER reader WITH PASSWORD '" + readerPW + "'",
		"CREATE USER writer WITH PASSWORD '" + writerPW + "'",
		"GRANT READ ON db0 TO reader",
		"GRANT WRITE ON db0 TO writer",
	} {
		mustQuery(t, base, q, admin)
	}
}

type matrixCase struct {
	name   string
	run    func(t *testing.T, base string) response
	status int
	msg    string
}

// authMatrix is COMPAT.md's status table, as rows to run against a node set
// up by setupUsers whose [http] shared-secret is localSecret.
func authMatrix() []matrixCase {
	now := time.Now()
	sec := []byte(localSecret)
	q := func(c cred) func(t *testing.T, base string) response {
		return func(t *testing.T, base string) response { return query(t, base, "SHOW DATABASES", c) }
	}
	return []matrixCase{
		{"no credentials", q(noCred), 401, "unable to parse authentication credentials"},
		{"u without p", func(t *testing.T, base string) response {
			return do(t, "GET", base+"/query?u=admin&q=SHOW+DATABASES", noCred, nil, nil)
		}, 401, "unable to parse authentication credentials"},
		{"unparsable basic", func(t *testing.T, base string) response {
			return do(t, "GET", base+"/query?q=SHOW+DATABASES", noCred, nil, map[string]string{"Authorization": "Basic !!!"})
		}, 401, "unable to parse authentication credentials"},
		{"wrong password u/p", q(userPass("admin", "nope")), 401, "authorization failed"},
		{"wrong password basic", q(basic("admin", "nope")), 401, "authorization failed"},
		{"unknown user", q(basic("ghost", "nope")), 401, "authorization failed"},
		{"wrong password token", q(tokenAuth("admin", "nope")), 401, "authorization failed"},
		{"admin u/p", q(userPass("admin", adminPW)), 200, ""},
		{"admin basic", q(basic("admin", adminPW)), 200, ""},
		{"admin token", q(tokenAuth("admin", adminPW)), 200, ""},
		{"jwt HS256", q(bearer(signJWTNoT(jwt.SigningMethodHS256, jwt.MapClaims{"username": "admin", "exp": now.Add(time.Hour).Unix()}, sec))), 200, ""},
		{"jwt HS384", q(bearer(signJWTNoT(jwt.SigningMethodHS384, jwt.MapClaims{"username": "reader", "exp": now.Add(time.Hour).Unix()}, sec))), 200, ""},
		{"jwt HS512", q(bearer(signJWTNoT(jwt.SigningMethodHS512, jwt.MapClaims{"username": "reader", "exp": now.Add(time.Hour).Unix()}, sec))), 200, ""},
		{"jwt expired", q(bearer(signJWTNoT(jwt.SigningMethodHS256, jwt.MapClaims{"username": "admin", "exp": now.Add(-time.Minute).Unix()}, sec))), 401, "Token is expired"},
		{"jwt without exp", q(bearer(signJWTNoT(jwt.SigningMethodHS256, jwt.MapClaims{"username": "admin"}, sec))), 401, "token expiration required"},
		{"jwt username not a string", q(bearer(signJWTNoT(jwt.SigningMethodHS256, jwt.MapClaims{"username": 42, "exp": now.Add(time.Hour).Unix()}, sec))), 401, "username in token must be a string"},
		{"jwt bad signature", q(bearer(signJWTNoT(jwt.SigningMethodHS256, jwt.MapClaims{"username": "admin", "exp": now.Add(time.Hour).Unix()}, []byte("another-secret-0123456789abcdef")))), 401, "signature is invalid"},
		{"jwt two segments", q(bearer("abc.def")), 401, "token contains an invalid number of segments"},
		{"jwt alg none", q(bearer(noneJWTNoT(jwt.MapClaims{"username": "admin", "exp": now.Add(time.Hour).Unix()}))), 401, "unexpected signing method: none"},
		{"jwt unknown user", q(bearer(signJWTNoT(jwt.SigningMethodHS256, jwt.MapClaims{"username": "ghost", "exp": now.Add(time.Hour).Unix()}, sec))), 401, "user not found"},
		{"statement needs admin", func(t *testing.T, base string) response {
			return query(t, base, "CREATE DATABASE x", basic("reader", readerPW))
		}, 403, "error authorizing query: reader not authorized to execute statement 'CREATE DATABASE x', requires admin privilege"},
		{"password is redacted in 403", func(t *testing.T, base string) response {
			return query(t, base, "CREATE USER evil WITH PASSWORD 'topsecret'", basic("reader", readerPW))
		}, 403, "error authorizing query: reader not authorized to execute statement 'CREATE USER evil WITH PASSWORD [REDACTED]', requires admin privilege"},
		{"statement needs READ", func(t *testing.T, base string) response {
			return queryDB(t, base, "db1", "SELECT * FROM cpu", basic("reader", readerPW))
		}, 403, "error authorizing query: reader not authorized to execute statement 'SELECT * FROM cpu', requires READ on db1"},
		{"whole query authorized first", func(t *testing.T, base string) response {
			return queryDB(t, base, "db0", "SELECT * FROM cpu; DROP DATABASE db0", basic("reader", readerPW))
		}, 403, "error authorizing query: reader not authorized to execute statement 'DROP DATABASE db0', requires admin privilege"},
		{"reader may read", func(t *testing.T, base string) response {
			return queryDB(t, base, "db0", "SELECT * FROM cpu", basic("reader", readerPW))
		}, 200, ""},
		{"write without privilege", func(t *testing.T, base string) response {
			return write(t, base, "db0", "cpu value=1", basic("reader", readerPW))
		}, 403, `"reader" user is not authorized to write to database "db0"`},
		{"write with privilege", func(t *testing.T, base string) response {
			return write(t, base, "db0", "cpu value=1", basic("writer", writerPW))
		}, 204, ""},
		{"write without db", func(t *testing.T, base string) response {
			return do(t, "POST", base+"/write", basic("writer", writerPW), strings.NewReader("cpu value=1"), nil)
		}, 400, "database is required"},
		{"write to missing db before 403", func(t *testing.T, base string) response {
			return write(t, base, "nope", "cpu value=1", basic("reader", readerPW))
		}, 404, `database not found: "nope"`},
		{"write bad credentials", func(t *testing.T, base string) response {
			return write(t, base, "db0", "cpu value=1", basic("writer", "nope"))
		}, 401, "authorization failed"},
		{"parse error after authentication", func(t *testing.T, base string) response {
			return query(t, base, "SELEKT 1", basic("reader", readerPW))
		}, 400, "error parsing query: found SELEKT, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1"},
		{"parse error, bad credentials", func(t *testing.T, base string) response {
			return query(t, base, "SELEKT 1", basic("reader", "nope"))
		}, 401, "authorization failed"},
		{"ping needs no credentials", func(t *testing.T, base string) response {
			return do(t, "GET", base+"/ping", noCred, nil, nil)
		}, 204, ""},
	}
}

func signJWTNoT(m jwt.SigningMethod, claims jwt.MapClaims, secret []byte) string {
	s, err := jwt.NewWithClaims(m, claims).SignedString(secret)
	if err != nil {
		panic(err)
	}
	return s
}

func noneJWTNoT(claims jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		panic(err)
	}
	return s
}

func runMatrix(t *testing.T, base string) {
	for _, tc := range authMatrix() {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.run(t, base)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (body %s)", r.status, tc.status, r.body)
			}
			if r.header.Get("X-Influxdb-Version") == "" || r.header.Get("X-Influxdb-Build") == "" {
				t.Fatalf("missing X-Influxdb-Version/Build headers: %v", r.header)
			}
			if tc.msg != "" {
				if got := r.errorMessage(); got != tc.msg {
					t.Fatalf("error %q, want %q", got, tc.msg)
				}
			}
			switch {
			case tc.status == 401:
				if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="InfluxDB"` {
					t.Fatalf("WWW-Authenticate %q", got)
				}
				if r.header.Get("X-Influxdb-Error") != "" {
					t.Fatalf("401 must not set X-Influxdb-Error")
				}
			case tc.status >= 400:
				if got := r.header.Get("X-Influxdb-Error"); got != tc.msg {
					t.Fatalf("X-Influxdb-Error %q, want %q", got, tc.msg)
				}
			}
		})
	}
}

func TestAuthMatrixStandalone(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: authOn(localSecret)})
	setupUsers(t, d.URL)
	runMatrix(t, d.URL)
}

func TestAuthMatrixCluster(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: "internal-secret-for-tests"})
	d1 := c.AddData(testcluster.DataOptions{Configure: authOn(localSecret)})
	d2 := c.AddData(testcluster.DataOptions{Configure: authOn(localSecret)})
	setupUsers(t, d1.URL)
	// Everything was done through d1; d2 must enforce it.
	testcluster.WaitFor(t, 20*time.Second, "d2 to catch up", func() bool { return d2.MetaIndex() >= d1.MetaIndex() })
	runMatrix(t, d2.URL)

	// A change through d2 is enforced on d1 (and on d2 when the statement returns).
	mustQuery(t, d2.URL, "REVOKE READ ON db0 FROM reader", basic("admin", adminPW))
	if r := queryDB(t, d2.URL, "db0", "SELECT * FROM cpu", basic("reader", readerPW)); r.status != 403 {
		t.Fatalf("d2 right after REVOKE: %d %s", r.status, r.body)
	}
	testcluster.WaitFor(t, 20*time.Second, "d1 to enforce the revoke", func() bool {
		return queryDB(t, d1.URL, "db0", "SELECT * FROM cpu", basic("reader", readerPW)).status == 403
	})
	if ids := []uint64{d1.NodeID(), d2.NodeID()}; ids[0] == 0 || ids[1] == 0 || ids[0] == ids[1] {
		t.Fatalf("data node IDs %v", ids)
	}
}

func TestBearerDisabledWithoutSecret(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: authOn("")})
	mustQuery(t, d.URL, "CREATE USER admin WITH PASSWORD '"+adminPW+"' WITH ALL PRIVILEGES", noCred)
	tok := signJWT(t, jwt.SigningMethodHS256, jwt.MapClaims{"username": "admin", "exp": time.Now().Add(time.Hour).Unix()}, []byte(""))
	r := query(t, d.URL, "SHOW DATABASES", bearer(tok))
	if r.status != 401 || r.errorMessage() != "bearer auth disabled" {
		t.Fatalf("got %d %s", r.status, r.body)
	}
}

func TestAuthDisabledNeedsNoCredentials(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{})
	mustQuery(t, d.URL, "CREATE DATABASE db0", noCred)
	if r := write(t, d.URL, "db0", "cpu value=1 1000000000", noCred); r.status != 204 {
		t.Fatalf("write: %d %s", r.status, r.body)
	}
	r := queryDB(t, d.URL, "db0", "SELECT value FROM cpu", noCred)
	if v := seriesValues(t, r); len(v) != 1 {
		t.Fatalf("SELECT: %s", r.body)
	}
}

// InfluxDB 1.x keeps accepting an old password after DROP USER + CREATE USER
// (influxdb#6020), and after SET PASSWORD. Palisade must not.
func TestOldPasswordFailsAtOnce(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: authOn(localSecret)})
	setupUsers(t, d.URL)
	admin := basic("admin", adminPW)
	// Warm the cache with the old password.
	mustQuery(t, d.URL, "SHOW DATABASES", basic("reader", readerPW))

	mustQuery(t, d.URL, "SET PASSWORD FOR reader = 'second-pw'", admin)
	if r := query(t, d.URL, "SHOW DATABASES", basic("reader", readerPW)); r.status != 401 {
		t.Fatalf("old password after SET PASSWORD: %d", r.status)
	}
	mustQuery(t, d.URL, "SHOW DATABASES", basic("reader", "second-pw"))

	mustQuery(t, d.URL, "DROP USER reader", admin)
	if r := query(t, d.URL, "SHOW DATABASES", basic("reader", "second-pw")); r.status != 401 {
		t.Fatalf("password after DROP USER: %d", r.status)
	}
	mustQuery(t, d.URL, "CREATE USER reader WITH PASSWORD 'third-pw'", admin)
	if r := query(t, d.URL, "SHOW DATABASES", basic("reader", "second-pw")); r.status != 401 {
		t.Fatalf("old password after DROP + CREATE: %d", r.status)
	}
	mustQuery(t, d.URL, "SHOW DATABASES", basic("reader", "third-pw"))
}

func TestUserStatements(t *testing.T) {
	d := testcluster.StartStandalone(t, testcluster.DataOptions{Configure: authOn(localSecret)})
	setupUsers(t, d.URL)
	admin := basic("admin", adminPW)

	// CREATE USER is idempotent when everything matches, refused otherwise.
	mustQuery(t, d.URL, "CREATE USER reader WITH PASSWORD '"+readerPW+"'", admin)
	if r := query(t, d.URL, "CREATE USER reader WITH PASSWORD 'different'", admin); r.status != 200 || r.statementError() != "user already exists" {
		t.Fatalf("conflicting CREATE USER: %d %s", r.status, r.body)
	}
	if r := query(t, d.URL, "DROP USER ghost", admin); r.statementError() != "user not found" {
		t.Fatalf("DROP USER ghost: %s", r.body)
	}
	// A non-admin may change its own password (influxdb#7584), not another's.
	mustQuery(t, d.URL, "SET PASSWORD FOR reader = 'mine-now'", basic("reader", readerPW))
	mustQuery(t, d.URL, "SHOW DATABASES", basic("reader", "mine-now"))
	if r := query(t, d.URL, "SET PASSWORD FOR writer = 'hijack'", basic("reader", "mine-now")); r.status != 403 {
		t.Fatalf("SET PASSWORD for another user: %d %s", r.status, r.body)
	}
	// SHOW DATABASES lists only what the user may read or write.
	r := mustQuery(t, d.URL, "SHOW DATABASES", basic("reader", "mine-now"))
	if got := flatten(seriesValues(t, r)); !slices.Equal(got, []string{"db0"}) {
		t.Fatalf("reader sees %v", got)
	}
	r = mustQuery(t, d.URL, "SHOW DATABASES", admin)
	if got := flatten(seriesValues(t, r)); !slices.Equal(got, []string{"db0", "db1"}) {
		t.Fatalf("admin sees %v", got)
	}
	// SHOW USERS / SHOW GRANTS columns.
	r = mustQuery(t, d.URL, "SHOW USERS", admin)
	if !strings.Contains(r.body, `"columns":["user","admin"]`) || !strings.Contains(r.body, `["admin",true]`) {
		t.Fatalf("SHOW USERS: %s", r.body)
	}
	r = mustQuery(t, d.URL, "SHOW GRANTS FOR writer", admin)
	if !strings.Contains(r.body, `"columns":["database","privilege"]`) || !strings.Contains(r.body, `["db0","WRITE"]`) {
		t.Fatalf("SHOW GRANTS: %s", r.body)
	}
}

func flatten(rows [][]any) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprint(r[0]))
	}
	slices.Sort(out)
	return out
}

// JWTs signed with a cluster secret work on every data node without a
// restart, and stop working when the secret is removed.
func TestJWTClusterSecretRotation(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: "internal-secret-for-tests"})
	d := c.AddData(testcluster.DataOptions{Configure: authOn("")})
	mustQuery(t, d.URL, "CREATE USER admin WITH PASSWORD '"+adminPW+"' WITH ALL PRIVILEGES", noCred)
	cl := c.Client("internal-secret-for-tests")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	add := func(id, value string) uint64 {
		resp, err := cl.Execute(ctx, &metapb.Command{Op: &metapb.Command_AddJwtSecret{AddJwtSecret: &metapb.AddJWTSecret{
			Id: id, Value: []byte(value), Created: time.Now().UnixNano(),
		}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Index
	}
	claims := jwt.MapClaims{"username": "admin", "exp": time.Now().Add(time.Hour).Unix()}
	old := signJWT(t, jwt.SigningMethodHS256, claims, []byte("first-cluster-secret-0123456789"))
	if err := d.WaitForMetaIndex(ctx, add("one", "first-cluster-secret-0123456789")); err != nil {
		t.Fatal(err)
	}
	mustQuery(t, d.URL, "SHOW DATABASES", bearer(old))

	// Rotate: add the new secret, both work; remove the old one, only the new works.
	if err := d.WaitForMetaIndex(ctx, add("two", "second-cluster-secret-012345678")); err != nil {
		t.Fatal(err)
	}
	fresh := signJWT(t, jwt.SigningMethodHS256, claims, []byte("second-cluster-secret-012345678"))
	mustQuery(t, d.URL, "SHOW DATABASES", bearer(old))
	mustQuery(t, d.URL, "SHOW DATABASES", bearer(fresh))
	resp, err := cl.Execute(ctx, &metapb.Command{Op: &metapb.Command_RemoveJwtSecret{RemoveJwtSecret: &metapb.RemoveJWTSecret{Id: "one"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitForMetaIndex(ctx, resp.Index); err != nil {
		t.Fatal(err)
	}
	if r := query(t, d.URL, "SHOW DATABASES", bearer(old)); r.status != 401 || r.errorMessage() != "signature is invalid" {
		t.Fatalf("old token after removal: %d %s", r.status, r.body)
	}
	mustQuery(t, d.URL, "SHOW DATABASES", bearer(fresh))
}
