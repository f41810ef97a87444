package remote

import (
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxql"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/palisade-db/palisade/internal/qlimit"
	"github.com/palisade-db/palisade/proto/datapb"
)

// The wire side of remote reads: sources, iterator options and frames as the
// data service carries them (the points themselves: pointstream.go). The
// options are the engine's own encoding, plus what it lacks: an integer
// fill value.

// sourceToPB is what a remote read carries of m.
func sourceToPB(m *influxql.Measurement) *datapb.Source {
	s := &datapb.Source{Database: m.Database, RetentionPolicy: m.RetentionPolicy, Name: m.Name, SystemIterator: m.SystemIterator}
	if m.Regex != nil {
		s.Regex = m.Regex.Val.String()
	}
	return s
}

// measurementFromPB is the engine's measurement of a received source.
func MeasurementFromPB(s *datapb.Source) (*influxql.Measurement, error) {
	if s == nil {
		return nil, errors.New("no source")
	}
	m := &influxql.Measurement{Database: s.Database, RetentionPolicy: s.RetentionPolicy, Name: s.Name, SystemIterator: s.SystemIterator}
	if s.Regex != "" {
		re, err := regexp.Compile(s.Regex)
		if err != nil {
			return nil, fmt.Errorf("source regex: %w", err)
		}
		m.Regex = &influxql.RegexLiteral{Val: re}
	}
	if m.Name == "" && m.Regex == nil && m.SystemIterator == "" {
		return nil, errors.New("source has no measurement, regex or system iterator")
	}
	return m, nil
}

// EncodeReadOptions encodes opt for a remote read. The engine's encoding
// keeps only float fill values, so an integer one travels on its own; the
// sources (which may hold subqueries, which that encoding cannot carry) are
// left out: the shards read only the one source of the request.
func EncodeReadOptions(opt query.IteratorOptions) ([]byte, *int64, error) {
	opt.Sources = nil
	var fillInt *int64
	if v, ok := opt.FillValue.(int64); ok {
		fillInt = &v
	}
	b, err := opt.MarshalBinary()
	return b, fillInt, err
}

// decodeReadOptions is the inverse of EncodeReadOptions. The options come
// from a peer: their expressions are held to the HTTP API's nesting limit
// before the engine parses them, and their trees after.
func decodeReadOptions(b []byte, fillInt *int64) (query.IteratorOptions, error) {
	if err := optionsTextWithinLimit(b); err != nil {
		return query.IteratorOptions{}, fmt.Errorf("iterator options: %w", err)
	}
	var opt query.IteratorOptions
	if err := opt.UnmarshalBinary(b); err != nil {
		return query.IteratorOptions{}, fmt.Errorf("iterator options: %w", err)
	}
	if qlimit.ExprDeeperThan(opt.Expr, qlimit.MaxNesting) || qlimit.ExprDeeperThan(opt.Condition, qlimit.MaxNesting) {
		return query.IteratorOptions{}, fmt.Errorf("iterator options: %w", qlimit.ErrNestingTooDeep)
	}
	if fillInt != nil {
		opt.FillValue = *fillInt
	}
	return opt, nil
}

// The fields of the engine's encoded IteratorOptions (its
// query/internal.IteratorOptions message) that it parses as InfluxQL.
const (
	optionsExprField      = 1
	optionsConditionField = 8
)

// optionsTextWithinLimit checks the InfluxQL texts of encoded iterator
// options against the nesting limit without parsing them.
func optionsTextWithinLimit(b []byte) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == optionsExprField || num == optionsConditionField) {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			if qlimit.NestsDeeperThan(string(v), qlimit.MaxNesting) {
				return qlimit.ErrNestingTooDeep
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return protowire.ParseError(m)
		}
		b = b[m:]
	}
	return nil
}

// iteratorType is the data type of the points itr yields.
func iteratorType(itr query.Iterator) influxql.DataType {
	switch itr.(type) {
	case query.FloatIterator:
		return influxql.Float
	case query.IntegerIterator:
		return influxql.Integer
	case query.UnsignedIterator:
		return influxql.Unsigned
	case query.StringIterator:
		return influxql.String
	case query.BooleanIterator:
		return influxql.Boolean
	}
	return influxql.Unknown
}

// statsInterval is how often a stream carries the iterator's statistics
// (the engine's default), so that the reader's point and series limits see
// remote work as it happens.
const statsInterval = query.DefaultStatsInterval

// frameSize is about how many bytes a points frame carries (records are not
// split: a frame ends after the record that reaches it).
const frameSize = 64 << 10

// frameWriter sends the frames of a ReadShards stream.
type frameWriter struct {
	send func(*datapb.ReadFrame) error
}

// sendPoints sends b as one points frame. gRPC may keep b until it is on the
// wire: the caller does not reuse it.
func (w *frameWriter) sendPoints(b []byte) error {
	return w.send(&datapb.ReadFrame{Frame: &datapb.ReadFrame_Points{Points: b}})
}

// errStreamEnd: the stream ended with an end frame without an error.
var errStreamEnd = errors.New("end of the point stream")

// frameReader reads the points frames of a ReadShards call. It reports
// errStreamEnd only after an end frame without an error: a stream that
// stops early, or ends with an error, is an error to the reader of the
// points, never a short answer.
// OwnerError is the error a shard owner's engine gave for a read (a type
// conflict, too many series, an unsupported iterator). It reads as the
// engine's message alone, as the same query answers on a single node; Node
// says which owner it came from, for logs. Errors about reaching an owner
// name it instead.
type OwnerError struct {
	Node uint64
	Msg  string
}

func (e *OwnerError) Error() string { return e.Msg }

type frameReader struct {
	recv  func() (*datapb.ReadFrame, error)
	node  uint64
	end   *datapb.ReadEnd
	err   error
	close func()
}

// frame returns the next points frame.
func (r *frameReader) frame() ([]byte, error) {
	for r.err == nil {
		f, err := r.recv()
		switch {
		case err == io.EOF:
			r.err = fmt.Errorf("remote read from data node %d: the stream ended without its end frame", r.node)
		case err != nil:
			r.err = fmt.Errorf("remote read from data node %d: %w", r.node, err)
		case f.GetEnd() != nil:
			r.end = f.GetEnd()
			r.err = errStreamEnd
			if msg := r.end.Error; msg != "" {
				r.err = &OwnerError{Node: r.node, Msg: msg}
			}
		case f.GetPoints() != nil:
			if len(f.GetPoints()) > 0 {
				return f.GetPoints(), nil
			}
		default:
			r.err = fmt.Errorf("remote read from data node %d: unexpected frame after the begin frame", r.node)
		}
	}
	return nil, r.err
}

// Close cancels the stream (the remote iterator stops).
func (r *frameReader) Close() error {
	if r.close != nil {
		r.close()
	}
	return nil
}
