package httpd

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/internal/qlimit"
	"github.com/palisade-db/palisade/meta"
)

// serveQuery answers /query (GET and POST). The order of the checks is
// InfluxDB's, which COMPAT.md fixes: authenticate (401/429), read q and
// params (400), parse (400), authorize the whole query (403), then run it.
// From then on the status is 200 and statement errors are in the body.
// Palisade adds two checks that InfluxDB lacks, both before parsing: a q
// over MaxQuerySize gets 413, a q nesting deeper than maxNesting gets 400
// (as does an expression tree deeper than that, right after parsing).
func (h *Handler) serveQuery(w *respWriter, r *http.Request) {
	u, mode, ok := h.authenticate(w, r)
	if !ok {
		return
	}

	text, err := h.queryText(w, r)
	if errors.Is(err, errQueryTooLarge) {
		h.httpError(w, http.StatusRequestEntityTooLarge, msgTooLarge)
		return
	}
	if err != nil {
		h.httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	if text == "" {
		h.httpError(w, http.StatusBadRequest, `missing required parameter "q"`)
		return
	}
	// The parser recurses once per parenthesis: a deep enough query would
	// overflow the stack, which kills the process.
	if qlimit.NestsDeeperThan(text, maxNesting) {
		h.httpError(w, http.StatusBadRequest, msgNestingTooDeep)
		return
	}
	p := influxql.NewParser(strings.NewReader(text))
	if raw := r.FormValue("params"); raw != "" {
		params, msg := parseParams(raw)
		if msg != "" {
			h.httpError(w, http.StatusBadRequest, msg)
			return
		}
		p.SetParams(params)
	}
	q, err := p.ParseQuery()
	if err != nil {
		h.httpError(w, http.StatusBadRequest, "error parsing query: "+err.Error())
		return
	}
	if qlimit.QueryDeeperThan(q, maxNesting) {
		h.httpError(w, http.StatusBadRequest, msgNestingTooDeep)
		return
	}

	db := r.FormValue("db")
	execute := h.eng.ExecuteQuery
	switch mode {
	case authBootstrap:
		if !auth.IsAdminBootstrap(q) {
			h.authError(w, auth.ErrCreateAdminFirst)
			return
		}
		results, err := h.bootstrapAdmin(q, r.Method == http.MethodGet)
		if err != nil {
			h.authError(w, err)
			return
		}
		execute = func(*influxql.Query, query.ExecutionOptions, chan struct{}) <-chan *query.Result { return results }
	case authOn:
		answered, err := h.authorizeFresh(w, r, u, func(u *auth.User) error { return auth.AuthorizeQuery(u, q, db) })
		if answered {
			return
		}
		if err != nil {
			h.authError(w, err)
			return
		}
	}
	// A database or retention policy this node does not know may have been
	// created through another node a moment ago: bring the state up first.
	if !h.knowsSources(q, db) {
		if _, err := h.sync(r); err != nil {
			h.refuseBehind(w, err)
			return
		}
	}

	// node_id reads only the shards that data node owns, and only from it
	// (InfluxDB Enterprise's parameter, to look at one node's copy).
	var nodeID uint64
	if v := r.FormValue("node_id"); v != "" {
		if nodeID, err = strconv.ParseUint(v, 10, 64); err != nil {
			h.httpError(w, http.StatusBadRequest, fmt.Sprintf("invalid node_id %q: not a data node ID", v))
			return
		}
	}

	chunked := r.FormValue("chunked") == "true"
	chunkSize := DefaultChunkSize
	if chunked {
		if n, err := strconv.ParseInt(r.FormValue("chunk_size"), 10, 64); err == nil && n > 0 {
			chunkSize = int(min(n, math.MaxInt32))
		}
	}
	opts := query.ExecutionOptions{
		Database:         db,
		RetentionPolicy:  r.FormValue("rp"),
		Authorizer:       fineAuthorizer(mode, u),
		CoarseAuthorizer: coarseAuthorizer(mode, u),
		ChunkSize:        chunkSize,
		NodeID:           nodeID,
		// The engine adds a deprecation warning to a statement that changes
		// something when it comes in a GET, as InfluxDB 1.8 does.
		ReadOnly: r.Method == http.MethodGet,
		Quiet:    true,
	}

	if r.FormValue("async") == "true" {
		results := execute(q, opts, nil)
		go h.drainAsync(results)
		w.WriteHeader(http.StatusNoContent)
		return
	}

	// The query is interrupted, and its results no longer sent, when the
	// client goes away.
	abort := make(chan struct{})
	stop := context.AfterFunc(r.Context(), func() { close(abort) })
	defer stop()
	opts.AbortCh = abort
	results := execute(q, opts, abort)

	f := negotiate(r.Header["Accept"])
	enc := f.newEncoder(r.FormValue("pretty") == "true")
	hdr := w.Header()
	hdr["Content-Type"] = f.contentType
	var out io.Writer = w
	var gz *gzip.Writer
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		hdr["Content-Encoding"] = hdrGzip
		hdr["Vary"] = hdrVary
		gz = getGzipWriter(w)
		defer putGzipWriter(gz)
		out = gz
	}
	// Send the status now, as InfluxDB does, so that the client knows the
	// query was accepted while it runs.
	w.WriteHeader(http.StatusOK)
	w.Flush()

	epoch := strings.TrimSpace(r.FormValue("epoch"))
	var merged []*query.Result
	var werr error
	for res := range results { // always to the end: the engine waits for us
		if res == nil || werr != nil {
			continue
		}
		if epoch != "" {
			convertEpoch(res, epoch)
		}
		if !chunked {
			merged = mergeResult(merged, res)
			continue
		}
		werr = enc.encode(out, []*query.Result{res})
		if werr == nil && gz != nil {
			werr = gz.Flush()
		}
		w.Flush()
	}
	if !chunked && werr == nil {
		_ = enc.encode(out, merged) // an error here means the client is gone
	}
}

// bootstrapAdmin runs the admin bootstrap, the one query allowed without
// credentials while no admin exists (auth.IsAdminBootstrap), through
// Engine.BootstrapAdmin rather than the statement executor, so that the meta
// state machine can refuse it if an admin exists by then. Its result comes
// back as a closed channel holding the statement's result, as the engine
// would send it; when an admin exists, the error is the 401 a request
// without credentials gets.
func (h *Handler) bootstrapAdmin(q *influxql.Query, readOnly bool) (<-chan *query.Result, error) {
	stmt := q.Statements[0].(*influxql.CreateUserStatement)
	err := h.eng.BootstrapAdmin(stmt.Name, stmt.Password)
	if errors.Is(err, meta.ErrAdminExists) {
		return nil, auth.ErrUnparsableCredentials
	}
	res := &query.Result{StatementID: 0, Err: err}
	if readOnly && err == nil {
		res.Messages = []*query.Message{query.ReadOnlyWarning(stmt.String())}
	}
	results := make(chan *query.Result, 1)
	results <- res
	close(results)
	return results, nil
}

// queryText parses r's form (URL query and body) and returns the q
// parameter: from the URL or a form body, or a file called q in a multipart
// body. With Config.MaxQuerySize set, the body is read no further than a
// query of that size can need (percent-encoding triples it, the other
// parameters get some room), and a larger query gives errQueryTooLarge.
// Other malformed bodies leave q missing, as r.FormValue would.
func (h *Handler) queryText(w *respWriter, r *http.Request) (string, error) {
	limit := int64(h.cfg.MaxQuerySize)
	memory := int64(defaultMultipartMemory)
	if limit > 0 {
		memory = queryBodyLimit(limit)
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w.ResponseWriter, r.Body, memory)
		}
	}
	if err := r.ParseMultipartForm(memory); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) || errors.Is(err, multipart.ErrMessageTooLarge) {
			return "", errQueryTooLarge
		}
	}
	q := r.FormValue("q")
	if limit > 0 && int64(len(q)) > limit {
		return "", errQueryTooLarge
	}
	if q = strings.TrimSpace(q); q != "" {
		return q, nil
	}
	if r.MultipartForm == nil {
		return "", nil
	}
	fhs := r.MultipartForm.File["q"]
	if len(fhs) == 0 {
		return "", nil
	}
	if limit > 0 && fhs[0].Size > limit {
		return "", errQueryTooLarge
	}
	f, err := fhs[0].Open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	var rd io.Reader = f
	if limit > 0 {
		rd = io.LimitReader(f, limit+1)
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return "", err
	}
	if limit > 0 && int64(len(b)) > limit {
		return "", errQueryTooLarge
	}
	return strings.TrimSpace(string(b)), nil
}

// parseParams decodes the params parameter, a JSON object whose members
// become the query's $variables. Numbers with a '.' become float64, others
// int64, as in InfluxDB. A non-empty msg is the 400 to answer with.
func parseParams(raw string) (params map[string]any, msg string) {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		return nil, "error parsing query parameters: " + err.Error()
	}
	for k, v := range params {
		n, ok := v.(json.Number)
		if !ok {
			continue
		}
		var err error
		if strings.Contains(string(n), ".") {
			params[k], err = n.Float64()
		} else {
			params[k], err = n.Int64()
		}
		if err != nil {
			return nil, "error parsing json value: " + err.Error()
		}
	}
	return params, ""
}

// drainAsync reads the results of an async query, which nobody waits for,
// and logs its errors.
func (h *Handler) drainAsync(results <-chan *query.Result) {
	for res := range results {
		if res != nil && res.Err != nil && !errors.Is(res.Err, query.ErrNotExecuted) {
			h.logger.Info("async query failed", "statement_id", res.StatementID, "err", res.Err)
		}
	}
}

// mergeResult adds r to the results of a non-chunked response. The engine
// sends a statement's result in pieces of at most ChunkSize points; the
// pieces of one statement are put back together: rows that continue the last
// series get their values appended to it, other rows are added after it. An
// error replaces what the statement had produced.
func mergeResult(rs []*query.Result, r *query.Result) []*query.Result {
	if len(rs) == 0 || rs[len(rs)-1].StatementID != r.StatementID {
		return append(rs, r)
	}
	if r.Err != nil {
		rs[len(rs)-1] = r
		return rs
	}
	cur := rs[len(rs)-1]
	n := 0
	if len(cur.Series) > 0 {
		tail := cur.Series[len(cur.Series)-1]
		for _, row := range r.Series {
			if !tail.SameSeries(row) {
				break
			}
			tail.Values = append(tail.Values, row.Values...)
			tail.Partial = row.Partial
			n++
		}
	}
	cur.Series = append(cur.Series, r.Series[n:]...)
	cur.Messages = append(cur.Messages, r.Messages...)
	cur.Partial = r.Partial
	return rs
}

// convertEpoch replaces the time column of r's rows (a time.Time) by an
// integer count of the epoch's unit since 1970: h, m, s, ms, u or µ;
// anything else means nanoseconds.
func convertEpoch(r *query.Result, epoch string) {
	div := int64(1)
	switch epoch {
	case "h":
		div = int64(time.Hour)
	case "m":
		div = int64(time.Minute)
	case "s":
		div = int64(time.Second)
	case "ms":
		div = int64(time.Millisecond)
	case "u", "µ":
		div = int64(time.Microsecond)
	}
	for _, row := range r.Series {
		for _, vals := range row.Values {
			if len(vals) == 0 {
				continue
			}
			if t, ok := vals[0].(time.Time); ok {
				vals[0] = t.UnixNano() / div
			}
		}
	}
}

// knowsSources reports whether this node's meta state has every database,
// retention policy and user that the reading statements of q (SELECT,
// SHOW) name, db being the default database. Statements that change the meta
// state are not looked at: the meta leader decides those.
func (h *Handler) knowsSources(q *influxql.Query, db string) bool {
	known := true
	check := func(dbName, rp string) {
		if dbName == "" {
			dbName = db
		}
		if dbName == "" || !known {
			return
		}
		di := h.eng.Database(dbName)
		if di == nil || (rp != "" && di.RetentionPolicy(rp) == nil) {
			known = false
		}
	}
	for _, stmt := range q.Statements {
		switch s := stmt.(type) {
		case *influxql.SelectStatement:
			influxql.WalkFunc(s, func(n influxql.Node) {
				if m, ok := n.(*influxql.Measurement); ok && m.SystemIterator == "" {
					check(m.Database, m.RetentionPolicy)
				}
			})
		case *influxql.ShowGrantsForUserStatement:
			// "user not found" is decided on the newest state too.
			if h.cache != nil && h.cache.Lookup(s.Name) == nil {
				known = false
			}
		default:
			// SHOW … ON db: the statement's Database field.
			if v := reflect.Indirect(reflect.ValueOf(stmt)); v.Kind() == reflect.Struct &&
				strings.HasPrefix(v.Type().Name(), "Show") {
				if f := v.FieldByName("Database"); f.IsValid() && f.Kind() == reflect.String {
					check(f.String(), "")
				}
			}
		}
	}
	return known
}
