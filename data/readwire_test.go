package data

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/proto/datapb"
)

// unsignedSlice and floatSlice are engine iterators over fixed points.
type unsignedSlice struct {
	pts   []query.UnsignedPoint
	stats query.IteratorStats
}

func (s *unsignedSlice) Next() (*query.UnsignedPoint, error) {
	if len(s.pts) == 0 {
		return nil, nil
	}
	p := s.pts[0]
	s.pts = s.pts[1:]
	return &p, nil
}
func (s *unsignedSlice) Stats() query.IteratorStats { return s.stats }
func (s *unsignedSlice) Close() error               { return nil }

type floatSlice struct {
	pts   []query.FloatPoint
	stats query.IteratorStats
}

func (s *floatSlice) Next() (*query.FloatPoint, error) {
	if len(s.pts) == 0 {
		return nil, nil
	}
	p := s.pts[0]
	s.pts = s.pts[1:]
	return &p, nil
}
func (s *floatSlice) Stats() query.IteratorStats { return s.stats }
func (s *floatSlice) Close() error               { return nil }

// stream encodes itr into frames as ReadShards sends them (without the
// begin frame), ending with end unless end is nil.
func stream(t *testing.T, itr query.Iterator, end *datapb.ReadEnd) []*datapb.ReadFrame {
	t.Helper()
	var frames []*datapb.ReadFrame
	w := &frameWriter{send: func(f *datapb.ReadFrame) error { frames = append(frames, f); return nil }}
	if err := encodeIterator(w, itr); err != nil {
		t.Fatal(err)
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if end != nil {
		frames = append(frames, &datapb.ReadFrame{Frame: &datapb.ReadFrame_End{End: end}})
	}
	return frames
}

func replay(frames []*datapb.ReadFrame) *frameReader {
	return &frameReader{node: 7, recv: func() (*datapb.ReadFrame, error) {
		if len(frames) == 0 {
			return nil, io.EOF
		}
		f := frames[0]
		frames = frames[1:]
		return f, nil
	}}
}

// TestUnsignedIteratorsCrossTheWire: the engine's encoder has no unsigned
// case; ours sends unsigned points, with their statistics, and the
// engine's reader gets them back as they were.
func TestUnsignedIteratorsCrossTheWire(t *testing.T) {
	var pts []query.UnsignedPoint
	for i := range 5000 { // several frames
		pts = append(pts, query.UnsignedPoint{Name: "m", Tags: query.NewTags(map[string]string{"host": "a"}),
			Time: int64(i), Value: 1<<63 + uint64(i), Aggregated: uint32(i % 3)})
	}
	src := &unsignedSlice{pts: append([]query.UnsignedPoint(nil), pts...), stats: query.IteratorStats{SeriesN: 1, PointN: 5000}}
	if iteratorType(src) != influxql.Unsigned {
		t.Fatalf("type %v", iteratorType(src))
	}
	frames := stream(t, src, &datapb.ReadEnd{})
	if len(frames) < 3 {
		t.Fatalf("%d frames: want the points cut into several", len(frames))
	}
	itr := query.NewReaderIterator(context.Background(), replay(frames), influxql.Unsigned, query.IteratorStats{}).(query.UnsignedIterator)
	for i := 0; ; i++ {
		p, err := itr.Next()
		if err != nil {
			t.Fatal(err)
		}
		if p == nil {
			if i != len(pts) {
				t.Fatalf("%d points, want %d", i, len(pts))
			}
			break
		}
		w := pts[i]
		if p.Name != w.Name || p.Time != w.Time || p.Value != w.Value || p.Aggregated != w.Aggregated || p.Tags.ID() != w.Tags.ID() {
			t.Fatalf("point %d: %+v, want %+v", i, p, w)
		}
	}
	if st := itr.Stats(); st.SeriesN != 1 || st.PointN != 5000 {
		t.Errorf("stats %+v", st)
	}
}

// TestBrokenStreamsAreErrors: a stream that stops without its end frame,
// or ends with an error, fails the reader: never a short answer.
func TestBrokenStreamsAreErrors(t *testing.T) {
	points := func() []query.FloatPoint {
		var pts []query.FloatPoint
		for i := range 3000 {
			pts = append(pts, query.FloatPoint{Name: "m", Time: int64(i), Value: float64(i)})
		}
		return pts
	}
	read := func(frames []*datapb.ReadFrame) (int, error) {
		itr := query.NewReaderIterator(context.Background(), replay(frames), influxql.Float, query.IteratorStats{}).(query.FloatIterator)
		n := 0
		for {
			p, err := itr.Next()
			if err != nil || p == nil {
				return n, err
			}
			n++
		}
	}
	whole := stream(t, &floatSlice{pts: points()}, &datapb.ReadEnd{})
	if n, err := read(whole); err != nil || n != 3000 {
		t.Fatalf("whole stream: %d points, %v", n, err)
	}
	noEnd := stream(t, &floatSlice{pts: points()}, nil)
	if _, err := read(noEnd); err == nil || !strings.Contains(err.Error(), "without its end frame") {
		t.Errorf("no end frame: %v", err)
	}
	// Cut after the first frame: the points stop mid-way.
	if _, err := read(noEnd[:1]); err == nil {
		t.Error("a stream cut after its first frame read as complete")
	}
	failed := stream(t, &floatSlice{pts: points()}, &datapb.ReadEnd{Error: "engine says no"})
	if _, err := read(failed); err == nil || !strings.Contains(err.Error(), "data node 7: engine says no") {
		t.Errorf("end frame with an error: %v", err)
	}
}

// TestReadOptionsKeepIntegerFill: the engine's options encoding drops an
// integer fill value and panics on subquery sources; ours keeps the one
// and leaves the other out.
func TestReadOptionsKeepIntegerFill(t *testing.T) {
	sub := &influxql.SubQuery{Statement: &influxql.SelectStatement{}}
	opt := query.IteratorOptions{Fill: influxql.NumberFill, FillValue: int64(-3), StartTime: 1, EndTime: 2,
		Sources: influxql.Sources{sub, &influxql.Measurement{Name: "cpu"}}}
	b, fillInt, err := encodeReadOptions(opt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeReadOptions(b, fillInt)
	if err != nil {
		t.Fatal(err)
	}
	if got.FillValue != int64(-3) || got.Fill != influxql.NumberFill || got.StartTime != 1 || got.EndTime != 2 {
		t.Errorf("decoded %+v", got)
	}
	if _, err := decodeReadOptions([]byte("not options"), nil); err == nil {
		t.Error("garbage options decoded")
	}
}
