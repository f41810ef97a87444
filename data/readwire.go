package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxql"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/palisade-db/palisade/proto/datapb"
)

// The wire side of remote reads: sources, iterator options and iterators as
// the data service carries them. Everything here is the engine's own
// encoding, except for the two things that encoding lacks: an integer fill
// value and unsigned iterators.

// sourceToPB is what a remote read carries of m.
func sourceToPB(m *influxql.Measurement) *datapb.Source {
	s := &datapb.Source{Database: m.Database, RetentionPolicy: m.RetentionPolicy, Name: m.Name, SystemIterator: m.SystemIterator}
	if m.Regex != nil {
		s.Regex = m.Regex.Val.String()
	}
	return s
}

// measurementFromPB is the engine's measurement of a received source.
func measurementFromPB(s *datapb.Source) (*influxql.Measurement, error) {
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

// encodeReadOptions encodes opt for a remote read. The engine's encoding
// keeps only float fill values, so an integer one travels on its own; the
// sources (which may hold subqueries, which that encoding cannot carry) are
// left out: the shards read only the one source of the request.
func encodeReadOptions(opt query.IteratorOptions) ([]byte, *int64, error) {
	opt.Sources = nil
	var fillInt *int64
	if v, ok := opt.FillValue.(int64); ok {
		fillInt = &v
	}
	b, err := opt.MarshalBinary()
	return b, fillInt, err
}

// decodeReadOptions is the inverse of encodeReadOptions.
func decodeReadOptions(b []byte, fillInt *int64) (query.IteratorOptions, error) {
	var opt query.IteratorOptions
	if err := opt.UnmarshalBinary(b); err != nil {
		return query.IteratorOptions{}, fmt.Errorf("iterator options: %w", err)
	}
	if fillInt != nil {
		opt.FillValue = *fillInt
	}
	return opt, nil
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

// encodeIterator writes every point of itr to w in the engine's iterator
// encoding, with its statistics at the start, every statsInterval and at the
// end. The engine's encoder has no case for unsigned iterators: those are
// written here (unsignedEncoder).
func encodeIterator(w io.Writer, itr query.Iterator) error {
	u, ok := itr.(query.UnsignedIterator)
	if !ok {
		enc := query.NewIteratorEncoder(w)
		enc.StatsInterval = statsInterval
		return enc.EncodeIterator(itr)
	}
	if err := encodeStats(w, u.Stats()); err != nil {
		return err
	}
	penc := &unsignedEncoder{w: w}
	next := time.Now().Add(statsInterval)
	for {
		p, err := u.Next()
		if err != nil {
			return err
		}
		if p == nil {
			break
		}
		if err := penc.encode(p); err != nil {
			return err
		}
		if now := time.Now(); now.After(next) {
			next = now.Add(statsInterval)
			if err := encodeStats(w, u.Stats()); err != nil {
				return err
			}
		}
	}
	return encodeStats(w, u.Stats())
}

// unsignedEncoder writes unsigned points as the engine's decoder reads
// them. The engine's own unsigned point encoder (v1.10) leaves the value
// out, so every point would arrive as 0: the record it writes (a 4-byte
// big-endian length, then the protobuf point) gets the value appended as
// field 12 (UnsignedValue), which protobuf reads as part of the message.
type unsignedEncoder struct {
	w   io.Writer
	buf bytes.Buffer
	out []byte
}

// unsignedValueField is the field number of UnsignedValue in the engine's
// point message (query/internal/internal.proto).
const unsignedValueField = 12

func (e *unsignedEncoder) encode(p *query.UnsignedPoint) error {
	e.buf.Reset()
	if err := query.NewUnsignedPointEncoder(&e.buf).EncodeUnsignedPoint(p); err != nil {
		return err
	}
	msg := e.buf.Bytes()[4:]
	if !p.Nil {
		msg = protowire.AppendTag(msg, unsignedValueField, protowire.VarintType)
		msg = protowire.AppendVarint(msg, p.Value)
	}
	e.out = binary.BigEndian.AppendUint32(e.out[:0], uint32(len(msg)))
	e.out = append(e.out, msg...)
	_, err := e.w.Write(e.out)
	return err
}

// encodeStats writes a statistics record (which every point decoder reads
// whatever the stream's type) through the engine's encoder, by encoding an
// iterator that has only statistics.
func encodeStats(w io.Writer, stats query.IteratorStats) error {
	return query.NewIteratorEncoder(w).EncodeIterator(statsOnly{stats})
}

// statsOnly is a float iterator with no points.
type statsOnly struct{ stats query.IteratorStats }

func (s statsOnly) Next() (*query.FloatPoint, error) { return nil, nil }
func (s statsOnly) Stats() query.IteratorStats       { return s.stats }
func (s statsOnly) Close() error                     { return nil }

// frameSize is how many encoded bytes a points frame carries at most.
const frameSize = 64 << 10

// frameWriter cuts an encoded stream into points frames of frameSize.
type frameWriter struct {
	send func(*datapb.ReadFrame) error
	buf  []byte
}

func (w *frameWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = make([]byte, 0, frameSize)
		}
		k := min(len(p), frameSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == frameSize {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush sends what is buffered. A frame's bytes go to gRPC, which may keep
// them until they are on the wire: a new buffer is used afterwards.
func (w *frameWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(&datapb.ReadFrame{Frame: &datapb.ReadFrame_Points{Points: w.buf}})
	w.buf = nil
	return err
}

// frameReader reads the encoded stream of a ReadShards call back from its
// frames. It returns io.EOF only after an end frame without an error: a
// stream that stops early, or ends with an error, is an error to the
// reader of the points, never a short answer.
type frameReader struct {
	recv  func() (*datapb.ReadFrame, error)
	node  uint64
	cur   []byte
	end   *datapb.ReadEnd
	err   error
	close func()
}

func (r *frameReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		f, err := r.recv()
		switch {
		case err == io.EOF:
			r.err = fmt.Errorf("remote read from data node %d: the stream ended without its end frame", r.node)
		case err != nil:
			r.err = fmt.Errorf("remote read from data node %d: %w", r.node, err)
		case f.GetEnd() != nil:
			r.end = f.GetEnd()
			r.err = io.EOF
			if msg := r.end.Error; msg != "" {
				r.err = fmt.Errorf("data node %d: %s", r.node, msg)
			}
		case f.GetPoints() != nil:
			r.cur = f.GetPoints()
		default:
			r.err = fmt.Errorf("remote read from data node %d: unexpected frame after the begin frame", r.node)
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close cancels the stream (the remote iterator stops).
func (r *frameReader) Close() error {
	if r.close != nil {
		r.close()
	}
	return nil
}
