package httpd

import (
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxdb/services/meta"
	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/proto/metapb"
)

const testVersion = "1.10.0"

// --- fake engine ---------------------------------------------------------------

// writeCall is one WritePoints call. Points are copied to strings at call
// time: the handler reuses the buffer they point into.
type writeCall struct {
	db, rp      string
	consistency models.ConsistencyLevel
	user        string // "" for a nil meta.User
	admin       bool
	points      []string
}

// queryCall is one ExecuteQuery call.
type queryCall struct {
	query   string
	opt     query.ExecutionOptions
	closing chan struct{}
}

// fakeEngine records writes and queries and answers queries with canned
// results. It knows the databases in dbs.
type fakeEngine struct {
	mu      sync.Mutex
	dbs     []string
	writes  []writeCall
	queries []queryCall

	// writeErr, when set, is returned by WritePoints (which then records
	// nothing). keep receives the points of a failed write untouched.
	writeErr error
	kept     [][]models.Point
	// writeHook, when set, runs inside WritePoints before it records.
	writeHook func()

	// respond gives the results of one statement; nil uses defaultRespond.
	respond func(stmt influxql.Statement, id int, opt query.ExecutionOptions) []*query.Result
	// block makes ExecuteQuery send nothing until opt.AbortCh is closed.
	block   bool
	started chan struct{} // closed by ExecuteQuery when block is set

	// bootstraps records BootstrapAdmin calls (user names); bootstrapErr,
	// when set, is what BootstrapAdmin returns.
	bootstraps   []string
	bootstrapErr error

	// panicOnDatabase makes Database panic, to test recovery.
	panicOnDatabase bool
	// forget makes the engine record nothing (for long fuzz runs).
	forget bool
}

func newFakeEngine(dbs ...string) *fakeEngine {
	if len(dbs) == 0 {
		dbs = []string{"db0", "db1", "db2"}
	}
	return &fakeEngine{dbs: dbs, started: make(chan struct{})}
}

func (e *fakeEngine) Database(name string) *meta.DatabaseInfo {
	if e.panicOnDatabase {
		panic("fake engine: Database")
	}
	for _, d := range e.dbs {
		if d == name {
			return &meta.DatabaseInfo{Name: d, DefaultRetentionPolicy: "autogen"}
		}
	}
	return nil
}

func (e *fakeEngine) WritePoints(db, rp string, cl models.ConsistencyLevel, user meta.User, points []models.Point) error {
	if e.writeHook != nil {
		e.writeHook()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.writeErr != nil {
		e.kept = append(e.kept, points)
		return e.writeErr
	}
	if e.forget {
		return nil
	}
	c := writeCall{db: db, rp: rp, consistency: cl}
	if user != nil {
		c.user = user.ID()
		c.admin = user.AuthorizeUnrestricted()
	}
	for _, p := range points {
		c.points = append(c.points, p.String())
	}
	e.writes = append(e.writes, c)
	return nil
}

func (e *fakeEngine) BootstrapAdmin(name, password string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bootstraps = append(e.bootstraps, name)
	return e.bootstrapErr
}

func (e *fakeEngine) bootstrapCalls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.bootstraps)
}

func (e *fakeEngine) ExecuteQuery(q *influxql.Query, opt query.ExecutionOptions, closing chan struct{}) <-chan *query.Result {
	e.mu.Lock()
	if !e.forget {
		e.queries = append(e.queries, queryCall{query: q.String(), opt: opt, closing: closing})
	}
	respond, block := e.respond, e.block
	e.mu.Unlock()
	if respond == nil {
		respond = e.defaultRespond
	}
	ch := make(chan *query.Result)
	go func() {
		defer close(ch)
		if block {
			close(e.started)
			<-opt.AbortCh
			return
		}
		for i, stmt := range q.Statements {
			for _, r := range respond(stmt, i, opt) {
				select {
				case ch <- r:
				case <-opt.AbortCh:
					return
				}
			}
		}
	}()
	return ch
}

// defaultRespond: SHOW DATABASES lists the databases the coarse authorizer
// allows (as the coordinator does); SELECT gives one series of two points;
// anything else an empty result.
func (e *fakeEngine) defaultRespond(stmt influxql.Statement, id int, opt query.ExecutionOptions) []*query.Result {
	switch stmt.(type) {
	case *influxql.ShowDatabasesStatement:
		row := &models.Row{Name: "databases", Columns: []string{"name"}}
		for _, d := range e.dbs {
			a := opt.CoarseAuthorizer
			if a.AuthorizeDatabase(influxql.ReadPrivilege, d) || a.AuthorizeDatabase(influxql.WritePrivilege, d) {
				row.Values = append(row.Values, []any{d})
			}
		}
		return []*query.Result{{StatementID: id, Series: models.Rows{row}}}
	case *influxql.SelectStatement:
		return []*query.Result{{StatementID: id, Series: models.Rows{cpuRow()}}}
	}
	return []*query.Result{{StatementID: id}}
}

var t1, t2 = time.Unix(1, 500_000_000).UTC(), time.Unix(3600, 0).UTC()

func cpuRow() *models.Row {
	return &models.Row{
		Name:    "cpu",
		Tags:    map[string]string{"host": "a"},
		Columns: []string{"time", "value"},
		Values:  [][]any{{t1, 1.5}, {t2, int64(2)}},
	}
}

func (e *fakeEngine) writeCalls() []writeCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]writeCall(nil), e.writes...)
}

func (e *fakeEngine) queryCalls() []queryCall {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]queryCall(nil), e.queries...)
}

// --- users, cache ----------------------------------------------------------------

var jwtSecret = []byte("0123456789abcdef0123456789abcdef")

type testUser struct {
	name, password string
	admin          bool
	privs          map[string]metapb.Privilege
}

// Users of the default test state. Their bcrypt hashes (cost 4) are computed
// once.
var testUsers = []testUser{
	{name: "admin", password: "adminpw", admin: true},
	{name: "reader", password: "readerpw", privs: map[string]metapb.Privilege{"db0": metapb.Privilege_PRIVILEGE_READ}},
	{name: "writer", password: "writerpw", privs: map[string]metapb.Privilege{
		"db0": metapb.Privilege_PRIVILEGE_WRITE, "db1": metapb.Privilege_PRIVILEGE_WRITE}},
	{name: "allp", password: "allppw", privs: map[string]metapb.Privilege{"db2": metapb.Privilege_PRIVILEGE_ALL}},
	{name: "nobody", password: "nobodypw"},
}

var (
	hashOnce sync.Once
	hashes   map[string][]byte
)

func userHash(t testing.TB, name string) []byte {
	hashOnce.Do(func() {
		hashes = map[string][]byte{}
		for _, u := range testUsers {
			h, err := auth.HashPassword(u.password, 4)
			if err != nil {
				panic(err)
			}
			hashes[u.name] = h
		}
	})
	h, ok := hashes[name]
	if !ok {
		t.Fatalf("no test user %q", name)
	}
	return h
}

// stateOf builds a meta state with the named test users (all when none
// are named) and, when withSecret, the JWT secret.
func stateOf(t testing.TB, withSecret bool, names ...string) *metapb.Data {
	d := &metapb.Data{}
	for _, u := range testUsers {
		if len(names) > 0 && !contains(names, u.name) {
			continue
		}
		d.Users = append(d.Users, &metapb.User{Name: u.name, Hash: userHash(t, u.name), Admin: u.admin, Privileges: u.privs})
	}
	if withSecret {
		d.JwtSecrets = []*metapb.JWTSecret{{Id: "k1", Value: jwtSecret, Created: 1}}
	}
	return d
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func newCache(t testing.TB, d *metapb.Data, opts auth.Options) *auth.Cache {
	c := auth.NewCache(opts)
	c.Update(d)
	return c
}

// --- server ---------------------------------------------------------------------

type server struct {
	t     testing.TB
	h     *Handler
	eng   *fakeEngine
	cache *auth.Cache
}

// newServer returns a handler with auth enabled over the default users and
// secret, unless cfg says otherwise through mod.
func newServer(t testing.TB, mod ...func(*Config)) *server {
	cfg := Config{AuthEnabled: true, Version: testVersion, Build: "OSS"}
	for _, m := range mod {
		m(&cfg)
	}
	return newServerWith(t, cfg, newCache(t, stateOf(t, true), auth.Options{}))
}

func newServerWith(t testing.TB, cfg Config, cache *auth.Cache) *server {
	eng := newFakeEngine()
	return &server{t: t, h: NewHandler(cfg, eng, cache, nil), eng: eng, cache: cache}
}

// req describes a request.
type req struct {
	method  string // GET by default
	target  string // path and query
	body    string
	headers map[string]string
	user    string // with password: Basic auth from testUsers
}

// response is what a request got.
type response struct {
	status int
	header http.Header
	body   string
}

// do serves rq and checks what every response must carry (COMPAT.md):
// X-Influxdb-Version and -Build; on 401 the Basic challenge and no
// X-Influxdb-Error; on any other non-2xx X-Influxdb-Error equal to the
// body's {"error":...}.
func (s *server) do(rq req) response {
	s.t.Helper()
	method := rq.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r := httptest.NewRequest(method, rq.target, body)
	for k, v := range rq.headers {
		r.Header.Set(k, v)
	}
	if rq.user != "" {
		r.SetBasicAuth(rq.user, passwordOf(rq.user))
	}
	return serve(s.t, s.h, r)
}

func serve(t testing.TB, h http.Handler, r *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	checkCommon(t, r, res)
	return res
}

func checkCommon(t testing.TB, r *http.Request, res response) {
	t.Helper()
	if got := res.header.Get("X-Influxdb-Version"); got != testVersion {
		t.Errorf("%s %s: X-Influxdb-Version = %q, want %q", r.Method, r.URL, got, testVersion)
	}
	if got := res.header.Get("X-Influxdb-Build"); got != "OSS" {
		t.Errorf("%s %s: X-Influxdb-Build = %q, want OSS", r.Method, r.URL, got)
	}
	if res.status/100 == 2 {
		if v := res.header.Get("X-Influxdb-Error"); v != "" {
			t.Errorf("%s %s: %d with X-Influxdb-Error %q", r.Method, r.URL, res.status, v)
		}
		return
	}
	if r.URL.Path == "/health" && res.status == http.StatusServiceUnavailable {
		// A failing /health keeps the health body; the header says why.
		if res.header.Get("X-Influxdb-Error") == "" {
			t.Errorf("%s %s: %d without X-Influxdb-Error", r.Method, r.URL, res.status)
		}
		return
	}
	msg := errorMessage(t, res)
	switch {
	case res.status == http.StatusUnauthorized:
		if got := res.header.Get("WWW-Authenticate"); got != `Basic realm="InfluxDB"` {
			t.Errorf("%s %s: 401 WWW-Authenticate = %q", r.Method, r.URL, got)
		}
		if _, ok := res.header["X-Influxdb-Error"]; ok {
			t.Errorf("%s %s: 401 with X-Influxdb-Error", r.Method, r.URL)
		}
	default:
		got := res.header.Get("X-Influxdb-Error")
		if !utf8.ValidString(got) || strings.ContainsFunc(got, isCTL) || len(got) > maxErrorHeader {
			t.Errorf("%s %s: X-Influxdb-Error = %q is not a clean header value", r.Method, r.URL, got)
		}
		if utf8.ValidString(msg) && !strings.ContainsFunc(msg, isCTL) && got != truncateUTF8(msg, maxErrorHeader) {
			t.Errorf("%s %s: X-Influxdb-Error = %q, body error %q", r.Method, r.URL, got, msg)
		}
		if msg != "" && got == "" {
			t.Errorf("%s %s: no X-Influxdb-Error for %q", r.Method, r.URL, msg)
		}
	}
}

// errorMessage decodes an error body, which must be exactly
// {"error":"..."} and a newline.
func errorMessage(t testing.TB, res response) string {
	t.Helper()
	var e struct {
		Error *string `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(res.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error == nil || !strings.HasSuffix(res.body, "}\n") {
		t.Errorf("status %d: body %q is not {\"error\":...}\\n", res.status, res.body)
		return ""
	}
	return *e.Error
}

func passwordOf(name string) string {
	for _, u := range testUsers {
		if u.name == name {
			return u.password
		}
	}
	return "no-such-password"
}

// wantStatus fails unless res has status and, for errors, message msg.
func wantStatus(t testing.TB, res response, status int, msg string) {
	t.Helper()
	if res.status != status {
		t.Fatalf("status = %d, want %d (body %q)", res.status, status, res.body)
	}
	if msg == "" {
		return
	}
	if got := errorMessage(t, res); got != msg {
		t.Fatalf("error = %q, want %q", got, msg)
	}
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// --- JWT ------------------------------------------------------------------------

func mintToken(t testing.TB, user string, exp time.Time) string {
	t.Helper()
	tok, err := auth.MintToken("k1", jwtSecret, user, exp)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rawToken signs any header and claims with HS256 and secret, for tokens
// MintToken will not make.
func rawToken(header, claims map[string]any, secret []byte) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(header) + "." + enc(claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func gzipped(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func mustRequest(t testing.TB, method, target, body string) *http.Request {
	t.Helper()
	var b io.Reader
	if body != "" {
		b = strings.NewReader(body)
	}
	return httptest.NewRequest(method, target, b)
}

// newRecorder returns a respWriter over a recorder, to call the handler's
// helpers directly.
func newRecorder(s *server) *respWriter {
	return &respWriter{ResponseWriter: httptest.NewRecorder()}
}

// newTestLogger logs text to w; a mutex keeps concurrent handlers apart.
func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{w: w}, nil))
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
