package httpd

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/internal/qlimit"
)

// formQuery is a POST of q as a form body, the way the influx CLI and the
// client libraries send long queries.
func formQuery(q string) req {
	return req{method: "POST", target: "/query?db=db0", body: "q=" + url.QueryEscape(q),
		headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}
}

func nested(n int, inner string) string {
	return strings.Repeat("(", n) + inner + strings.Repeat(")", n)
}

// TestDeeplyNestedQueryDoesNotKillTheNode (issue 6, point 4): the InfluxQL
// parser recurses once per parenthesis, and a q of 1,000,000 of them
// overflowed the stack, a fatal error that took the whole data node down
// (without the check, this test's process dies). Nesting is refused before
// parsing, whatever the size limit.
func TestDeeplyNestedQueryDoesNotKillTheNode(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{0, 1 << 20} {
		s := newServer(t, func(c *Config) { c.AuthEnabled = false; c.MaxQuerySize = limit })
		for _, q := range []string{
			"SELECT " + strings.Repeat("(", 1_000_000),
			"SELECT " + nested(500_000, "a") + " FROM m",
			"SELECT * FROM " + strings.Repeat("(SELECT * FROM ", 60_000) + "m" + strings.Repeat(")", 60_000),
			"SELECT " + strings.Repeat("-(", 400_000) + "a",
		} {
			res := s.do(formQuery(q))
			if limit > 0 && len(q) > limit {
				wantStatus(t, res, 413, "Request Entity Too Large")
				continue
			}
			wantStatus(t, res, 400, "error parsing query: nesting too deep")
		}
		if n := len(s.eng.queryCalls()); n != 0 {
			t.Errorf("the engine ran %d refused queries", n)
		}
	}
}

// TestNestingLimit: 1,000 levels parse, 1,001 do not; parentheses the
// scanner does not read as such do not count, and no reading of the text
// can hide real ones.
func TestNestingLimit(t *testing.T) {
	t.Parallel()
	deep := nested(maxNesting+1, "v")
	tests := []struct {
		name string
		q    string
		ok   bool
	}{
		{"1000 levels", "SELECT " + nested(maxNesting, "v") + " FROM m", true},
		{"1000 levels of calls", "SELECT " + strings.Repeat("abs(", maxNesting) + "v" + strings.Repeat(")", maxNesting) + " FROM m", true},
		{"1001 levels", "SELECT " + deep + " FROM m", false},
		{"1001 levels of subqueries", "SELECT * FROM " + strings.Repeat("(SELECT * FROM ", maxNesting+1) + "m" + strings.Repeat(")", maxNesting+1), false},
		{"siblings do not add up", "SELECT v FROM m WHERE " + strings.Repeat("(v > 0) AND ", 5000) + "(v > 0)", true},
		{"in a string", "SELECT v FROM m WHERE s = '" + strings.Repeat("(", 5000) + "'", true},
		{"in a quoted identifier", `SELECT "` + strings.Repeat("(", 5000) + `" FROM m`, true},
		{"in a regex", "SELECT v FROM m WHERE s =~ /" + strings.Repeat(`(a|\(b\))`, 5000) + "/", true},
		{"in a line comment", "SELECT v FROM m -- " + strings.Repeat("(", 5000), true},
		{"in a block comment", "SELECT v FROM m /* " + strings.Repeat("(", 5000) + " */", true},
		{"escaped quote in a string", `SELECT v FROM m WHERE s = 'it\'s ` + strings.Repeat("(", 5000) + "'", true},
		{"unmatched closers give no credit", "SELECT v FROM m WHERE s = " + strings.Repeat(")", 5000) + deep, false},
		{"closers in a string give no credit", "SELECT " + nested(600, "v") + " FROM m WHERE s = '" + strings.Repeat(")", 600) + "' AND " + nested(600, "v > 0"), true},
		{"a quote in a regex hides nothing", "SELECT v FROM /'/ WHERE " + deep, false},
		{"a slash that divides opens no regex", "SELECT a./" + deep + " FROM m", false},
		{"a regex after the slash of a division", "SELECT a / 2 FROM m WHERE s =~ /x/ AND " + deep, false},
		{"a comment ends at a carriage return", "SELECT v -- c\r" + deep + " FROM m", false},
		{"a comment ends at a NUL", "SELECT v -- c\x00" + deep + " FROM m", false},
		{"a quote in a comment hides nothing", "SELECT v -- it's\n FROM m WHERE " + deep, false},
		{"the parse ends at a string with a newline", "SELECT v FROM m WHERE s = 'a\n" + deep, true},
		{"two dashes in code are a comment", "SELECT v --" + deep, true},
		{"a slash and a star in a regex", "SELECT v FROM m WHERE s =~ /a*/ AND " + deep, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := qlimit.NestsDeeperThan(tt.q, maxNesting); got == tt.ok {
				t.Errorf("nestsDeeperThan = %v, want %v", got, !tt.ok)
			}
		})
	}
	s := openServer(t)
	wantStatus(t, s.do(formQuery(tests[0].q)), 200, "")
	wantStatus(t, s.do(formQuery(tests[2].q)), 400, "error parsing query: nesting too deep")
}

// TestOperatorChainsAreBounded: "a+a+a+..." and "x OR y OR ..." cost the
// parser no recursion but make a tree as deep as the chain is long, which
// every later walk recurses through and String copies level by level: a
// 1 MiB chain took minutes and gigabytes. Chains deeper than the nesting
// limit are refused after parsing, before anything walks them.
func TestOperatorChainsAreBounded(t *testing.T) {
	t.Parallel()
	chain := func(n int, term, op string) string {
		return strings.TrimSuffix(strings.Repeat(term+op, n), op)
	}
	tests := []struct {
		name string
		q    string
		ok   bool
	}{
		{"1 MiB of a+a", "SELECT " + chain(1<<19, "a", "+") + " FROM m", false},
		{"1 MiB of OR", "SELECT v FROM m WHERE " + chain(1<<20/16, "host = 'x'", " OR "), false},
		{"long chain in a subquery", "SELECT * FROM (SELECT " + chain(5000, "a", "*") + " FROM m)", false},
		{"long chain in GROUP BY", "SELECT count(v) FROM m GROUP BY " + chain(5000, "a", "+"), false},
		{"long chain in SHOW", "SHOW TAG KEY EXACT CARDINALITY ON db0 WHERE " + chain(5000, "a = 'b'", " AND "), false},
		{"long chain in DELETE", "DELETE FROM m WHERE " + chain(5000, "a = 'b'", " OR "), false},
		{"long chain in EXPLAIN", "EXPLAIN SELECT " + chain(5000, "a", "-") + " FROM m", false},
		{"900 ORs", "SELECT v FROM m WHERE " + chain(901, "host = 'x'", " OR "), true},
		{"1001 ORs", "SELECT v FROM m WHERE " + chain(1002, "host = 'x'", " OR "), false},
		{"many short chains", "SELECT " + chain(2000, "a+a", ", ") + " FROM m", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openServer(t)
			res := s.do(formQuery(tt.q))
			if tt.ok {
				wantStatus(t, res, 200, "")
				return
			}
			wantStatus(t, res, 400, "error parsing query: nesting too deep")
			if n := len(s.eng.queryCalls()); n != 0 {
				t.Errorf("the engine ran %d refused queries", n)
			}
		})
	}
}

// TestQueryLargerThanMaxQuerySize: a q over [http] max-query-size is
// refused with 413 before parsing, wherever it comes from.
func TestQueryLargerThanMaxQuerySize(t *testing.T) {
	t.Parallel()
	const limit = 1000
	fits := "SELECT v FROM m WHERE s = '" + strings.Repeat("x", limit-len("SELECT v FROM m WHERE s = ''")) + "'"
	over := fits + " "
	if len(fits) != limit {
		t.Fatalf("len(fits) = %d", len(fits))
	}
	multipartQuery := func(q string) req {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("q", "query.txt")
		io.WriteString(fw, q)
		mw.Close()
		return req{method: "POST", target: "/query?db=db0", body: body.String(),
			headers: map[string]string{"Content-Type": mw.FormDataContentType()}}
	}
	tests := []struct {
		name   string
		rq     req
		status int
	}{
		{"URL fits", req{target: q(fits)}, 200},
		{"URL over", req{target: q(over)}, 413},
		{"form fits", formQuery(fits), 200},
		{"form over", formQuery(over), 413},
		{"form fits though escaping triples it", formQuery(strings.Repeat("(", 400) + "SELECT" + strings.Repeat(")", 400)), 400},
		{"multipart file fits", multipartQuery(fits), 200},
		{"multipart file over", multipartQuery(over), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, func(c *Config) { c.AuthEnabled = false; c.MaxQuerySize = limit })
			res := s.do(tt.rq)
			if tt.status == 413 {
				wantStatus(t, res, 413, "Request Entity Too Large")
				if n := len(s.eng.queryCalls()); n != 0 {
					t.Errorf("the engine ran %d refused queries", n)
				}
				return
			}
			wantStatus(t, res, tt.status, "")
		})
	}
	// Unlimited (0) takes what it gets.
	s := newServer(t, func(c *Config) { c.AuthEnabled = false })
	wantStatus(t, s.do(formQuery(over+strings.Repeat(" ", 1<<20)+"; SHOW DATABASES")), 200, "")
}

// countingReader counts what is read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestHugeQueryUploadIsNotBuffered: the multipart q file was read into
// memory whole, without a limit (a 200 MB upload cost 400 MB of RSS). The
// body is now read no further than max-query-size needs.
func TestHugeQueryUploadIsNotBuffered(t *testing.T) {
	t.Parallel()
	const limit, upload = 1 << 20, 200 << 20
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	if _, err := mw.CreateFormFile("q", "query.txt"); err != nil {
		t.Fatal(err)
	}
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	body := &countingReader{r: io.MultiReader(&head, io.LimitReader(repeatByte('('), upload), strings.NewReader(tail))}

	s := newServer(t, func(c *Config) { c.AuthEnabled = false; c.MaxQuerySize = limit })
	r := httptest.NewRequest(http.MethodPost, "/query?db=db0", body)
	r.ContentLength = -1
	r.Header.Set("Content-Type", mw.FormDataContentType())
	wantStatus(t, serve(t, s.h, r), 413, "Request Entity Too Large")
	if max := queryBodyLimit(limit) + 64<<10; body.n > max {
		t.Errorf("read %d bytes of the upload, want at most %d", body.n, max)
	}
}

type repeatByte byte

func (b repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestNestingScanDoesNotAllocate(t *testing.T) {
	q := "SELECT mean(\"value\") FROM \"cpu\" WHERE (\"host\" = 'a(' OR host =~ /^b\\/(c|d)$/) AND time > now() - 1h -- x(\nGROUP BY time(1m)"
	if allocs := testing.AllocsPerRun(100, func() { qlimit.NestsDeeperThan(q, maxNesting) }); allocs != 0 {
		t.Errorf("nestsDeeperThan allocates %v times", allocs)
	}
}

func BenchmarkNestingScan(b *testing.B) {
	for _, bc := range []struct{ name, q string }{
		{"typical", `SELECT mean("value") FROM "telegraf"."autogen"."cpu" WHERE ("host" = 'web-01' OR "host" = 'web-02') AND time > now() - 6h GROUP BY time(1m), "cpu" fill(null)`},
		{"1MiB-of-divisions", strings.Repeat("a / b / ", 1<<17)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.q)))
			b.ReportAllocs()
			for b.Loop() {
				qlimit.NestsDeeperThan(bc.q, maxNesting)
			}
		})
	}
}

// FuzzNestingScan: the scan never counts fewer levels than the parser
// builds: whenever a text parses into a tree of parentheses, calls and
// subqueries n deep, the scan says it is deeper than n-1.
func FuzzNestingScan(f *testing.F) {
	for _, s := range []string{
		"SELECT (a) FROM m",
		"SELECT count((a)) FROM m WHERE (b = '(' OR c =~ /\\)/)",
		"SELECT a./(b) FROM m",
		"SELECT a FROM db./(x)/ WHERE ((b))",
		"SELECT * FROM (SELECT (a) FROM m) -- (\n WHERE ((c))",
		"SELECT \"(\" FROM m /* ( */ WHERE (((c)))",
		"SELECT a / (b) / (c) FROM m WHERE d =~ /'/ AND ((e))",
		"SELECT a FROM m WHERE b = 'x\\'(' AND ((c))",
		"SELECT a\r-- (\r FROM m WHERE ((b))",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		q, err := influxql.ParseQuery(text)
		if err != nil {
			return
		}
		depth := 0
		influxql.Walk(depthVisitor{max: &depth}, q)
		if depth > 0 && !qlimit.NestsDeeperThan(text, depth-1) {
			t.Fatalf("%q parses %d levels deep; the scan counts fewer", text, depth)
		}
	})
}

// depthVisitor measures how deeply parentheses, calls and subqueries nest.
type depthVisitor struct {
	depth int
	max   *int
}

func (v depthVisitor) Visit(n influxql.Node) influxql.Visitor {
	switch n.(type) {
	case *influxql.ParenExpr, *influxql.Call, *influxql.SubQuery:
		v.depth++
	}
	*v.max = max(*v.max, v.depth)
	return v
}

func TestDepthVisitor(t *testing.T) {
	t.Parallel()
	for q, want := range map[string]int{
		"SELECT a FROM m":                      0,
		"SELECT (a) FROM m":                    1,
		"SELECT count((a)) FROM m":             2,
		"SELECT * FROM (SELECT ((a)) FROM m)":  3,
		fmt.Sprintf("SELECT %s FROM m", "a"):   0,
		"SELECT a FROM m WHERE ((b = 1)) OR c": 2,
	} {
		depth := 0
		influxql.Walk(depthVisitor{max: &depth}, mustParseQuery(t, q))
		if depth != want {
			t.Errorf("%s: depth %d, want %d", q, depth, want)
		}
	}
}

func mustParseQuery(t *testing.T, s string) *influxql.Query {
	t.Helper()
	q, err := influxql.ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
