package remote

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxql"
)

// The point stream of a remote read: the points of an engine iterator as
// compact records. The engine's own iterator encoding (a protobuf message
// per point, name and tags included) cost about 2 µs per point to encode
// and decode, twice what the rest of a raw query costs; this one sends a
// series' name and tags once, and times as deltas.
//
// Records, each a tag byte then its fields (varints are Go's
// encoding/binary varints; "str" is a uvarint length then the bytes):
//
//	's' series: name str, uvarint n, then n pairs of key str, value str
//	    (sorted by key). The points that follow belong to it.
//	'p' point: flags byte (1 nil, 2 aggregated, 4 aux), varint time delta
//	    from the previous point, the value unless nil (float: 8 bytes
//	    little-endian IEEE 754; integer: varint; unsigned: uvarint;
//	    string: str; boolean: 1 byte), uvarint aggregated if flagged, aux
//	    if flagged: uvarint n, then n values, each a type byte (the
//	    influxql.DataType, with 0x80 set for a typed nil) and the value.
//	't' statistics: uvarint series, uvarint points.
//
// A record never spans two frames: the decoder reads frame by frame.
const (
	recSeries = 's'
	recPoint  = 'p'
	recStats  = 't'

	flagNil  = 1
	flagAgg  = 2
	flagAux  = 4
	auxNil   = 0x80
	maxFrame = frameSize
)

// streamEncoder writes the records of one stream into frames.
type streamEncoder struct {
	w        *frameWriter
	buf      []byte
	tagsID   string
	name     string
	started  bool
	lastTime int64
	next     time.Time
}

func newStreamEncoder(w *frameWriter) *streamEncoder {
	return &streamEncoder{w: w, buf: make([]byte, 0, maxFrame+1024), next: time.Now().Add(statsInterval)}
}

// header writes the series record when the point's series changed, then
// the point's flags and time.
func (e *streamEncoder) header(name string, tags query.Tags, t int64, isNil bool, agg uint32, aux []any) {
	if !e.started || name != e.name || tags.ID() != e.tagsID {
		e.started, e.name, e.tagsID = true, name, tags.ID()
		e.buf = append(e.buf, recSeries)
		e.buf = appendStr(e.buf, name)
		kv := tags.KeyValues()
		keys := make([]string, 0, len(kv))
		for k := range kv {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		e.buf = binary.AppendUvarint(e.buf, uint64(len(keys)))
		for _, k := range keys {
			e.buf = appendStr(appendStr(e.buf, k), kv[k])
		}
	}
	var flags byte
	if isNil {
		flags |= flagNil
	}
	if agg != 0 {
		flags |= flagAgg
	}
	if len(aux) > 0 {
		flags |= flagAux
	}
	e.buf = append(e.buf, recPoint, flags)
	e.buf = binary.AppendVarint(e.buf, t-e.lastTime)
	e.lastTime = t
}

// tail writes what comes after the value, then ends the record.
func (e *streamEncoder) tail(agg uint32, aux []any, stats func() query.IteratorStats) error {
	if agg != 0 {
		e.buf = binary.AppendUvarint(e.buf, uint64(agg))
	}
	if len(aux) > 0 {
		e.buf = binary.AppendUvarint(e.buf, uint64(len(aux)))
		for _, v := range aux {
			e.buf = appendAux(e.buf, v)
		}
	}
	if now := time.Now(); now.After(e.next) {
		e.next = now.Add(statsInterval)
		e.stats(stats())
	}
	return e.flushIfFull()
}

func (e *streamEncoder) stats(s query.IteratorStats) {
	e.buf = append(e.buf, recStats)
	e.buf = binary.AppendUvarint(e.buf, uint64(max(s.SeriesN, 0)))
	e.buf = binary.AppendUvarint(e.buf, uint64(max(s.PointN, 0)))
}

func (e *streamEncoder) flushIfFull() error {
	if len(e.buf) < maxFrame {
		return nil
	}
	return e.flush()
}

// flush sends what is buffered as one points frame.
func (e *streamEncoder) flush() error {
	if len(e.buf) == 0 {
		return nil
	}
	err := e.w.sendPoints(e.buf)
	e.buf = make([]byte, 0, maxFrame+1024) // gRPC may keep the sent one
	return err
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendAux(b []byte, v any) []byte {
	switch v := v.(type) {
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, byte(influxql.Float)), math.Float64bits(v))
	case int64:
		return binary.AppendVarint(append(b, byte(influxql.Integer)), v)
	case uint64:
		return binary.AppendUvarint(append(b, byte(influxql.Unsigned)), v)
	case string:
		return appendStr(append(b, byte(influxql.String)), v)
	case bool:
		return append(b, byte(influxql.Boolean), boolByte(v))
	// A pointer stands for a missing value of its type, as in the engine's
	// encoding.
	case *float64:
		return append(b, byte(influxql.Float)|auxNil)
	case *int64:
		return append(b, byte(influxql.Integer)|auxNil)
	case *uint64:
		return append(b, byte(influxql.Unsigned)|auxNil)
	case *string:
		return append(b, byte(influxql.String)|auxNil)
	case *bool:
		return append(b, byte(influxql.Boolean)|auxNil)
	}
	return append(b, byte(influxql.Unknown))
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// encodeIterator writes every point of itr as a point stream, with the
// iterator's statistics at the start, every statsInterval and at the end.
func encodeIterator(w *frameWriter, itr query.Iterator) error {
	e := newStreamEncoder(w)
	e.stats(itr.Stats())
	var err error
	switch itr := itr.(type) {
	case query.FloatIterator:
		err = encodeEach(itr.Next, func(p *query.FloatPoint) error {
			e.header(p.Name, p.Tags, p.Time, p.Nil, p.Aggregated, p.Aux)
			if !p.Nil {
				e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(p.Value))
			}
			return e.tail(p.Aggregated, p.Aux, itr.Stats)
		})
	case query.IntegerIterator:
		err = encodeEach(itr.Next, func(p *query.IntegerPoint) error {
			e.header(p.Name, p.Tags, p.Time, p.Nil, p.Aggregated, p.Aux)
			if !p.Nil {
				e.buf = binary.AppendVarint(e.buf, p.Value)
			}
			return e.tail(p.Aggregated, p.Aux, itr.Stats)
		})
	case query.UnsignedIterator:
		err = encodeEach(itr.Next, func(p *query.UnsignedPoint) error {
			e.header(p.Name, p.Tags, p.Time, p.Nil, p.Aggregated, p.Aux)
			if !p.Nil {
				e.buf = binary.AppendUvarint(e.buf, p.Value)
			}
			return e.tail(p.Aggregated, p.Aux, itr.Stats)
		})
	case query.StringIterator:
		err = encodeEach(itr.Next, func(p *query.StringPoint) error {
			e.header(p.Name, p.Tags, p.Time, p.Nil, p.Aggregated, p.Aux)
			if !p.Nil {
				e.buf = appendStr(e.buf, p.Value)
			}
			return e.tail(p.Aggregated, p.Aux, itr.Stats)
		})
	case query.BooleanIterator:
		err = encodeEach(itr.Next, func(p *query.BooleanPoint) error {
			e.header(p.Name, p.Tags, p.Time, p.Nil, p.Aggregated, p.Aux)
			if !p.Nil {
				e.buf = append(e.buf, boolByte(p.Value))
			}
			return e.tail(p.Aggregated, p.Aux, itr.Stats)
		})
	default:
		return fmt.Errorf("unsupported iterator %T", itr)
	}
	if err != nil {
		return err
	}
	e.stats(itr.Stats())
	return e.flush()
}

func encodeEach[P any](next func() (*P, error), write func(*P) error) error {
	for {
		p, err := next()
		if err != nil {
			return err
		}
		if p == nil {
			return nil
		}
		if err := write(p); err != nil {
			return err
		}
	}
}

// errBadStream: a point stream that does not decode.
var errBadStream = errors.New("malformed point stream")

// streamDecoder reads the records of a stream from its frames.
type streamDecoder struct {
	r        *frameReader
	cur      []byte
	name     string
	tags     query.Tags
	lastTime int64
	stats    query.IteratorStats
	err      error
}

// point is what a point record holds besides its value, which the caller
// reads next from d.cur.
type pointHead struct {
	name       string
	tags       query.Tags
	time       int64
	isNil      bool
	aggregated bool
	aux        bool
}

// nextPoint moves to the next point record (reading series and stats
// records on the way) and returns its head; ok is false at the end of the
// stream (d.err then tells whether it ended cleanly).
func (d *streamDecoder) nextPoint() (pointHead, bool) {
	for d.err == nil {
		if len(d.cur) == 0 {
			frame, err := d.r.frame()
			if err != nil {
				d.err = err
				break
			}
			d.cur = frame
			continue
		}
		rec := d.cur[0]
		d.cur = d.cur[1:]
		switch rec {
		case recSeries:
			d.readSeries()
		case recStats:
			s, p := d.uvarint(), d.uvarint()
			d.stats = query.IteratorStats{SeriesN: int(s), PointN: int(p)}
		case recPoint:
			if len(d.cur) < 1 {
				d.fail()
				break
			}
			flags := d.cur[0]
			d.cur = d.cur[1:]
			d.lastTime += d.varint()
			return pointHead{name: d.name, tags: d.tags, time: d.lastTime, isNil: flags&flagNil != 0,
				aggregated: flags&flagAgg != 0, aux: flags&flagAux != 0}, d.err == nil
		default:
			d.fail()
		}
	}
	return pointHead{}, false
}

func (d *streamDecoder) readSeries() {
	d.name = d.str()
	n := d.uvarint()
	if n > uint64(len(d.cur)) {
		d.fail()
		return
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	d.tags = query.NewTags(m)
}

// rest reads what follows a point's value: aggregated and aux.
func (d *streamDecoder) rest(h pointHead) (uint32, []any) {
	var agg uint32
	if h.aggregated {
		agg = uint32(d.uvarint())
	}
	if !h.aux {
		return agg, nil
	}
	n := d.uvarint()
	if n > uint64(len(d.cur)) {
		d.fail()
		return 0, nil
	}
	aux := make([]any, n)
	for i := range aux {
		aux[i] = d.auxValue()
	}
	return agg, aux
}

func (d *streamDecoder) auxValue() any {
	if len(d.cur) == 0 {
		d.fail()
		return nil
	}
	t := d.cur[0]
	d.cur = d.cur[1:]
	switch influxql.DataType(t &^ auxNil) {
	case influxql.Float:
		if t&auxNil != 0 {
			return (*float64)(nil)
		}
		return d.float()
	case influxql.Integer:
		if t&auxNil != 0 {
			return (*int64)(nil)
		}
		return d.varint()
	case influxql.Unsigned:
		if t&auxNil != 0 {
			return (*uint64)(nil)
		}
		return d.uvarint()
	case influxql.String:
		if t&auxNil != 0 {
			return (*string)(nil)
		}
		return d.str()
	case influxql.Boolean:
		if t&auxNil != 0 {
			return (*bool)(nil)
		}
		return d.bool()
	}
	return nil
}

func (d *streamDecoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("remote read from data node %d: %w", d.r.node, errBadStream)
	}
	d.cur = nil
}

func (d *streamDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.cur)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.cur = d.cur[n:]
	return v
}

func (d *streamDecoder) varint() int64 {
	v, n := binary.Varint(d.cur)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.cur = d.cur[n:]
	return v
}

func (d *streamDecoder) float() float64 {
	if len(d.cur) < 8 {
		d.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.cur))
	d.cur = d.cur[8:]
	return v
}

func (d *streamDecoder) bool() bool {
	if len(d.cur) < 1 {
		d.fail()
		return false
	}
	v := d.cur[0] != 0
	d.cur = d.cur[1:]
	return v
}

func (d *streamDecoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.cur)) {
		d.fail()
		return ""
	}
	s := string(d.cur[:n])
	d.cur = d.cur[n:]
	return s
}

// end is what Next returns when there is no next point: nil at a clean end,
// the error otherwise.
func (d *streamDecoder) end() error {
	if errors.Is(d.err, errStreamEnd) {
		return nil
	}
	return d.err
}

func (d *streamDecoder) Stats() query.IteratorStats { return d.stats }

func (d *streamDecoder) Close() error { return d.r.Close() }

// newStreamIterator returns the engine iterator of type typ that reads the
// point stream from r.
func newStreamIterator(r *frameReader, typ influxql.DataType) (query.Iterator, error) {
	d := &streamDecoder{r: r}
	switch typ {
	case influxql.Float:
		return &floatStream{d}, nil
	case influxql.Integer:
		return &integerStream{d}, nil
	case influxql.Unsigned:
		return &unsignedStream{d}, nil
	case influxql.String:
		return &stringStream{d}, nil
	case influxql.Boolean:
		return &booleanStream{d}, nil
	}
	return nil, fmt.Errorf("remote read from data node %d: unsupported iterator type %v", r.node, typ)
}

type floatStream struct{ *streamDecoder }

func (s *floatStream) Next() (*query.FloatPoint, error) {
	h, ok := s.nextPoint()
	if !ok {
		return nil, s.end()
	}
	p := &query.FloatPoint{Name: h.name, Tags: h.tags, Time: h.time, Nil: h.isNil}
	if !h.isNil {
		p.Value = s.float()
	}
	p.Aggregated, p.Aux = s.rest(h)
	return p, s.err
}

type integerStream struct{ *streamDecoder }

func (s *integerStream) Next() (*query.IntegerPoint, error) {
	h, ok := s.nextPoint()
	if !ok {
		return nil, s.end()
	}
	p := &query.IntegerPoint{Name: h.name, Tags: h.tags, Time: h.time, Nil: h.isNil}
	if !h.isNil {
		p.Value = s.varint()
	}
	p.Aggregated, p.Aux = s.rest(h)
	return p, s.err
}

type unsignedStream struct{ *streamDecoder }

func (s *unsignedStream) Next() (*query.UnsignedPoint, error) {
	h, ok := s.nextPoint()
	if !ok {
		return nil, s.end()
	}
	p := &query.UnsignedPoint{Name: h.name, Tags: h.tags, Time: h.time, Nil: h.isNil}
	if !h.isNil {
		p.Value = s.uvarint()
	}
	p.Aggregated, p.Aux = s.rest(h)
	return p, s.err
}

type stringStream struct{ *streamDecoder }

func (s *stringStream) Next() (*query.StringPoint, error) {
	h, ok := s.nextPoint()
	if !ok {
		return nil, s.end()
	}
	p := &query.StringPoint{Name: h.name, Tags: h.tags, Time: h.time, Nil: h.isNil}
	if !h.isNil {
		p.Value = s.str()
	}
	p.Aggregated, p.Aux = s.rest(h)
	return p, s.err
}

type booleanStream struct{ *streamDecoder }

func (s *booleanStream) Next() (*query.BooleanPoint, error) {
	h, ok := s.nextPoint()
	if !ok {
		return nil, s.end()
	}
	p := &query.BooleanPoint{Name: h.name, Tags: h.tags, Time: h.time, Nil: h.isNil}
	if !h.isNil {
		p.Value = s.bool()
	}
	p.Aggregated, p.Aux = s.rest(h)
	return p, s.err
}
