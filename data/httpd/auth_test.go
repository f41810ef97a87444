package httpd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/meta"
)

func q(s string) string { return "/query?q=" + url.QueryEscape(s) }

// TestStatusTable walks the rows of COMPAT.md's status table that the HTTP
// layer can reach.
func TestStatusTable(t *testing.T) {
	t.Parallel()
	future := time.Now().Add(time.Hour)
	_, parseErr := influxql.ParseQuery("SELECT FROM")

	tests := []struct {
		name   string
		rq     req
		status int
		msg    string
	}{
		{name: "query without credentials", rq: req{target: q("SHOW DATABASES")},
			status: 401, msg: "unable to parse authentication credentials"},
		{name: "write without credentials", rq: req{method: "POST", target: "/write?db=db0", body: "cpu v=1"},
			status: 401, msg: "unable to parse authentication credentials"},
		{name: "unparsable header", rq: req{target: q("SHOW DATABASES"), headers: map[string]string{"Authorization": "Digest abc"}},
			status: 401, msg: "unable to parse authentication credentials"},
		{name: "only u in query string", rq: req{target: q("SHOW DATABASES") + "&u=admin"},
			status: 401, msg: "unable to parse authentication credentials"},
		{name: "wrong password", rq: req{target: q("SHOW DATABASES"), headers: map[string]string{"Authorization": basic("admin", "nope")}},
			status: 401, msg: "authorization failed"},
		{name: "unknown user", rq: req{target: q("SHOW DATABASES"), headers: map[string]string{"Authorization": basic("ghost", "nope")}},
			status: 401, msg: "authorization failed"},
		{name: "wrong password in u/p", rq: req{target: q("SHOW DATABASES") + "&u=admin&p=nope"},
			status: 401, msg: "authorization failed"},
		{name: "wrong password as Token", rq: req{target: q("SHOW DATABASES"), headers: map[string]string{"Authorization": "Token admin:nope"}},
			status: 401, msg: "authorization failed"},
		{name: "jwt expired", rq: req{target: q("SHOW DATABASES"), headers: map[string]string{
			"Authorization": "Bearer " + mintToken(t, "admin", time.Now().Add(-time.Hour))}},
			status: 401, msg: "Token is expired"},
		{name: "jwt without exp", rq: req{target: q("SHOW DATABASES"), headers: map[string]string{
			"Authorization": "Bearer " + rawToken(map[string]any{"alg": "HS256", "typ": "JWT"}, map[string]any{"username": "admin"}, jwtSecret)}},
			status: 401, msg: "token expiration required"},
		{name: "jwt username not a string", rq: req{target: q("SHOW DATABASES"), headers: map[string]string{
			"Authorization": "Bearer " + rawToken(map[string]any{"alg": "HS256", "typ": "JWT"}, map[string]any{"username": 7, "exp": future.Unix()}, jwtSecret)}},
			status: 401, msg: "username in token must be a string"},
		{name: "jwt bad signature", rq: req{target: q("SHOW DATABASES"), headers: map[string]string{
			"Authorization": "Bearer " + rawToken(map[string]any{"alg": "HS256", "typ": "JWT"}, map[string]any{"username": "admin", "exp": future.Unix()}, []byte("another secret, just as long...."))}},
			status: 401, msg: "signature is invalid"},
		{name: "jwt two segments", rq: req{target: q("SHOW DATABASES"), headers: map[string]string{"Authorization": "Bearer abc.def"}},
			status: 401, msg: "token contains an invalid number of segments"},
		{name: "jwt alg none", rq: req{target: q("SHOW DATABASES"), headers: map[string]string{
			"Authorization": "Bearer " + rawToken(map[string]any{"alg": "none", "typ": "JWT"}, map[string]any{"username": "admin", "exp": future.Unix()}, jwtSecret)}},
			status: 401, msg: "unexpected signing method: none"},
		{name: "jwt alg RS256", rq: req{target: q("SHOW DATABASES"), headers: map[string]string{
			"Authorization": "Bearer " + rawToken(map[string]any{"alg": "RS256", "typ": "JWT"}, map[string]any{"username": "admin", "exp": future.Unix()}, jwtSecret)}},
			status: 401, msg: "unexpected signing method: RS256"},
		{name: "jwt for a missing user", rq: req{target: q("SHOW DATABASES"), headers: map[string]string{
			"Authorization": "Bearer " + mintToken(t, "ghost", future)}},
			status: 401, msg: "user not found"},
		{name: "jwt on write, wrong user privilege", rq: req{method: "POST", target: "/write?db=db2", body: "cpu v=1", headers: map[string]string{
			"Authorization": "Bearer " + mintToken(t, "reader", future)}},
			status: 403, msg: `"reader" user is not authorized to write to database "db2"`},

		{name: "statement needs admin", rq: req{target: q("CREATE DATABASE foo"), user: "reader"},
			status: 403, msg: "error authorizing query: reader not authorized to execute statement 'CREATE DATABASE foo', requires admin privilege"},
		{name: "statement needs admin, password redacted", rq: req{target: q("CREATE USER bob WITH PASSWORD 'secret'"), user: "reader"},
			status: 403, msg: "error authorizing query: reader not authorized to execute statement 'CREATE USER bob WITH PASSWORD [REDACTED]', requires admin privilege"},
		{name: "statement needs READ", rq: req{target: q("SELECT * FROM cpu") + "&db=db0", user: "writer"},
			status: 403, msg: "error authorizing query: writer not authorized to execute statement 'SELECT * FROM cpu', requires READ on db0"},
		{name: "statement needs WRITE", rq: req{target: q("DELETE FROM cpu") + "&db=db0", user: "reader"},
			status: 403, msg: "error authorizing query: reader not authorized to execute statement 'DELETE FROM cpu', requires WRITE on db0"},
		{name: "one denied statement fails the query", rq: req{target: q("SELECT * FROM cpu; DROP DATABASE db0") + "&db=db0", user: "reader"},
			status: 403, msg: "error authorizing query: reader not authorized to execute statement 'DROP DATABASE db0', requires admin privilege"},
		{name: "write without privilege", rq: req{method: "POST", target: "/write?db=db0", body: "cpu v=1", user: "reader"},
			status: 403, msg: `"reader" user is not authorized to write to database "db0"`},
		{name: "write without db", rq: req{method: "POST", target: "/write", body: "cpu v=1", user: "writer"},
			status: 400, msg: "database is required"},
		{name: "write to missing db", rq: req{method: "POST", target: "/write?db=nope", body: "cpu v=1", user: "writer"},
			status: 404, msg: `database not found: "nope"`},
		{name: "missing db is checked before the 403", rq: req{method: "POST", target: "/write?db=nope", body: "cpu v=1", user: "nobody"},
			status: 404, msg: `database not found: "nope"`},
		{name: "parse error after authentication", rq: req{target: q("SELECT FROM"), user: "reader"},
			status: 400, msg: "error parsing query: " + parseErr.Error()},
		{name: "bad credentials win over a bad query", rq: req{target: q("SELECT FROM"), headers: map[string]string{"Authorization": basic("reader", "nope")}},
			status: 401, msg: "authorization failed"},
		{name: "no credentials win over a missing q", rq: req{target: "/query"},
			status: 401, msg: "unable to parse authentication credentials"},

		{name: "admin may do anything", rq: req{target: q("CREATE DATABASE foo"), user: "admin"}, status: 200},
		{name: "reader reads", rq: req{target: q("SELECT * FROM cpu") + "&db=db0", user: "reader"}, status: 200},
		{name: "u/p in the query string", rq: req{target: q("SELECT * FROM cpu") + "&db=db0&u=reader&p=readerpw"}, status: 200},
		{name: "Token user:password", rq: req{target: q("SELECT * FROM cpu") + "&db=db0", headers: map[string]string{"Authorization": "Token reader:readerpw"}}, status: 200},
		{name: "bearer token", rq: req{target: q("SELECT * FROM cpu") + "&db=db0", headers: map[string]string{"Authorization": "Bearer " + mintToken(t, "reader", future)}}, status: 200},
		{name: "ALL grants read", rq: req{target: q("SELECT * FROM cpu") + "&db=db2", user: "allp"}, status: 200},
		{name: "writer writes", rq: req{method: "POST", target: "/write?db=db0", body: "cpu v=1", user: "writer"}, status: 204},
		{name: "admin writes anywhere", rq: req{method: "POST", target: "/write?db=db2", body: "cpu v=1", user: "admin"}, status: 204},
		{name: "SET PASSWORD for oneself", rq: req{target: q("SET PASSWORD FOR reader = 'new'"), method: "POST", user: "reader"}, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			res := s.do(tt.rq)
			wantStatus(t, res, tt.status, tt.msg)
			if tt.status/100 != 2 {
				if n := len(s.eng.queryCalls()) + len(s.eng.writeCalls()); n != 0 {
					t.Errorf("refused request reached the engine %d times", n)
				}
			}
		})
	}
}

// TestCardinalityOfAnotherDatabaseIsForbidden (issue 6, point 3): a reader
// of db0 asking for the cardinalities of db1 gets COMPAT.md's 403; the
// [EXACT] CARDINALITY forms needed no privilege on the database they count.
func TestCardinalityOfAnotherDatabaseIsForbidden(t *testing.T) {
	t.Parallel()
	for _, stmt := range []string{
		"SHOW MEASUREMENT CARDINALITY ON db1",
		"SHOW MEASUREMENT EXACT CARDINALITY ON db1",
		"SHOW SERIES CARDINALITY ON db1",
		"SHOW SERIES EXACT CARDINALITY ON db1",
		"SHOW TAG KEY CARDINALITY ON db1",
		"SHOW TAG KEY EXACT CARDINALITY ON db1",
		"SHOW TAG VALUES CARDINALITY ON db1 WITH KEY = host",
		"SHOW TAG VALUES EXACT CARDINALITY ON db1 WITH KEY = host WHERE host =~ /^a/",
		"SHOW FIELD KEY CARDINALITY ON db1",
		"SHOW FIELD KEY EXACT CARDINALITY ON db1",
		"SHOW MEASUREMENT EXACT CARDINALITY",
	} {
		t.Run(stmt, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			target := q(stmt) + "&db=db0"
			if !strings.Contains(stmt, " ON ") {
				target = q(stmt) + "&db=db1"
			}
			canonical := mustParseQuery(t, stmt).String()
			wantStatus(t, s.do(req{target: target, user: "reader"}), 403,
				"error authorizing query: reader not authorized to execute statement '"+canonical+"', requires READ on db1")
			if n := len(s.eng.queryCalls()); n != 0 {
				t.Errorf("the engine ran %d refused queries", n)
			}
			wantStatus(t, s.do(req{target: strings.Replace(target, "db1", "db0", -1), user: "reader"}), 200, "")
		})
	}
}

func TestBearerDisabledWithoutSecret(t *testing.T) {
	t.Parallel()
	cache := newCache(t, stateOf(t, false), auth.Options{})
	s := newServerWith(t, Config{AuthEnabled: true, Version: testVersion, Build: "OSS"}, cache)
	res := s.do(req{target: q("SHOW DATABASES"), headers: map[string]string{
		"Authorization": "Bearer " + mintToken(t, "admin", time.Now().Add(time.Hour))}})
	wantStatus(t, res, 401, "bearer auth disabled")
}

// TestAdminBootstrap: with auth on and no admin, only
// CREATE USER ... WITH ALL PRIVILEGES runs, without credentials.
func TestAdminBootstrap(t *testing.T) {
	t.Parallel()
	const firstAdmin = "CREATE USER root WITH PASSWORD 'pw' WITH ALL PRIVILEGES"
	tests := []struct {
		name   string
		rq     req
		status int
		msg    string
	}{
		{name: "bootstrap without credentials", rq: req{method: "POST", target: q(firstAdmin)}, status: 200},
		{name: "bootstrap as GET", rq: req{target: q(firstAdmin)}, status: 200},
		{name: "bootstrap with bad credentials", rq: req{method: "POST", target: q(firstAdmin),
			headers: map[string]string{"Authorization": basic("x", "y")}}, status: 200},
		{name: "non-admin user", rq: req{method: "POST", target: q("CREATE USER bob WITH PASSWORD 'pw'")},
			status: 403, msg: auth.CreateAdminFirstMessage},
		{name: "other statement", rq: req{target: q("SHOW DATABASES")},
			status: 403, msg: auth.CreateAdminFirstMessage},
		{name: "other statement with valid credentials", rq: req{target: q("SHOW DATABASES"), user: "reader"},
			status: 403, msg: auth.CreateAdminFirstMessage},
		{name: "bootstrap plus another statement", rq: req{method: "POST", target: q(firstAdmin + "; SHOW DATABASES")},
			status: 403, msg: auth.CreateAdminFirstMessage},
		{name: "parse error first", rq: req{target: q("CREATE USER")}, status: 400},
		{name: "write", rq: req{method: "POST", target: "/write?db=db0", body: "cpu v=1", user: "writer"},
			status: 403, msg: `user is required to write to database "db0"`},
		{name: "ping", rq: req{target: "/ping"}, status: 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Users exist, but no admin.
			cache := newCache(t, stateOf(t, true, "reader", "writer"), auth.Options{})
			s := newServerWith(t, Config{AuthEnabled: true, Version: testVersion, Build: "OSS"}, cache)
			res := s.do(tt.rq)
			wantStatus(t, res, tt.status, tt.msg)
			if calls := s.eng.queryCalls(); len(calls) != 0 {
				t.Fatalf("the statement executor ran %v, want nothing (the bootstrap goes to BootstrapAdmin)", calls)
			}
			boots := s.eng.bootstrapCalls()
			if tt.status != 200 {
				if len(boots) != 0 {
					t.Fatalf("refused bootstrap ran: %v", boots)
				}
				return
			}
			if !slices.Equal(boots, []string{"root"}) {
				t.Fatalf("BootstrapAdmin calls %v, want [root]", boots)
			}
			want := `{"results":[{"statement_id":0}]}` + "\n"
			if tt.rq.method == "" { // GET: InfluxDB's deprecation warning, as for any change in a GET
				want = `{"results":[{"statement_id":0,"messages":[{"level":"warning","text":"deprecated use of 'CREATE USER root WITH PASSWORD [REDACTED] WITH ALL PRIVILEGES' in a read only context, please use a POST request instead"}]}]}` + "\n"
			}
			if res.body != want {
				t.Errorf("body %s, want %s", res.body, want)
			}
		})
	}
}

// Issue 6, point 2b: a bootstrap that the meta state machine refuses because
// an admin exists by then (this node's state was behind, or another
// bootstrap won the race) gets the 401 of a request without credentials; a
// bootstrap that fails for another reason gets the statement's error.
func TestAdminBootstrapRefusedByMeta(t *testing.T) {
	t.Parallel()
	const firstAdmin = "CREATE USER root WITH PASSWORD 'pw' WITH ALL PRIVILEGES"
	for _, tc := range []struct {
		err    error
		status int
		msg    string
		body   string
	}{
		{fmt.Errorf("meta: refused: %w", meta.ErrAdminExists), 401, "unable to parse authentication credentials", ""},
		{meta.ErrUserExists, 200, "", `{"results":[{"statement_id":0,"error":"user already exists"}]}` + "\n"},
	} {
		cache := newCache(t, stateOf(t, true, "reader"), auth.Options{})
		s := newServerWith(t, Config{AuthEnabled: true, Version: testVersion, Build: "OSS"}, cache)
		s.eng.bootstrapErr = tc.err
		res := s.do(req{method: "POST", target: q(firstAdmin)})
		wantStatus(t, res, tc.status, tc.msg)
		if tc.body != "" && res.body != tc.body {
			t.Errorf("%v: body %s, want %s", tc.err, res.body, tc.body)
		}
	}
}

// TestBootstrapEndsWhenAdminAppears: once the state has an admin, the
// same request needs credentials.
func TestBootstrapEndsWhenAdminAppears(t *testing.T) {
	t.Parallel()
	cache := newCache(t, stateOf(t, true, "reader"), auth.Options{})
	s := newServerWith(t, Config{AuthEnabled: true, Version: testVersion, Build: "OSS"}, cache)
	rq := req{method: "POST", target: q("CREATE USER root WITH PASSWORD 'pw' WITH ALL PRIVILEGES")}
	wantStatus(t, s.do(rq), 200, "")
	cache.Update(stateOf(t, true, "reader", "admin"))
	wantStatus(t, s.do(rq), 401, "unable to parse authentication credentials")
	rq.user = "admin"
	wantStatus(t, s.do(rq), 200, "")
}

func TestAuthDisabled(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *Config) { c.AuthEnabled = false })
	res := s.do(req{target: q("SHOW DATABASES"), headers: map[string]string{"Authorization": basic("admin", "wrong")}})
	wantStatus(t, res, 200, "")
	if got := res.body; got != `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["db0"],["db1"],["db2"]]}]}]}`+"\n" {
		t.Errorf("body = %s", got)
	}
	calls := s.eng.queryCalls()
	if calls[0].opt.CoarseAuthorizer != query.OpenCoarseAuthorizer {
		t.Errorf("CoarseAuthorizer = %#v, want OpenCoarseAuthorizer", calls[0].opt.CoarseAuthorizer)
	}
	wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: "cpu v=1"}), 204, "")
	if w := s.eng.writeCalls(); len(w) != 1 || w[0].user != "" {
		t.Errorf("writes = %+v, want one with a nil user", w)
	}

	// Without auth a nil cache is fine.
	h := NewHandler(Config{Version: testVersion, Build: "OSS"}, newFakeEngine(), nil, nil)
	res = serve(t, h, mustRequest(t, "GET", q("SHOW DATABASES"), ""))
	wantStatus(t, res, 200, "")
}

func TestNewHandlerNeedsCacheWithAuth(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("NewHandler with AuthEnabled and a nil cache did not panic")
		}
	}()
	NewHandler(Config{AuthEnabled: true}, newFakeEngine(), nil, nil)
}

// TestShowDatabasesFilter: SHOW DATABASES lists only the databases the
// user may read or write; admins see all.
func TestShowDatabasesFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		user string
		want string
	}{
		{"admin", `[["db0"],["db1"],["db2"]]`},
		{"reader", `[["db0"]]`},
		{"writer", `[["db0"],["db1"]]`},
		{"allp", `[["db2"]]`},
		{"nobody", ``},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			res := s.do(req{target: q("SHOW DATABASES"), user: tt.user})
			wantStatus(t, res, 200, "")
			want := `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"]}]}]}` + "\n"
			if tt.want != "" {
				want = `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":` + tt.want + `}]}]}` + "\n"
			}
			if res.body != want {
				t.Errorf("body = %s, want %s", res.body, want)
			}
		})
	}
}

func TestCoarseUser(t *testing.T) {
	t.Parallel()
	cache := newCache(t, stateOf(t, false), auth.Options{})
	login := func(name string) *auth.User {
		u, err := cache.Authenticate(context.Background(), auth.Credentials{Method: auth.Basic, Username: name, Password: passwordOf(name)}, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	tests := []struct {
		user string
		priv influxql.Privilege
		db   string
		want bool
	}{
		{"admin", influxql.AllPrivileges, "anything", true},
		{"reader", influxql.ReadPrivilege, "db0", true},
		{"reader", influxql.WritePrivilege, "db0", false},
		{"reader", influxql.ReadPrivilege, "db1", false},
		{"writer", influxql.WritePrivilege, "db1", true},
		{"writer", influxql.ReadPrivilege, "db1", false},
		{"allp", influxql.ReadPrivilege, "db2", true},
		{"allp", influxql.WritePrivilege, "db2", true},
		{"nobody", influxql.ReadPrivilege, "db0", false},
	}
	for _, tt := range tests {
		a := coarseAuthorizer(authOn, login(tt.user))
		if got := a.AuthorizeDatabase(tt.priv, tt.db); got != tt.want {
			t.Errorf("%s AuthorizeDatabase(%v, %s) = %v, want %v", tt.user, tt.priv, tt.db, got, tt.want)
		}
	}
	if coarseAuthorizer(authBootstrap, nil).AuthorizeDatabase(influxql.ReadPrivilege, "db0") {
		t.Error("the bootstrap authorizer allows reading")
	}
	if coarseAuthorizer(authOff, nil) != query.OpenCoarseAuthorizer {
		t.Error("with auth off the authorizer is not OpenCoarseAuthorizer")
	}
	// The engine learns from it who runs a query (SHOW QUERIES, KILL QUERY).
	type runner interface {
		ID() string
		AuthorizeUnrestricted() bool
	}
	for _, tt := range []struct {
		a     query.CoarseAuthorizer
		name  string
		admin bool
	}{
		{coarseAuthorizer(authOn, login("admin")), "admin", true},
		{coarseAuthorizer(authOn, login("reader")), "reader", false},
		{coarseAuthorizer(authBootstrap, nil), "", false},
	} {
		r, ok := tt.a.(runner)
		if !ok || r.ID() != tt.name || r.AuthorizeUnrestricted() != tt.admin {
			t.Errorf("runner of %q: %#v", tt.name, tt.a)
		}
	}

	mu := engineUser(login("admin"))
	if mu.ID() != "admin" || !mu.AuthorizeUnrestricted() || !mu.IsOpen() ||
		!mu.AuthorizeSeriesRead("db", nil, nil) || !mu.AuthorizeSeriesWrite("db", nil, nil) {
		t.Errorf("meta user for admin: %#v", mu)
	}
	if mu := engineUser(login("reader")); mu.ID() != "reader" || mu.AuthorizeUnrestricted() {
		t.Errorf("meta user for reader: %#v", mu)
	}
	if engineUser(nil) != nil {
		t.Error("engineUser(nil) is not a nil interface")
	}
}

// TestWriteUser: the write passes the authenticated user to the engine.
func TestWriteUser(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: "cpu v=1", user: "writer"}), 204, "")
	wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: "cpu v=1", user: "admin"}), 204, "")
	w := s.eng.writeCalls()
	if len(w) != 2 || w[0].user != "writer" || w[0].admin || w[1].user != "admin" || !w[1].admin {
		t.Fatalf("writes = %+v", w)
	}
}

// TestTooManyFailures: past the failure threshold the cache refuses with
// 429 and the handler adds Retry-After in whole seconds, rounded up.
func TestTooManyFailures(t *testing.T) {
	t.Parallel()
	base := time.Unix(1_700_000_000, 0)
	var offset atomic.Int64
	now := func() time.Time { return base.Add(time.Duration(offset.Load())) }
	cache := newCache(t, stateOf(t, false), auth.Options{FailureThreshold: 2, FailureWindow: time.Minute, Now: now})
	s := newServerWith(t, Config{AuthEnabled: true, Version: testVersion, Build: "OSS"}, cache)
	bad := req{target: q("SHOW DATABASES"), headers: map[string]string{"Authorization": basic("reader", "wrong")}}
	wantStatus(t, s.do(bad), 401, "authorization failed")
	wantStatus(t, s.do(bad), 401, "authorization failed")
	offset.Store(int64(1500 * time.Millisecond))
	res := s.do(bad)
	wantStatus(t, res, 429, "too many failed authentication attempts")
	if got := res.header.Get("Retry-After"); got != "59" { // 58.5 s left
		t.Errorf("Retry-After = %q, want 59", got)
	}
	// Even the right password waits, and a write is refused the same way.
	wantStatus(t, s.do(req{target: q("SHOW DATABASES"), user: "reader"}), 429, "too many failed authentication attempts")
	wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: "cpu v=1", user: "reader"}), 429, "")
	// Another client is not affected.
	r := mustRequest(t, "GET", q("SHOW DATABASES"), "")
	r.RemoteAddr = "198.51.100.7:4000"
	r.SetBasicAuth("reader", "readerpw")
	wantStatus(t, serve(t, s.h, r), 200, "")
	// After the window, the user may try again.
	offset.Store(int64(time.Minute + time.Second))
	wantStatus(t, s.do(req{target: q("SHOW DATABASES"), user: "reader"}), 200, "")
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    time.Duration
		want int64
	}{
		{0, 1}, {time.Nanosecond, 1}, {time.Second, 1}, {time.Second + time.Nanosecond, 2},
		{59500 * time.Millisecond, 60}, {time.Minute, 60},
	} {
		if got := retryAfterSeconds(tt.d); got != tt.want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
	// A 429 without RetryAfter still says when to come back.
	s := newServer(t)
	rec := newRecorder(s)
	s.h.authError(rec, &auth.Error{Status: http.StatusTooManyRequests, Message: "slow down"})
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.1:1234": "192.0.2.1",
		"[::1]:80":       "::1",
		"192.0.2.1":      "192.0.2.1",
		"":               "",
		"@":              "@",
	} {
		if got := clientIP(in); got != want {
			t.Errorf("clientIP(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPingAuth: /ping, /health and /status need credentials only with
// ping-auth-enabled (and auth enabled, and an admin).
func TestPingAuth(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/ping", "/health", "/status"} {
		s := newServer(t)
		if res := s.do(req{target: path}); res.status/100 != 2 {
			t.Errorf("%s without ping auth: %d", path, res.status)
		}
		s = newServer(t, func(c *Config) { c.PingAuthEnabled = true })
		wantStatus(t, s.do(req{target: path}), 401, "unable to parse authentication credentials")
		wantStatus(t, s.do(req{target: path, headers: map[string]string{"Authorization": basic("admin", "x")}}), 401, "authorization failed")
		if res := s.do(req{target: path, user: "nobody"}); res.status/100 != 2 {
			t.Errorf("%s with ping auth and credentials: %d", path, res.status)
		}
		s = newServer(t, func(c *Config) { c.PingAuthEnabled = true; c.AuthEnabled = false })
		if res := s.do(req{target: path}); res.status/100 != 2 {
			t.Errorf("%s with ping auth but auth disabled: %d", path, res.status)
		}
	}
}

func TestAccessLogHasNoSecrets(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	logger := newTestLogger(&buf)
	cache := newCache(t, stateOf(t, false), auth.Options{})
	h := NewHandler(Config{AuthEnabled: true, LogEnabled: true, Version: testVersion, Build: "OSS"}, newFakeEngine(), cache, logger)
	r := mustRequest(t, "GET", q("CREATE USER x WITH PASSWORD 'sekrit1'")+"&u=admin&p=adminpw", "")
	wantStatus(t, serve(t, h, r), 200, "")
	r = mustRequest(t, "GET", q("SHOW DATABASES")+"&u=admin&p=wrongpw", "")
	wantStatus(t, serve(t, h, r), 401, "")
	out := buf.String()
	for _, secret := range []string{"adminpw", "wrongpw", "sekrit1"} {
		if strings.Contains(out, secret) {
			t.Errorf("access log contains %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"user=admin", "status=200", "status=401", "path=/query", "component=httpd"} {
		if !strings.Contains(out, want) {
			t.Errorf("access log lacks %q:\n%s", want, out)
		}
	}
}
