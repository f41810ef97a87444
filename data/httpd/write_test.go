package httpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/influxdb"
	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/tsdb"
)

func TestWrite(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	res := s.do(req{method: "POST", target: "/write?db=db0&rp=rp0&consistency=quorum&precision=s", user: "writer",
		body: "cpu,host=a value=1 10\n\n# comment\nmem free=2i 20\n"})
	wantStatus(t, res, 204, "")
	if res.body != "" {
		t.Errorf("body = %q", res.body)
	}
	w := s.eng.writeCalls()
	if len(w) != 1 {
		t.Fatalf("writes = %+v", w)
	}
	got := w[0]
	if got.db != "db0" || got.rp != "rp0" || got.consistency != models.ConsistencyLevelQuorum || got.user != "writer" {
		t.Errorf("write = %+v", got)
	}
	if want := []string{"cpu,host=a value=1 10000000000", "mem free=2i 20000000000"}; fmt.Sprint(got.points) != fmt.Sprint(want) {
		t.Errorf("points = %q, want %q", got.points, want)
	}
}

func TestWritePrecision(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, precision string
		want            int64 // ns for a timestamp of 2
	}{
		{"/write", "", 2}, {"/write", "n", 2}, {"/write", "ns", 2}, {"/write", "u", 2e3}, {"/write", "ms", 2e6},
		{"/write", "s", 2e9}, {"/write", "m", 120e9}, {"/write", "h", 7200e9},
		{"/api/v2/write", "", 2}, {"/api/v2/write", "ns", 2}, {"/api/v2/write", "us", 2e3},
		{"/api/v2/write", "ms", 2e6}, {"/api/v2/write", "s", 2e9},
	}
	for _, tt := range tests {
		s := newServer(t, func(c *Config) { c.AuthEnabled = false })
		target := tt.path + "?db=db0&bucket=db0&precision=" + url.QueryEscape(tt.precision)
		wantStatus(t, s.do(req{method: "POST", target: target, body: "cpu v=1 2"}), 204, "")
		w := s.eng.writeCalls()
		if want := fmt.Sprintf("cpu v=1 %d", tt.want); len(w) != 1 || w[0].points[0] != want {
			t.Errorf("%s precision %q: writes = %+v, want %s", tt.path, tt.precision, w, want)
		}
	}

	// Without a timestamp the server's time is used, truncated to the precision.
	s := newServer(t, func(c *Config) { c.AuthEnabled = false })
	before := time.Now().Truncate(time.Second)
	wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0&precision=s", body: "cpu v=1"}), 204, "")
	p, err := models.ParsePointsString(s.eng.writeCalls()[0].points[0])
	if err != nil {
		t.Fatal(err)
	}
	if ts := p[0].Time(); ts.Before(before) || ts.Nanosecond() != 0 {
		t.Errorf("time = %v, want a whole second after %v", ts, before)
	}

	for path, msg := range map[string]string{
		"/write?db=db0&precision=us":           `invalid precision "us" (use n, u, ms, s, m or h)`,
		"/write?db=db0&precision=x":            `invalid precision "x" (use n, u, ms, s, m or h)`,
		"/api/v2/write?bucket=db0&precision=h": `invalid precision "h" (use ns, us, ms or s)`,
		"/api/v2/write?bucket=db0&precision=n": `invalid precision "n" (use ns, us, ms or s)`,
	} {
		s := newServer(t, func(c *Config) { c.AuthEnabled = false })
		wantStatus(t, s.do(req{method: "POST", target: path, body: "cpu v=1 2"}), 400, msg)
	}
}

func TestWriteConsistency(t *testing.T) {
	t.Parallel()
	for level, want := range map[string]models.ConsistencyLevel{
		"": models.ConsistencyLevelOne, "any": models.ConsistencyLevelAny, "one": models.ConsistencyLevelOne,
		"quorum": models.ConsistencyLevelQuorum, "all": models.ConsistencyLevelAll, "ALL": models.ConsistencyLevelAll,
	} {
		s := newServer(t)
		wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0&consistency=" + level, body: "cpu v=1", user: "writer"}), 204, "")
		if w := s.eng.writeCalls(); len(w) != 1 || w[0].consistency != want {
			t.Errorf("consistency %q: writes = %+v", level, w)
		}
	}
	s := newServer(t)
	wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0&consistency=most", body: "cpu v=1", user: "writer"}), 400, "invalid consistency level")
	if len(s.eng.writeCalls()) != 0 {
		t.Error("a write with a bad consistency reached the engine")
	}
}

// TestBadLinesArePartialWrites: malformed lines get influxd's answer (1.6.7
// and 1.8+ alike): the lines that parse are written and the answer is 400
// "partial write: <parse error> dropped=0"; a body with no line that parses
// is 400 with the parse error and writes nothing.
func TestBadLinesArePartialWrites(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body, msg string
		written   int
	}{
		{"cpu value=1\nbad-line\ncpu value=2", "partial write: unable to parse 'bad-line': missing fields dropped=0", 2},
		{"cpu value=1\ncpu value=\ncpu value=3", "partial write: unable to parse 'cpu value=': missing field value dropped=0", 2},
		{"cpu value=1 notatime", "unable to parse 'cpu value=1 notatime': bad timestamp", 0},
		{"a\nb", "unable to parse 'a': missing fields\nunable to parse 'b': missing fields", 0},
	}
	for _, tt := range tests {
		s := newServer(t)
		res := s.do(req{method: "POST", target: "/write?db=db0", body: tt.body, user: "writer"})
		wantStatus(t, res, 400, tt.msg)
		w := s.eng.writeCalls()
		switch {
		case tt.written == 0 && len(w) != 0:
			t.Errorf("%q: written %+v", tt.body, w)
		case tt.written > 0 && (len(w) != 1 || len(w[0].points) != tt.written):
			t.Errorf("%q: written %+v, want %d points", tt.body, w, tt.written)
		}
	}
}

func TestWriteEmptyBody(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	for _, body := range []string{"", "\n\n", "# only a comment\n"} {
		wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: body, user: "writer"}), 204, "")
	}
	if w := s.eng.writeCalls(); len(w) != 0 {
		t.Errorf("written %+v", w)
	}
}

func TestWriteGzip(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	body := gzipped(t, "cpu v=1 1\ncpu v=2 2\n")
	res := s.do(req{method: "POST", target: "/write?db=db0", body: body, user: "writer",
		headers: map[string]string{"Content-Encoding": "gzip"}})
	wantStatus(t, res, 204, "")
	if w := s.eng.writeCalls(); len(w) != 1 || len(w[0].points) != 2 {
		t.Fatalf("writes = %+v", w)
	}
	// The pooled reader is reused.
	wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: gzipped(t, "cpu v=3 3"), user: "writer",
		headers: map[string]string{"Content-Encoding": "gzip"}}), 204, "")

	for name, tt := range map[string]struct{ body, msg string }{
		"not gzip":        {"cpu v=1 1234567890", "gzip: invalid header"},
		"empty":           {"", "EOF"},
		"truncated":       {body[:len(body)-6], "unexpected EOF"},
		"bad crc":         {body[:len(body)-8] + "\x00\x00\x00\x00" + body[len(body)-4:], "gzip: invalid checksum"},
		"only bad inside": {gzipped(t, "bad\nworse"), "unable to parse 'bad': missing fields\nunable to parse 'worse': missing fields"},
	} {
		s := newServer(t)
		res := s.do(req{method: "POST", target: "/write?db=db0", body: tt.body, user: "writer",
			headers: map[string]string{"Content-Encoding": "gzip"}})
		if res.status != 400 {
			t.Errorf("%s: status %d, want 400", name, res.status)
			continue
		}
		if msg := errorMessage(t, res); msg != tt.msg {
			t.Errorf("%s: error %q, want %q", name, msg, tt.msg)
		}
		if w := s.eng.writeCalls(); len(w) != 0 {
			t.Errorf("%s: written %+v", name, w)
		}
	}
}

func TestWriteBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 64
	line := "cpu v=1 1\n" // 10 bytes
	atLimit := strings.Repeat(line, limit/len(line)) + strings.Repeat("\n", limit%len(line))
	over := atLimit + "\n"
	limited := func(c *Config) { c.MaxBodySize = limit }

	s := newServer(t, limited)
	wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: atLimit, user: "writer"}), 204, "")
	if w := s.eng.writeCalls(); len(w) != 1 || len(w[0].points) != limit/len(line) {
		t.Fatalf("writes = %+v", w)
	}

	// Content-Length says too much: refused before reading.
	s = newServer(t, limited)
	wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: over, user: "writer"}), 413, "Request Entity Too Large")

	// No Content-Length: refused when the limit is passed.
	s = newServer(t, limited)
	r := mustRequest(t, "POST", "/write?db=db0", "")
	r.Body = io.NopCloser(strings.NewReader(over))
	r.ContentLength = -1
	r.SetBasicAuth("writer", "writerpw")
	wantStatus(t, serve(t, s.h, r), 413, "Request Entity Too Large")

	// The limit applies to the decompressed body: a small gzip bomb is refused.
	s = newServer(t, limited)
	wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: gzipped(t, strings.Repeat(line, 100)), user: "writer",
		headers: map[string]string{"Content-Encoding": "gzip"}}), 413, "Request Entity Too Large")
	if w := s.eng.writeCalls(); len(w) != 0 {
		t.Errorf("written %+v", w)
	}

	// No limit.
	s = newServer(t)
	big := strings.Repeat(line, 100_000)
	wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: big, user: "writer"}), 204, "")
	if w := s.eng.writeCalls(); len(w) != 1 || len(w[0].points) != 100_000 {
		t.Fatalf("wrote %d calls", len(w))
	}
}

func TestReadLimited(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in    string
		limit int
		err   error
	}{
		{"", 0, nil}, {"abc", 0, nil}, {"abc", 3, nil}, {"abcd", 3, errBodyTooLarge},
		{strings.Repeat("x", 100_000), 0, nil}, {strings.Repeat("x", 100_000), 99_999, errBodyTooLarge},
	} {
		// A one-byte reader exercises the growing.
		got, err := readLimited(make([]byte, 0, 1), oneByteReader{strings.NewReader(tt.in)}, tt.limit)
		if !errors.Is(err, tt.err) {
			t.Errorf("len %d limit %d: err %v, want %v", len(tt.in), tt.limit, err, tt.err)
		}
		if err == nil && string(got) != tt.in {
			t.Errorf("len %d limit %d: read %d bytes", len(tt.in), tt.limit, len(got))
		}
		if err != nil && len(got) > tt.limit+1 {
			t.Errorf("len %d limit %d: read %d bytes past the limit", len(tt.in), tt.limit, len(got))
		}
	}
}

type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func TestWriteEngineErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		status int
	}{
		{fmt.Errorf("%w: input field \"v\" on measurement \"cpu\" is type float, already exists as type integer", influxdb.ErrFieldTypeConflict), 400},
		{tsdb.PartialWriteError{Reason: "points beyond retention policy", Dropped: 1}, 400},
		{&tsdb.PartialWriteError{Reason: "shard 3 is pending deletion", Dropped: 1}, 400},
		{authFailed{}, 403},
		{errors.New("timeout"), 500},
		{influxdb.ErrRetentionPolicyNotFound("nope"), 500},
	}
	for _, tt := range tests {
		s := newServer(t)
		s.eng.writeErr = tt.err
		wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: "cpu v=1", user: "writer"}), tt.status, tt.err.Error())
	}
}

type authFailed struct{}

func (authFailed) Error() string             { return "not allowed" }
func (authFailed) AuthorizationFailed() bool { return true }

// TestFailedWriteKeepsItsBuffer: after WritePoints fails, a shard write may
// still read the points; the handler must not reuse their buffer.
func TestFailedWriteKeepsItsBuffer(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *Config) { c.AuthEnabled = false })
	s.eng.writeErr = errors.New("timeout")
	const first = "cpu,host=first value=1 1"
	wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: first}), 500, "timeout")
	s.eng.writeErr = nil
	for i := range 200 {
		body := fmt.Sprintf("mem,host=other%06d value=%d %d", i, i, i)
		wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: body}), 204, "")
	}
	if got := s.eng.kept[0][0].String(); got != first {
		t.Fatalf("points of the failed write changed to %q", got)
	}
}

func TestWriteConcurrencyLimit(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *Config) { c.AuthEnabled = false; c.MaxConcurrentWriteLimit = 2 })
	var inside, most atomic.Int32
	release := make(chan struct{})
	s.eng.writeHook = func() {
		n := inside.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		inside.Add(-1)
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := mustRequest(t, "POST", "/write?db=db0", "cpu v=1")
			wantStatus(t, serve(t, s.h, r), 204, "")
		}()
	}
	// Wait until two writes are inside, then let them all through.
	deadline := time.Now().Add(10 * time.Second)
	for inside.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("writes did not start")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if m := most.Load(); m != 2 {
		t.Errorf("at most %d writes ran at once, want 2", m)
	}
	if n := len(s.eng.writeCalls()); n != 6 {
		t.Errorf("%d writes, want 6", n)
	}
}

// TestWriteSlotClientGone: a write waiting for a slot gives up when its
// client goes away.
func TestWriteSlotClientGone(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *Config) { c.AuthEnabled = false; c.MaxConcurrentWriteLimit = 1 })
	s.h.writeSlots <- struct{}{} // the only slot is taken
	r := mustRequest(t, "POST", "/write?db=db0", "cpu v=1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := serve(t, s.h, r.WithContext(ctx))
	wantStatus(t, res, 503, "")
	if n := len(s.eng.writeCalls()); n != 0 {
		t.Errorf("%d writes", n)
	}
}

func TestWriteMethods(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	for _, path := range []string{"/write", "/api/v2/write"} {
		res := s.do(req{target: path + "?db=db0"})
		wantStatus(t, res, 405, "method not allowed")
		if got := res.header.Get("Allow"); got != "POST, OPTIONS" {
			t.Errorf("Allow = %q", got)
		}
		wantStatus(t, s.do(req{method: "OPTIONS", target: path}), 204, "")
	}
}

func TestWriteV2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string
		auth   string
		status int
		msg    string
		db, rp string
	}{
		{name: "db/rp", target: "/api/v2/write?org=ignored&bucket=db0/rp0", auth: "Token writer:writerpw", status: 204, db: "db0", rp: "rp0"},
		{name: "db only", target: "/api/v2/write?bucket=db0", auth: "Token writer:writerpw", status: 204, db: "db0"},
		{name: "db/", target: "/api/v2/write?bucket=db0/", auth: "Token writer:writerpw", status: 204, db: "db0"},
		{name: "escaped slash", target: "/api/v2/write?bucket=db0%2Frp1", auth: "Token writer:writerpw", status: 204, db: "db0", rp: "rp1"},
		{name: "basic works too", target: "/api/v2/write?bucket=db1", auth: basic("writer", "writerpw"), status: 204, db: "db1"},
		{name: "bad token password", target: "/api/v2/write?bucket=db0", auth: "Token writer:nope", status: 401, msg: "authorization failed"},
		{name: "no credentials", target: "/api/v2/write?bucket=db0", status: 401, msg: "unable to parse authentication credentials"},
		{name: "no write privilege", target: "/api/v2/write?bucket=db0", auth: "Token reader:readerpw", status: 403,
			msg: `"reader" user is not authorized to write to database "db0"`},
		{name: "missing bucket", target: "/api/v2/write", auth: "Token writer:writerpw", status: 400, msg: "database is required"},
		{name: "empty db in bucket", target: "/api/v2/write?bucket=/rp0", auth: "Token writer:writerpw", status: 400, msg: "database is required"},
		{name: "unknown db", target: "/api/v2/write?bucket=nope/rp0", auth: "Token reader:readerpw", status: 404, msg: `database not found: "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			rq := req{method: "POST", target: tt.target, body: "cpu v=1"}
			if tt.auth != "" {
				rq.headers = map[string]string{"Authorization": tt.auth}
			}
			wantStatus(t, s.do(rq), tt.status, tt.msg)
			w := s.eng.writeCalls()
			if tt.status != 204 {
				if len(w) != 0 {
					t.Errorf("written %+v", w)
				}
				return
			}
			if len(w) != 1 || w[0].db != tt.db || w[0].rp != tt.rp || w[0].user != "writer" {
				t.Errorf("writes = %+v, want db %q rp %q", w, tt.db, tt.rp)
			}
		})
	}
}

func TestQueryValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw, key string
		want     string
		ok       bool
	}{
		{"db=x", "db", "x", true},
		{"a=1&db=x&db=y", "db", "x", true},
		{"db=", "db", "", true},
		{"db", "db", "", true},
		{"dbx=1", "db", "", false},
		{"d%62=x", "db", "x", true},
		{"db=a%20b+c", "db", "a b c", true},
		{"db=%zz&db=ok", "db", "ok", true},
		{"db=x;y&db=z", "db", "z", true},
		{"&&db=1", "db", "1", true},
		{"", "db", "", false},
		{"%zz=1&db=2", "db", "2", true},
	}
	for _, tt := range tests {
		got, ok := queryValue(tt.raw, tt.key)
		if got != tt.want || ok != tt.ok {
			t.Errorf("queryValue(%q, %q) = %q, %v; want %q, %v", tt.raw, tt.key, got, ok, tt.want, tt.ok)
		}
		if std, _ := url.ParseQuery(tt.raw); std.Get(tt.key) != got {
			t.Errorf("queryValue(%q, %q) = %q, url.ParseQuery says %q", tt.raw, tt.key, got, std.Get(tt.key))
		}
	}
}
