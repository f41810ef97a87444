package httpd

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxql"
)

// openServer has auth disabled, for tests about the query API itself.
func openServer(t *testing.T) *server {
	return newServer(t, func(c *Config) { c.AuthEnabled = false })
}

const cpuJSON = `{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","value"],"values":[["1970-01-01T00:00:01.5Z",1.5],["1970-01-01T01:00:00Z",2]]}]}`

func TestQueryJSON(t *testing.T) {
	t.Parallel()
	s := openServer(t)
	res := s.do(req{target: q("SELECT * FROM cpu") + "&db=db0&rp=rp0"})
	wantStatus(t, res, 200, "")
	if want := `{"results":[` + cpuJSON + `]}` + "\n"; res.body != want {
		t.Errorf("body = %s\nwant   %s", res.body, want)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	calls := s.eng.queryCalls()
	if len(calls) != 1 {
		t.Fatalf("%d queries", len(calls))
	}
	opt := calls[0].opt
	if opt.Database != "db0" || opt.RetentionPolicy != "rp0" || opt.ChunkSize != DefaultChunkSize ||
		!opt.ReadOnly || !opt.Quiet || opt.Authorizer != query.OpenAuthorizer || opt.AbortCh == nil {
		t.Errorf("options = %+v", opt)
	}
	if calls[0].closing == nil {
		t.Error("closing channel is nil")
	}
}

func TestQueryPOST(t *testing.T) {
	t.Parallel()
	t.Run("form body", func(t *testing.T) {
		t.Parallel()
		s := openServer(t)
		res := s.do(req{method: "POST", target: "/query?db=db0", body: "q=" + url.QueryEscape("SELECT * FROM cpu"),
			headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
		wantStatus(t, res, 200, "")
		calls := s.eng.queryCalls()
		if len(calls) != 1 || calls[0].query != "SELECT * FROM cpu" || calls[0].opt.ReadOnly {
			t.Fatalf("calls = %+v", calls)
		}
	})
	t.Run("q in URL", func(t *testing.T) {
		t.Parallel()
		s := openServer(t)
		wantStatus(t, s.do(req{method: "POST", target: q("CREATE DATABASE x")}), 200, "")
		if calls := s.eng.queryCalls(); len(calls) != 1 || calls[0].opt.ReadOnly {
			t.Fatalf("calls = %+v", calls)
		}
	})
	t.Run("multipart file", func(t *testing.T) {
		t.Parallel()
		s := openServer(t)
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("q", "query.txt")
		io.WriteString(fw, "SHOW DATABASES\n")
		mw.Close()
		res := s.do(req{method: "POST", target: "/query", body: body.String(),
			headers: map[string]string{"Content-Type": mw.FormDataContentType()}})
		wantStatus(t, res, 200, "")
		if calls := s.eng.queryCalls(); len(calls) != 1 || calls[0].query != "SHOW DATABASES" {
			t.Fatalf("calls = %+v", calls)
		}
	})
	t.Run("GET with a statement that writes", func(t *testing.T) {
		t.Parallel()
		s := openServer(t)
		wantStatus(t, s.do(req{target: q("CREATE DATABASE x")}), 200, "")
		if calls := s.eng.queryCalls(); len(calls) != 1 || !calls[0].opt.ReadOnly {
			t.Fatalf("calls = %+v", calls)
		}
	})
}

func TestQueryBadRequests(t *testing.T) {
	t.Parallel()
	_, parseErr := influxql.ParseQuery("SELEC * FROM cpu")
	tests := []struct {
		name string
		rq   req
		msg  string
	}{
		{"missing q", req{target: "/query?db=db0"}, `missing required parameter "q"`},
		{"blank q", req{target: "/query?q=%20%20"}, `missing required parameter "q"`},
		{"parse error", req{target: q("SELEC * FROM cpu")}, "error parsing query: " + parseErr.Error()},
		{"bad params", req{target: q("SELECT * FROM cpu") + "&params=" + url.QueryEscape("[1]")},
			"error parsing query parameters: json: cannot unmarshal array into Go value of type map[string]interface {}"},
		{"bad number param", req{target: q("SELECT * FROM cpu") + "&params=" + url.QueryEscape(`{"x":1e400}`)},
			`error parsing json value: strconv.ParseInt: parsing "1e400": invalid syntax`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openServer(t)
			wantStatus(t, s.do(tt.rq), 400, tt.msg)
			if n := len(s.eng.queryCalls()); n != 0 {
				t.Errorf("engine ran %d queries", n)
			}
		})
	}
}

func TestQueryMethods(t *testing.T) {
	t.Parallel()
	s := openServer(t)
	res := s.do(req{method: "PUT", target: q("SHOW DATABASES")})
	wantStatus(t, res, 405, "method not allowed")
	if got := res.header.Get("Allow"); got != "GET, POST, OPTIONS" {
		t.Errorf("Allow = %q", got)
	}
	wantStatus(t, s.do(req{method: "OPTIONS", target: "/query"}), 204, "")
}

func TestMultipleStatementsAndErrors(t *testing.T) {
	t.Parallel()
	s := openServer(t)
	s.eng.respond = func(stmt influxql.Statement, id int, opt query.ExecutionOptions) []*query.Result {
		switch id {
		case 0:
			return []*query.Result{{StatementID: 0, Series: models.Rows{cpuRow()}}}
		case 1:
			return []*query.Result{{StatementID: 1, Err: errors.New("user already exists")}}
		}
		return []*query.Result{{StatementID: id, Err: query.ErrNotExecuted}}
	}
	res := s.do(req{method: "POST", target: q("SELECT * FROM cpu; CREATE USER a WITH PASSWORD 'b'; SHOW DATABASES")})
	wantStatus(t, res, 200, "")
	want := `{"results":[` + cpuJSON + `,{"statement_id":1,"error":"user already exists"},{"statement_id":2,"error":"not executed"}]}` + "\n"
	if res.body != want {
		t.Errorf("body = %s\nwant   %s", res.body, want)
	}
}

func TestParamsBinding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		params string
		want   string
	}{
		{`{"host":"a","v":5}`, `SELECT * FROM cpu WHERE host = 'a' AND value > 5`},
		{`{"host":"b","v":1.5}`, `SELECT * FROM cpu WHERE host = 'b' AND value > 1.500`},
		{`{"host":"c","v":true}`, `SELECT * FROM cpu WHERE host = 'c' AND value > true`},
	}
	for _, tt := range tests {
		s := openServer(t)
		res := s.do(req{target: q("SELECT * FROM cpu WHERE host = $host AND value > $v") + "&params=" + url.QueryEscape(tt.params)})
		wantStatus(t, res, 200, "")
		calls := s.eng.queryCalls()
		if len(calls) != 1 || calls[0].query != tt.want {
			t.Errorf("params %s: query = %q, want %q", tt.params, calls[0].query, tt.want)
		}
	}
	// POSTed params work too.
	s := openServer(t)
	res := s.do(req{method: "POST", target: "/query", body: "q=" + url.QueryEscape("SELECT * FROM $m") + "&params=" + url.QueryEscape(`{"m":{"identifier":"mem"}}`),
		headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	wantStatus(t, res, 200, "")
	if calls := s.eng.queryCalls(); len(calls) != 1 || calls[0].query != "SELECT * FROM mem" {
		t.Errorf("calls = %+v", calls)
	}
}

func TestEpoch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		epoch  string
		t1, t2 string
	}{
		{"", `"1970-01-01T00:00:01.5Z"`, `"1970-01-01T01:00:00Z"`},
		{"ns", "1500000000", "3600000000000"},
		{"n", "1500000000", "3600000000000"},
		{"u", "1500000", "3600000000"},
		{"µ", "1500000", "3600000000"},
		{"ms", "1500", "3600000"},
		{"s", "1", "3600"},
		{"m", "0", "60"},
		{"h", "0", "1"},
	}
	for _, tt := range tests {
		s := openServer(t)
		res := s.do(req{target: q("SELECT * FROM cpu") + "&epoch=" + url.QueryEscape(tt.epoch)})
		wantStatus(t, res, 200, "")
		want := `{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","value"],"values":[[` +
			tt.t1 + `,1.5],[` + tt.t2 + `,2]]}]}]}` + "\n"
		if res.body != want {
			t.Errorf("epoch %q: body = %s\nwant %s", tt.epoch, res.body, want)
		}
	}
}

func TestPretty(t *testing.T) {
	t.Parallel()
	s := openServer(t)
	res := s.do(req{target: q("SHOW DATABASES") + "&pretty=true"})
	wantStatus(t, res, 200, "")
	want := `{
    "results": [
        {
            "statement_id": 0,
            "series": [
                {
                    "name": "databases",
                    "columns": [
                        "name"
                    ],
                    "values": [
                        [
                            "db0"
                        ],
                        [
                            "db1"
                        ],
                        [
                            "db2"
                        ]
                    ]
                }
            ]
        }
    ]
}
`
	if res.body != want {
		t.Errorf("body = %s", res.body)
	}
}

// partialCPU returns the pieces the engine sends for a SELECT with more
// points than the chunk size: the series continues over two results.
func partialCPU(id int) []*query.Result {
	a := cpuRow()
	a.Values = a.Values[:1]
	a.Partial = true
	b := cpuRow()
	b.Values = b.Values[1:]
	c := cpuRow()
	c.Tags = map[string]string{"host": "b"}
	c.Values = c.Values[:1]
	return []*query.Result{
		{StatementID: id, Series: models.Rows{a}, Partial: true},
		{StatementID: id, Series: models.Rows{b, c}, Messages: []*query.Message{{Level: "warning", Text: "w"}}},
	}
}

func TestChunked(t *testing.T) {
	t.Parallel()
	s := openServer(t)
	s.eng.respond = func(stmt influxql.Statement, id int, opt query.ExecutionOptions) []*query.Result {
		if id == 0 {
			return partialCPU(0)
		}
		return []*query.Result{{StatementID: id, Err: errors.New("boom")}}
	}
	res := s.do(req{target: q("SELECT * FROM cpu; SELECT * FROM mem") + "&chunked=true&chunk_size=1&epoch=s"})
	wantStatus(t, res, 200, "")
	want := `{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","value"],"values":[[1,1.5]],"partial":true}],"partial":true}]}
{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","value"],"values":[[3600,2]]},{"name":"cpu","tags":{"host":"b"},"columns":["time","value"],"values":[[1,1.5]]}],"messages":[{"level":"warning","text":"w"}]}]}
{"results":[{"statement_id":1,"error":"boom"}]}
`
	if res.body != want {
		t.Errorf("body =\n%s\nwant\n%s", res.body, want)
	}
	if calls := s.eng.queryCalls(); calls[0].opt.ChunkSize != 1 {
		t.Errorf("ChunkSize = %d, want 1", calls[0].opt.ChunkSize)
	}

	for param, want := range map[string]int{"&chunked=true": DefaultChunkSize, "&chunked=true&chunk_size=0": DefaultChunkSize,
		"&chunked=true&chunk_size=x": DefaultChunkSize, "&chunk_size=5": DefaultChunkSize, "&chunked=true&chunk_size=500": 500} {
		s := openServer(t)
		wantStatus(t, s.do(req{target: q("SHOW DATABASES") + param}), 200, "")
		if got := s.eng.queryCalls()[0].opt.ChunkSize; got != want {
			t.Errorf("%s: ChunkSize = %d, want %d", param, got, want)
		}
	}
}

// TestMergeNonChunked: without chunked, the pieces of one statement come
// back as one result, the continued series as one row.
func TestMergeNonChunked(t *testing.T) {
	t.Parallel()
	s := openServer(t)
	s.eng.respond = func(stmt influxql.Statement, id int, opt query.ExecutionOptions) []*query.Result {
		return partialCPU(id)
	}
	res := s.do(req{target: q("SELECT * FROM cpu") + "&epoch=s"})
	wantStatus(t, res, 200, "")
	want := `{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","value"],"values":[[1,1.5],[3600,2]]},{"name":"cpu","tags":{"host":"b"},"columns":["time","value"],"values":[[1,1.5]]}],"messages":[{"level":"warning","text":"w"}]}]}` + "\n"
	if res.body != want {
		t.Errorf("body =\n%s\nwant\n%s", res.body, want)
	}

	// An error in a later piece replaces the statement's result.
	s = openServer(t)
	s.eng.respond = func(stmt influxql.Statement, id int, opt query.ExecutionOptions) []*query.Result {
		return append(partialCPU(id)[:1], &query.Result{StatementID: id, Err: errors.New("max-select-point limit exceeded")})
	}
	res = s.do(req{target: q("SELECT * FROM cpu")})
	if want := `{"results":[{"statement_id":0,"error":"max-select-point limit exceeded"}]}` + "\n"; res.body != want {
		t.Errorf("body = %s", res.body)
	}
}

func TestNoResults(t *testing.T) {
	t.Parallel()
	s := openServer(t)
	s.eng.respond = func(influxql.Statement, int, query.ExecutionOptions) []*query.Result { return nil }
	res := s.do(req{target: q("SHOW DATABASES")})
	wantStatus(t, res, 200, "")
	if res.body != "{}\n" {
		t.Errorf("body = %q", res.body)
	}
}

func TestUnencodableValue(t *testing.T) {
	t.Parallel()
	s := openServer(t)
	s.eng.respond = func(stmt influxql.Statement, id int, opt query.ExecutionOptions) []*query.Result {
		row := cpuRow()
		row.Values[0][1] = math.NaN()
		return []*query.Result{{StatementID: id, Series: models.Rows{row}}}
	}
	res := s.do(req{target: q("SELECT * FROM cpu")})
	wantStatus(t, res, 200, "")
	if want := `{"error":"json: unsupported value: NaN"}` + "\n"; res.body != want {
		t.Errorf("body = %s", res.body)
	}
}

func TestCSV(t *testing.T) {
	t.Parallel()
	respond := func(stmt influxql.Statement, id int, opt query.ExecutionOptions) []*query.Result {
		switch id {
		case 0:
			row := cpuRow()
			row.Tags = map[string]string{"host": "a b", "dc": "x,y"}
			row.Values = append(row.Values, []any{t2, nil}, []any{t2, "s,\"q\""}, []any{t2, true}, []any{t2, uint64(7)})
			mem := &models.Row{Name: "mem", Columns: []string{"time", "free", "used"}, Values: [][]any{{t1, int64(1), int64(2)}}}
			return []*query.Result{{StatementID: 0, Series: models.Rows{row, mem}}}
		case 1:
			return []*query.Result{{StatementID: 1, Err: errors.New("dropped from CSV")}}
		}
		return []*query.Result{{StatementID: id, Series: models.Rows{{Name: "databases", Columns: []string{"name"}, Values: [][]any{{"db0"}}}}}}
	}
	want := `name,tags,time,value
cpu,"dc=x\,y,host=a\ b",1500000000,1.5
cpu,"dc=x\,y,host=a\ b",3600000000000,2
cpu,"dc=x\,y,host=a\ b",3600000000000,
cpu,"dc=x\,y,host=a\ b",3600000000000,"s,""q"""
cpu,"dc=x\,y,host=a\ b",3600000000000,true
cpu,"dc=x\,y,host=a\ b",3600000000000,7

name,tags,time,free,used
mem,,1500000000,1,2

name,tags,name
databases,,db0
`
	for _, accept := range []string{"application/csv", "text/csv", "application/json;q=0.5, text/csv", "application/x-msgpack, text/csv;q=0.9"} {
		s := openServer(t)
		s.eng.respond = respond
		res := s.do(req{target: q("SELECT * FROM cpu; SELECT * FROM x; SHOW DATABASES"), headers: map[string]string{"Accept": accept}})
		wantStatus(t, res, 200, "")
		wantCT := "application/csv"
		if strings.HasPrefix(accept, "text/csv") || strings.Contains(accept, ", text/csv") {
			wantCT = "text/csv"
		}
		if ct := res.header.Get("Content-Type"); ct != wantCT {
			t.Errorf("Accept %q: Content-Type = %q, want %q", accept, ct, wantCT)
		}
		if res.body != want {
			t.Errorf("Accept %q: body =\n%s\nwant\n%s", accept, res.body, want)
		}
	}
}

func TestCSVChunked(t *testing.T) {
	t.Parallel()
	s := openServer(t)
	s.eng.respond = func(stmt influxql.Statement, id int, opt query.ExecutionOptions) []*query.Result {
		return partialCPU(id)
	}
	res := s.do(req{target: q("SELECT * FROM cpu") + "&chunked=true&epoch=ms", headers: map[string]string{"Accept": "application/csv"}})
	want := "name,tags,time,value\ncpu,host=a,1500,1.5\ncpu,host=a,3600000,2\ncpu,host=b,1500,1.5\n"
	if res.body != want {
		t.Errorf("body =\n%s\nwant\n%s", res.body, want)
	}
}

func TestNegotiate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		accept []string
		want   string
	}{
		{nil, "application/json"},
		{[]string{""}, "application/json"},
		{[]string{"*/*"}, "application/json"},
		{[]string{"*"}, "application/json"},
		{[]string{"text/*"}, "text/csv"},
		{[]string{"application/*"}, "application/json"},
		{[]string{"application/x-msgpack"}, "application/json"},
		{[]string{"application/csv;q=0.1", "application/json;q=0.2"}, "application/json"},
		{[]string{"application/json;q=0", "text/csv;q=x"}, "application/json"},
		{[]string{"garbage;;", "text/csv"}, "text/csv"},
		{[]string{"text/html, application/xhtml+xml, */*;q=0.8"}, "application/json"},
	}
	for _, tt := range tests {
		if got := negotiate(tt.accept).contentType[0]; got != tt.want {
			t.Errorf("negotiate(%q) = %s, want %s", tt.accept, got, tt.want)
		}
	}
}

func TestQueryGzip(t *testing.T) {
	t.Parallel()
	s := openServer(t)
	for _, chunked := range []string{"", "&chunked=true"} {
		res := s.do(req{target: q("SELECT * FROM cpu") + chunked, headers: map[string]string{"Accept-Encoding": "gzip"}})
		wantStatus(t, res, 200, "")
		if res.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding = %q", res.header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(strings.NewReader(res.body))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"results":[` + cpuJSON + `]}` + "\n"; string(b) != want {
			t.Errorf("body = %s", b)
		}
	}
	// Errors are not compressed.
	res := s.do(req{target: "/query", headers: map[string]string{"Accept-Encoding": "gzip"}})
	wantStatus(t, res, 400, `missing required parameter "q"`)
}

// TestAbortWhenClientGoes: the query's abort and closing channels close
// when the request's context ends, and the handler returns.
func TestAbortWhenClientGoes(t *testing.T) {
	t.Parallel()
	s := openServer(t)
	s.eng.block = true
	ctx, cancel := context.WithCancel(context.Background())
	r := mustRequest(t, "GET", q("SELECT * FROM cpu"), "").WithContext(ctx)
	done := make(chan response)
	go func() { done <- serve(t, s.h, r) }()
	select {
	case <-s.eng.started:
	case <-time.After(10 * time.Second):
		t.Fatal("query did not start")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not return after the client went away")
	}
	c := s.eng.queryCalls()[0]
	select {
	case <-c.closing:
	default:
		t.Error("closing channel not closed")
	}
}

// TestNoAbortOnSuccess: a query that completes leaves its channels open.
func TestNoAbortOnSuccess(t *testing.T) {
	t.Parallel()
	s := openServer(t)
	wantStatus(t, s.do(req{target: q("SHOW DATABASES")}), 200, "")
	select {
	case <-s.eng.queryCalls()[0].closing:
		t.Error("closing channel closed after a normal end")
	default:
	}
}

func TestAsync(t *testing.T) {
	t.Parallel()
	s := openServer(t)
	wantStatus(t, s.do(req{method: "POST", target: q("CREATE DATABASE x") + "&async=true"}), 204, "")
	if calls := s.eng.queryCalls(); len(calls) != 1 || calls[0].closing != nil {
		t.Fatalf("calls = %+v", calls)
	}
}

func TestMergeResultTable(t *testing.T) {
	t.Parallel()
	r0 := &query.Result{StatementID: 0}
	r1 := &query.Result{StatementID: 1}
	got := mergeResult(mergeResult(nil, r0), r1)
	if len(got) != 2 || got[0] != r0 || got[1] != r1 {
		t.Fatalf("got %v", got)
	}
	// An empty first piece takes the rows of the next.
	got = mergeResult([]*query.Result{{StatementID: 0}}, &query.Result{StatementID: 0, Series: models.Rows{cpuRow()}})
	if len(got) != 1 || len(got[0].Series) != 1 {
		t.Fatalf("got %+v", got)
	}
}

func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c *Config) { c.AuthEnabled = false })
	s.eng.panicOnDatabase = true
	var logs bytes.Buffer
	s.h.logger = newTestLogger(&logs)
	wantStatus(t, s.do(req{method: "POST", target: "/write?db=db0", body: "cpu v=1"}), 500, "internal error")
	if !strings.Contains(logs.String(), "panic") {
		t.Errorf("panic not logged: %s", logs.String())
	}
	// A panic with the response under way aborts the connection.
	h := &Handler{logger: s.h.logger, stats: newStats()}
	w := getRespWriter(httptest.NewRecorder())
	w.WriteHeader(http.StatusOK)
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler", v)
			}
		}()
		defer h.recover(w, mustRequest(t, "GET", "/query", ""))
		panic("late")
	}()
}
