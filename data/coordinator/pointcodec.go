package coordinator

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/influxdata/influxdb/models"
)

// The data service carries points as line protocol with nanosecond
// timestamps, one point per line. A receiver parses them with the same
// parser as an HTTP /write, so a peer's bytes are validated exactly like a
// client's (the engine's binary point form is not validated when decoded),
// and a replica costs its owner what a standalone write costs.
//
// What a coordinator accepts, every owner must accept: the line sent for a
// point must parse back to the same point (key, fields, time). Line protocol
// almost always does; where it does not, the coordinator refuses the point
// before any owner writes it (checkEncodable).
//   - The parser skips NUL and tab as white space before the fields, so a
//     client's `m \x00=1` is a point whose first field key is empty; sent on
//     as `m =1`, it is refused ("missing field key"). appendLine puts a tab
//     before such fields: `m \t=1` parses back to the same point.
//   - A point the line cannot carry is refused: the last line of a body,
//     without a timestamp, whose fields end in an unescaped backslash (the
//     backslash would escape the space before the timestamp); a point made
//     by the engine (SELECT INTO) with a newline in its key or a backslash at
//     the end of a name.

// EncodePoints appends points to buf in the data service's encoding. The
// result owns its bytes: it stays valid after the points' buffer is reused.
// Points that checkEncodable refuses must not be given.
func EncodePoints(buf []byte, points []models.Point) []byte {
	for _, p := range points {
		buf = appendLine(buf, p)
	}
	return buf
}

// appendLine appends p's line: its key, a space, its fields (after a tab
// when they begin with an empty field key), a space, its time in
// nanoseconds and a newline.
func appendLine(buf []byte, p models.Point) []byte {
	start := len(buf)
	buf = p.AppendString(buf) // key, ' ', fields, and ' ' time unless the time is zero
	if p.Time().IsZero() {
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, p.UnixNano(), 10)
	}
	if at := start + len(p.Key()) + 1; at < len(buf) && buf[at] == '=' {
		buf = slices.Insert(buf, at, '\t')
	}
	return append(buf, '\n')
}

// DecodePoints parses what EncodePoints produced. Any line that does not
// parse makes the whole batch invalid: a sender never produces one.
func DecodePoints(b []byte) ([]models.Point, error) {
	points, err := models.ParsePointsWithPrecision(b, time.Unix(0, 0), "n")
	if err != nil {
		return nil, fmt.Errorf("data: malformed points from a peer: %w", err)
	}
	return points, nil
}

// checkEncodable reports whether p's line (appendLine) parses back to p at
// its owners; scratch is a buffer it may use, returned for the next call.
//
// A plain line is one without a backslash, tab, NUL or inner newline, and
// whose key starts with neither white space, a comma nor '#' (a comment):
// its key then has no space and ends at the first one, its quotes open and
// close where the sender's parser found them (numbers and booleans hold
// none), and the time follows an unescaped space. Any other line is parsed
// back here and compared.
func checkEncodable(p models.Point, scratch []byte) ([]byte, error) {
	line := appendLine(scratch[:0], p)
	body := line[:len(line)-1]
	if len(body) > 0 && body[0] != ' ' && body[0] != ',' && body[0] != '#' &&
		!bytes.ContainsAny(body, "\\\t\n\x00") {
		return line, nil
	}
	back, err := models.ParsePointsWithPrecision(line, time.Unix(0, 0), "n")
	if err == nil && (len(back) != 1 || !samePoint(p, back[0])) {
		err = fmt.Errorf("it reads back as %d points", len(back))
		if len(back) == 1 {
			err = fmt.Errorf("it reads back as '%s'", back[0].String())
		}
	}
	if err != nil {
		return line, fmt.Errorf("unable to send '%s' to the shard's owners as line protocol: %v", p.String(), err)
	}
	return line, nil
}

// samePoint reports whether a and b have the same key, fields and time.
func samePoint(a, b models.Point) bool {
	return bytes.Equal(a.Key(), b.Key()) && a.UnixNano() == b.UnixNano() &&
		bytes.Equal(pointFields(nil, a), pointFields(nil, b))
}

// pointFields returns p's fields as they are held (escaped, unparsed),
// appended to buf.
func pointFields(buf []byte, p models.Point) []byte {
	start := len(buf)
	buf = p.AppendString(buf)
	end := len(buf)
	if !p.Time().IsZero() {
		end = start + bytes.LastIndexByte(buf[start:], ' ')
	}
	return buf[start+len(p.Key())+1 : end]
}

// EncodablePoints returns the points that checkEncodable accepts (points
// itself when it accepts all), how many it refused and why it refused the
// first.
func EncodablePoints(points []models.Point) ([]models.Point, int, string) {
	var (
		scratch []byte
		kept    []models.Point
		dropped int
		reason  string
	)
	for i, p := range points {
		var err error
		scratch, err = checkEncodable(p, scratch)
		if err == nil {
			if kept != nil {
				kept = append(kept, p)
			}
			continue
		}
		if kept == nil {
			kept = append(make([]models.Point, 0, len(points)-1), points[:i]...)
		}
		if dropped == 0 {
			reason = err.Error()
		}
		dropped++
	}
	if dropped == 0 {
		return points, 0, ""
	}
	return kept, dropped, reason
}
