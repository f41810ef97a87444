package httpd

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/influxdata/influxdb"
	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/tsdb"

	"github.com/palisade-db/palisade/auth"
)

// serveWriteV1 answers /write: db, rp, precision (n, ns, u, ms, s, m, h)
// and consistency (any, one, quorum, all) from the URL.
func (h *Handler) serveWriteV1(w *respWriter, r *http.Request) {
	h.withWriteSlot(w, r, h.writeV1)
}

func (h *Handler) writeV1(w *respWriter, r *http.Request, u *auth.User, mode authMode) {
	raw := r.URL.RawQuery
	precision, _ := queryValue(raw, "precision")
	switch precision {
	case "ns":
		precision = "n"
	case "", "n", "u", "ms", "s", "m", "h":
	default:
		h.httpError(w, http.StatusBadRequest, fmt.Sprintf("invalid precision %q (use n, u, ms, s, m or h)", precision))
		return
	}
	db, _ := queryValue(raw, "db")
	rp, _ := queryValue(raw, "rp")
	h.serveWrite(w, r, u, mode, db, rp, precision)
}

// serveWriteV2 answers the 2.x compatibility /api/v2/write: bucket is
// "db/rp" or "db" (the default policy), org is ignored, precision is ns, us,
// ms or s, and credentials come as "Authorization: Token user:password"
// (or any other 1.x way).
func (h *Handler) serveWriteV2(w *respWriter, r *http.Request) {
	h.withWriteSlot(w, r, h.writeV2)
}

func (h *Handler) writeV2(w *respWriter, r *http.Request, u *auth.User, mode authMode) {
	raw := r.URL.RawQuery
	precision, _ := queryValue(raw, "precision")
	switch precision {
	case "ns":
		precision = "n"
	case "us":
		precision = "u"
	case "", "ms", "s":
	default:
		h.httpError(w, http.StatusBadRequest, fmt.Sprintf("invalid precision %q (use ns, us, ms or s)", precision))
		return
	}
	bucket, _ := queryValue(raw, "bucket")
	db, rp, _ := strings.Cut(bucket, "/")
	h.serveWrite(w, r, u, mode, db, rp, precision)
}

// withWriteSlot runs write once the request holds a write slot and is
// authenticated; otherwise it has already answered.
func (h *Handler) withWriteSlot(w *respWriter, r *http.Request, write func(*respWriter, *http.Request, *auth.User, authMode)) {
	if !h.acquireWriteSlot(w, r) {
		return
	}
	defer h.releaseWriteSlot()
	u, mode, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	write(w, r, u, mode)
}

// serveWrite checks the database and the user's right to write to it, reads
// and parses the body, and writes the points. Malformed lines are influxd's
// partial write: the lines that parse are written, and the answer is 400
// "partial write: unable to parse '<line>': <why> dropped=0" (influxd counts
// no dropped points for them); a body with no line that parses is 400
// "unable to parse …".
func (h *Handler) serveWrite(w *respWriter, r *http.Request, u *auth.User, mode authMode, db, rp, precision string) {
	if db == "" {
		h.httpError(w, http.StatusBadRequest, "database is required")
		return
	}
	if h.eng.Database(db) == nil {
		// Created through another node a moment ago?
		if _, err := h.sync(r); err != nil {
			h.refuseBehind(w, err)
			return
		}
		if h.eng.Database(db) == nil {
			h.httpError(w, http.StatusNotFound, fmt.Sprintf("database not found: %q", db))
			return
		}
	}
	switch mode {
	case authBootstrap:
		h.httpError(w, http.StatusForbidden, fmt.Sprintf("user is required to write to database %q", db))
		return
	case authOn:
		answered, err := h.authorizeFresh(w, r, u, func(u *auth.User) error { return auth.AuthorizeWrite(u, db) })
		if answered {
			return
		}
		if err != nil {
			h.authError(w, err)
			return
		}
	}

	consistency := models.ConsistencyLevelOne
	if level, _ := queryValue(r.URL.RawQuery, "consistency"); level != "" {
		var err error
		if consistency, err = models.ParseConsistencyLevel(level); err != nil {
			h.httpError(w, http.StatusBadRequest, err.Error())
			return
		}
	}

	if h.cfg.MaxBodySize > 0 && r.ContentLength > int64(h.cfg.MaxBodySize) {
		h.httpError(w, http.StatusRequestEntityTooLarge, msgTooLarge)
		return
	}
	buf := getBodyBuf()
	body, err := h.readBody(r, *buf)
	if err != nil {
		putBodyBuf(buf, body)
		if errors.Is(err, errBodyTooLarge) {
			h.httpError(w, http.StatusRequestEntityTooLarge, msgTooLarge)
		} else {
			h.httpError(w, http.StatusBadRequest, err.Error())
		}
		return
	}

	points, parseErr := models.ParsePointsWithPrecision(body, time.Now().UTC(), precision)
	if parseErr != nil && len(points) == 0 {
		putBodyBuf(buf, body)
		h.httpError(w, http.StatusBadRequest, parseErr.Error())
		return
	}
	if len(points) == 0 {
		putBodyBuf(buf, body)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.stats.writeReqBytes.Add(int64(len(body)))
	h.stats.writeReqActive.Add(1)
	err = h.eng.WritePoints(db, rp, consistency, engineUser(u), points)
	h.stats.writeReqActive.Add(-1)
	if err != nil {
		h.stats.pointsWrittenFail.Add(int64(len(points)))
		// The buffer is not reused: a shard write may still be reading the
		// points (see Engine.WritePoints).
		h.writePointsError(w, err)
		return
	}
	h.stats.pointsWrittenOK.Add(int64(len(points)))
	putBodyBuf(buf, body)
	if parseErr != nil {
		h.httpError(w, http.StatusBadRequest, tsdb.PartialWriteError{Reason: parseErr.Error()}.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// RetryLater is implemented by write errors that ask the client to come
// back later (a full hinted-handoff queue): they are answered 503 with
// Retry-After (whole seconds, at least 1).
type RetryLater interface {
	error
	RetryAfter() time.Duration
}

// writePointsError answers a failed WritePoints: 400 for a field type
// conflict or a partial write, 403 for an authorization failure, 503 with
// Retry-After for a RetryLater, 500 otherwise, as InfluxDB does.
func (h *Handler) writePointsError(w *respWriter, err error) {
	var pwe tsdb.PartialWriteError
	var ppwe *tsdb.PartialWriteError
	var later RetryLater
	switch {
	case errors.As(err, &later):
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(later.RetryAfter()), 10))
		h.httpError(w, http.StatusServiceUnavailable, err.Error())
	case influxdb.IsClientError(err), errors.As(err, &pwe), errors.As(err, &ppwe):
		h.httpError(w, http.StatusBadRequest, err.Error())
	case influxdb.IsAuthorizationError(err):
		h.httpError(w, http.StatusForbidden, err.Error())
	default:
		h.httpError(w, http.StatusInternalServerError, err.Error())
	}
}

// acquireWriteSlot waits for one of the MaxConcurrentWriteLimit slots. It
// fails (and answers 503) only when the client goes away while waiting.
func (h *Handler) acquireWriteSlot(w *respWriter, r *http.Request) bool {
	if h.writeSlots == nil {
		return true
	}
	select {
	case h.writeSlots <- struct{}{}:
		return true
	case <-r.Context().Done():
		h.httpError(w, http.StatusServiceUnavailable, "request throttled: client went away while waiting")
		return false
	}
}

func (h *Handler) releaseWriteSlot() {
	if h.writeSlots != nil {
		<-h.writeSlots
	}
}

// msgTooLarge is InfluxDB's 413 message (http.StatusText).
var msgTooLarge = http.StatusText(http.StatusRequestEntityTooLarge)

var errBodyTooLarge = errors.New("httpd: body larger than max-body-size")

// Body buffers. A buffer larger than maxPooledBody is left to the garbage
// collector rather than kept for the next request.
const (
	initialBodyBuf = 64 << 10
	maxPooledBody  = 16 << 20
	// maxPreGrow bounds what a Content-Length alone makes us allocate when
	// there is no MaxBodySize.
	maxPreGrow = 32 << 20
	minRead    = 32 << 10
)

var bodyPool = sync.Pool{New: func() any {
	b := make([]byte, 0, initialBodyBuf)
	return &b
}}

func getBodyBuf() *[]byte { return bodyPool.Get().(*[]byte) }

// putBodyBuf pools b (which grew from *p) for the next request.
func putBodyBuf(p *[]byte, b []byte) {
	if cap(b) > maxPooledBody {
		return
	}
	*p = b[:0]
	bodyPool.Put(p)
}

// readBody reads r's body into dst, decompressing it when it is gzip. The
// result is at most MaxBodySize bytes, after decompression; more gives
// errBodyTooLarge.
func (h *Handler) readBody(r *http.Request, dst []byte) ([]byte, error) {
	dst = dst[:0]
	if r.Body == nil {
		return dst, nil
	}
	var src io.Reader = r.Body
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip") {
		zr, err := getGzipReader(r.Body)
		if err != nil {
			return dst, err
		}
		defer gzipReaderPool.Put(zr)
		src = zr
	} else if n := r.ContentLength; n > 0 && n <= maxPreGrow {
		// One read fills it; the +1 lets the next see EOF without growing.
		dst = slices.Grow(dst, int(n)+1)
	}
	return readLimited(dst, src, h.cfg.MaxBodySize)
}

// readLimited appends what r yields to dst until EOF. With limit > 0 it
// stops with errBodyTooLarge as soon as more than limit bytes have come.
func readLimited(dst []byte, r io.Reader, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, max(minRead, cap(dst)))
		}
		room := dst[len(dst):cap(dst)]
		if limit > 0 && len(dst)+len(room) > limit+1 {
			room = room[:limit+1-len(dst)]
		}
		n, err := r.Read(room)
		dst = dst[:len(dst)+n]
		if limit > 0 && len(dst) > limit {
			return dst, errBodyTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

var gzipReaderPool sync.Pool

// getGzipReader returns a pooled reader of the gzip stream r. Put it back
// into gzipReaderPool when done.
func getGzipReader(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := gzipReaderPool.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			gzipReaderPool.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

// queryValue reads one query parameter without building a map.
var queryValue = auth.QueryValue
