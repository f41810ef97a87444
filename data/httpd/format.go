package httpd

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/query"
)

// format is a response format for query results.
type format struct {
	typ, subtype string
	contentType  []string // shared header value
	csv          bool
}

// formats in order of preference when the client accepts several equally.
// InfluxDB also offers application/x-msgpack; we do not, so such clients get
// JSON, which they can read (they decode by the response's Content-Type).
var formats = []format{
	{typ: "application", subtype: "json", contentType: constHeader("application/json")},
	{typ: "application", subtype: "csv", contentType: constHeader("application/csv"), csv: true},
	{typ: "text", subtype: "csv", contentType: constHeader("text/csv"), csv: true},
}

var hdrGzip = constHeader("gzip")

// negotiate picks the response format from the Accept header values: the
// first format that the highest-q media range matches, JSON by default.
func negotiate(accept []string) format {
	if len(accept) == 0 {
		return formats[0]
	}
	type mediaRange struct {
		typ, subtype string
		q            float64
	}
	var ranges []mediaRange
	for _, header := range accept {
		for part := range strings.SplitSeq(header, ",") {
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			mr := mediaRange{q: 1}
			if mt == "*" {
				mr.typ, mr.subtype = "*", "*"
			} else if t, s, ok := strings.Cut(mt, "/"); ok && !strings.Contains(s, "/") {
				mr.typ, mr.subtype = t, s
			} else {
				continue
			}
			if v, ok := params["q"]; ok {
				mr.q, _ = strconv.ParseFloat(v, 64) // unparsable: 0, tried last
			}
			ranges = append(ranges, mr)
		}
	}
	slices.SortStableFunc(ranges, func(a, b mediaRange) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	for _, mr := range ranges {
		for _, f := range formats {
			if (mr.typ == "*" || mr.typ == f.typ) && (mr.subtype == "*" || mr.subtype == f.subtype) {
				return f
			}
		}
	}
	return formats[0]
}

// resultEncoder writes query results in a response format. A chunked
// response calls encode once per result, with the same encoder.
type resultEncoder interface {
	// encode writes results. It returns only errors from w: a result that
	// cannot be encoded is answered with an error in the body.
	encode(w io.Writer, results []*query.Result) error
}

func (f format) newEncoder(pretty bool) resultEncoder {
	if f.csv {
		return &csvEncoder{stmt: -1}
	}
	return &jsonEncoder{pretty: pretty}
}

// jsonResponse is the body of a JSON response: {"results":[...]} or
// {"error":"..."}, then a newline.
type jsonResponse struct {
	Results []*query.Result `json:"results,omitempty"`
	Err     string          `json:"error,omitempty"`
}

type jsonEncoder struct {
	pretty bool
	buf    bytes.Buffer
}

func (e *jsonEncoder) encode(w io.Writer, results []*query.Result) error {
	e.buf.Reset()
	if err := e.marshal(jsonResponse{Results: results}); err != nil {
		// A value JSON cannot carry (NaN, ±Inf): say which, as InfluxDB
		// does, with the innermost error.
		for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(err) {
			err = u
		}
		e.buf.Reset()
		e.marshal(jsonResponse{Err: err.Error()})
	}
	_, err := w.Write(e.buf.Bytes())
	return err
}

func (e *jsonEncoder) marshal(v jsonResponse) error {
	enc := json.NewEncoder(&e.buf)
	if e.pretty {
		enc.SetIndent("", "    ")
	}
	return enc.Encode(v) // adds the newline
}

// csvEncoder writes results as CSV with the columns name, tags, then the
// series' columns. A header starts each statement, and each change of
// columns within one; a blank line separates them. Results without series
// (including statement errors) print nothing, as in InfluxDB.
type csvEncoder struct {
	stmt   int      // statement of the last header; -1 before the first
	header []string // the series columns of the last header
	record []string // reused: name, tags, values...
}

func (e *csvEncoder) encode(w io.Writer, results []*query.Result) error {
	cw := csv.NewWriter(w)
	for _, res := range results {
		if res.StatementID != e.stmt {
			if len(res.Series) == 0 {
				continue
			}
			if e.stmt >= 0 {
				if err := e.blankLine(cw, w); err != nil {
					return err
				}
			}
			e.stmt = res.StatementID
			if err := e.writeHeader(cw, res.Series[0].Columns); err != nil {
				return err
			}
		}
		for _, row := range res.Series {
			if !slices.Equal(row.Columns, e.header) {
				if err := e.blankLine(cw, w); err != nil {
					return err
				}
				if err := e.writeHeader(cw, row.Columns); err != nil {
					return err
				}
			}
			e.record[0] = row.Name
			e.record[1] = tagsString(row.Tags)
			for _, vals := range row.Values {
				for i := range e.record[2:] {
					e.record[i+2] = ""
					if i < len(vals) {
						e.record[i+2] = csvValue(vals[i])
					}
				}
				if err := cw.Write(e.record); err != nil {
					return err
				}
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func (e *csvEncoder) writeHeader(cw *csv.Writer, columns []string) error {
	e.header = columns
	e.record = append(e.record[:0], "name", "tags")
	e.record = append(e.record, columns...)
	return cw.Write(e.record)
}

func (e *csvEncoder) blankLine(cw *csv.Writer, w io.Writer) error {
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// tagsString is the tags column: k=v pairs sorted by key, comma-separated,
// escaped as in line protocol.
func tagsString(tags map[string]string) string {
	if len(tags) == 0 {
		return ""
	}
	key := models.NewTags(tags).HashKey() // ",k=v,k2=v2"
	if len(key) == 0 {
		return ""
	}
	return string(key[1:])
}

func csvValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return strconv.FormatInt(v.UnixNano(), 10)
	case *float64, *int64, *uint64, *string, *bool:
		return ""
	}
	return fmt.Sprint(v)
}

// gzipWriterPool holds the writers that compress query responses.
var gzipWriterPool = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}

func getGzipWriter(w io.Writer) *gzip.Writer {
	gz := gzipWriterPool.Get().(*gzip.Writer)
	gz.Reset(w)
	return gz
}

// putGzipWriter finishes the gzip stream and pools the writer.
func putGzipWriter(gz *gzip.Writer) {
	gz.Close()
	gz.Reset(io.Discard)
	gzipWriterPool.Put(gz)
}
