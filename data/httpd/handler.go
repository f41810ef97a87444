package httpd

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxdb/services/meta"
	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/auth"
)

// Engine is what the handler needs from the storage and query engine.
type Engine interface {
	// ExecuteQuery runs q. The handler reads the returned channel to the
	// end; it closes opt.AbortCh and closing when the client goes away.
	ExecuteQuery(q *influxql.Query, opt query.ExecutionOptions, closing chan struct{}) <-chan *query.Result

	// WritePoints writes points to db.rp ("" is the default policy). user is
	// nil when authentication is not enforced.
	//
	// The points' keys, tags and fields are slices of a buffer that the
	// handler reuses for another request once WritePoints has returned nil.
	// After a nil return an implementation must therefore hold no reference
	// to them and have no write of them still running (copy what it keeps,
	// e.g. for hinted handoff). After a non-nil return the buffer is left to
	// the garbage collector, so writes still in flight then (the coordinator
	// returns early on a timeout or on the first shard error) stay safe.
	WritePoints(db, rp string, consistency models.ConsistencyLevel, user meta.User, points []models.Point) error

	// Database returns the database called name, or nil when there is none.
	Database(name string) *meta.DatabaseInfo

	// BootstrapAdmin creates the first admin user, for the one statement
	// allowed without credentials while no admin exists. It must fail with
	// an error matching palisade's meta.ErrAdminExists when an admin exists
	// by the time it is applied.
	BootstrapAdmin(name, password string) error
}

// DefaultChunkSize is the number of points per result the engine produces
// when the client does not ask for chunked output or gives no chunk_size.
const DefaultChunkSize = 10000

// Handler serves the InfluxDB 1.x HTTP API. It is safe for concurrent use.
type Handler struct {
	cfg    Config
	eng    Engine
	cache  *auth.Cache
	logger *slog.Logger

	pingAuth bool // AuthEnabled && PingAuthEnabled

	// Header values shared by every response. Assigned into the header map
	// without copying: net/http only reads them, and Header.Add on a slice
	// whose capacity equals its length copies before appending.
	versionHdr []string
	buildHdr   []string

	writeSlots chan struct{} // nil when MaxConcurrentWriteLimit is 0

	stats *stats
	pprof http.Handler // nil unless PprofEnabled
}

// NewHandler returns a handler that serves eng with the users of cache.
// cache may be nil only when cfg.AuthEnabled is false; logger may be nil.
func NewHandler(cfg Config, eng Engine, cache *auth.Cache, logger *slog.Logger) *Handler {
	if cfg.AuthEnabled && cache == nil {
		panic("httpd: AuthEnabled needs an auth.Cache")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		cfg:        cfg,
		eng:        eng,
		cache:      cache,
		logger:     logger.With("component", "httpd"),
		pingAuth:   cfg.AuthEnabled && cfg.PingAuthEnabled,
		versionHdr: constHeader(cfg.Version),
		buildHdr:   constHeader(cfg.Build),
		stats:      newStats(),
	}
	if cfg.PprofEnabled {
		h.pprof = pprofHandler()
	}
	if cfg.MaxConcurrentWriteLimit > 0 {
		h.writeSlots = make(chan struct{}, cfg.MaxConcurrentWriteLimit)
	}
	return h
}

// constHeader returns a header value whose capacity equals its length.
func constHeader(v string) []string { return []string{v}[:1:1] }

var (
	hdrJSON = constHeader("application/json")
	hdrVary = constHeader("Accept-Encoding")
)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := getRespWriter(rw)
	defer putRespWriter(w)
	start := time.Now()
	h.stats.reqActive.Add(1)
	defer func() {
		h.stats.reqActive.Add(-1)
		h.stats.done(r.URL.Path, w.status, time.Since(start))
	}()
	defer h.recover(w, r)

	hdr := w.Header()
	hdr["X-Influxdb-Version"] = h.versionHdr
	hdr["X-Influxdb-Build"] = h.buildHdr
	if origin := r.Header.Get("Origin"); origin != "" {
		setCORS(hdr, origin)
	}

	switch r.URL.Path {
	case "/ping":
		if h.allow(w, r, http.MethodGet, http.MethodHead) {
			h.servePing(w, r)
		}
	case "/health":
		if h.allow(w, r, http.MethodGet, http.MethodHead) {
			h.serveHealth(w, r)
		}
	case "/status":
		if h.allow(w, r, http.MethodGet, http.MethodHead) {
			h.serveStatus(w, r)
		}
	case "/query":
		if h.allow(w, r, http.MethodGet, http.MethodPost) {
			h.serveQuery(w, r)
		}
	case "/write":
		if h.allow(w, r, http.MethodPost, "") {
			h.serveWriteV1(w, r)
		}
	case "/api/v2/write":
		if h.allow(w, r, http.MethodPost, "") {
			h.serveWriteV2(w, r)
		}
	case "/metrics":
		h.serveMetrics(w, r)
	case "/debug/vars":
		h.serveDebug(w, r, h.cfg.DebugVars, true, h.cfg.PprofAuthEnabled, true)
	default:
		if strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
			// Its symbol page also takes POST: the profiles check methods.
			h.serveDebug(w, r, h.pprof, false, true, true)
			break
		}
		h.httpError(w, http.StatusNotFound, "not found")
	}

	if h.cfg.LogEnabled {
		h.logRequest(w, r, start)
	}
}

// serveDebug serves /debug/* with next (nil: 404), for GET only when
// getOnly, behind debugAuth's guard.
func (h *Handler) serveDebug(w *respWriter, r *http.Request, next http.Handler, getOnly, guarded, admin bool) {
	switch {
	case next == nil:
		h.httpError(w, http.StatusNotFound, "not found")
	case getOnly && !h.allow(w, r, http.MethodGet, ""):
	case h.debugAuth(w, r, guarded, admin):
		next.ServeHTTP(w, r)
	}
}

// serveMetrics serves /metrics: Config.Metrics to an admin (to anyone
// while auth is off), Config.PublicMetrics to anyone else.
func (h *Handler) serveMetrics(w *respWriter, r *http.Request) {
	switch {
	case h.cfg.Metrics == nil:
		h.httpError(w, http.StatusNotFound, "not found")
		return
	case !h.allow(w, r, http.MethodGet, ""):
		return
	case !h.cfg.AuthEnabled:
		h.cfg.Metrics.ServeHTTP(w, r)
		return
	}
	admin := false
	if _, err := auth.ParseCredentials(r); h.pingAuth || err == nil || r.Header.Get("Authorization") != "" {
		u, mode, ok := h.authenticate(w, r)
		if !ok {
			return
		}
		admin = mode == authOn && u.Admin()
	}
	switch {
	case admin:
		h.cfg.Metrics.ServeHTTP(w, r)
	case h.cfg.PublicMetrics != nil:
		h.cfg.PublicMetrics.ServeHTTP(w, r)
	default:
		h.debugAuth(w, r, true, true) // answers 401 or 403
	}
}

// allow reports whether r's method is m1 or m2. It answers OPTIONS (CORS
// preflight) with 204 and other methods with 405.
func (h *Handler) allow(w *respWriter, r *http.Request, m1, m2 string) bool {
	switch {
	case r.Method == m1 || (m2 != "" && r.Method == m2):
		return true
	case r.Method == http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	allowed := m1
	if m2 != "" {
		allowed += ", " + m2
	}
	w.Header().Set("Allow", allowed+", OPTIONS")
	h.httpError(w, http.StatusMethodNotAllowed, "method not allowed")
	return false
}

func setCORS(hdr http.Header, origin string) {
	hdr.Set("Access-Control-Allow-Origin", origin)
	hdr.Set("Access-Control-Allow-Methods", "DELETE, GET, OPTIONS, POST, PUT, PATCH")
	hdr.Set("Access-Control-Allow-Headers", "Accept, Accept-Encoding, Authorization, Content-Length, "+
		"Content-Type, User-Agent, X-CSRF-Token, X-HTTP-Method-Override")
	hdr.Set("Access-Control-Expose-Headers", "Date, X-InfluxDB-Version, X-InfluxDB-Build")
}

// servePing answers 204, or 200 with the version when verbose is set to
// anything but "", "0" or "false".
func (h *Handler) servePing(w *respWriter, r *http.Request) {
	if h.pingAuth {
		if _, _, ok := h.authenticate(w, r); !ok {
			return
		}
	}
	switch v, _ := queryValue(r.URL.RawQuery, "verbose"); v {
	case "", "0", "false":
		w.WriteHeader(http.StatusNoContent)
	default:
		b, _ := json.Marshal(struct {
			Version string `json:"version"`
		}{h.cfg.Version})
		w.Header()["Content-Type"] = hdrJSON
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	}
}

// serveStatus is the deprecated predecessor of /ping.
func (h *Handler) serveStatus(w *respWriter, r *http.Request) {
	if h.pingAuth {
		if _, _, ok := h.authenticate(w, r); !ok {
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// maxErrorHeader bounds the X-Influxdb-Error header, as InfluxDB does: a
// rejected batch's message can list every bad line.
const maxErrorHeader = 1024

// httpError answers with status and {"error":msg}. A 401 carries the Basic
// challenge; every other non-2xx status carries X-Influxdb-Error.
func (h *Handler) httpError(w *respWriter, status int, msg string) {
	hdr := w.Header()
	if status == http.StatusUnauthorized {
		hdr.Set("WWW-Authenticate", `Basic realm="InfluxDB"`)
	} else if status/100 != 2 {
		hdr.Set("X-Influxdb-Error", errorHeader(msg))
	}
	hdr["Content-Type"] = hdrJSON
	b, err := json.Marshal(errorBody{Error: msg})
	if err != nil { // cannot happen for a string
		b = []byte(`{"error":"internal error"}`)
	}
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

type errorBody struct {
	Error string `json:"error"`
}

// errorHeader makes msg fit for the X-Influxdb-Error header: each invalid
// UTF-8 byte as U+FFFD, as in the JSON body (a bad line of line protocol
// may hold any bytes), control characters as spaces (a rejected batch lists
// its bad lines one per line), at most maxErrorHeader bytes.
func errorHeader(msg string) string {
	if len(msg) > 4*maxErrorHeader { // what we sanitize only gets longer
		msg = msg[:4*maxErrorHeader]
	}
	if utf8.ValidString(msg) && !strings.ContainsFunc(msg, isCTL) {
		return truncateUTF8(msg, maxErrorHeader)
	}
	var b strings.Builder
	b.Grow(len(msg))
	for _, r := range msg { // ranging yields U+FFFD for each invalid byte
		if isCTL(r) {
			r = ' '
		}
		b.WriteRune(r)
	}
	return truncateUTF8(b.String(), maxErrorHeader)
}

func isCTL(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 { // s[n] continues a character
		n--
	}
	return s[:n]
}

// recover turns a panic into a 500 when nothing has been sent yet, and logs
// it. http.ErrAbortHandler is passed on.
func (h *Handler) recover(w *respWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	h.stats.recoveredPanics.Add(1)
	h.logger.Error("panic serving request", "method", r.Method, "path", r.URL.Path,
		"panic", v, "stack", string(debug.Stack()))
	if w.status == 0 {
		h.httpError(w, http.StatusInternalServerError, "internal error")
		return
	}
	// Part of the response is out: make the client see a broken one rather
	// than a short one that looks complete.
	panic(http.ErrAbortHandler)
}

// logRequest writes the access log line. It never logs the query string,
// which may carry a password (p=) or a query with one.
func (h *Handler) logRequest(w *respWriter, r *http.Request, start time.Time) {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	h.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("client", clientIP(r.RemoteAddr)),
		slog.String("user", w.user),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Int64("bytes", w.written),
		slog.Duration("duration", time.Since(start)),
		slog.String("agent", r.UserAgent()),
	)
}

// respWriter records what the access log and panic recovery need to know.
// It is pooled; handlers must not keep it after ServeHTTP returns.
type respWriter struct {
	http.ResponseWriter
	status  int
	written int64
	user    string // the authenticated user, for the access log
}

var respWriterPool = sync.Pool{New: func() any { return new(respWriter) }}

func getRespWriter(rw http.ResponseWriter) *respWriter {
	w := respWriterPool.Get().(*respWriter)
	w.ResponseWriter = rw
	return w
}

func putRespWriter(w *respWriter) {
	*w = respWriter{}
	respWriterPool.Put(w)
}

func (w *respWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

// Flush sends what has been written so far to the client.
func (w *respWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var _ io.Writer = (*respWriter)(nil)
