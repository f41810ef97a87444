package coordinator

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb/models"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/datapb"
)

func TestPointsRoundTrip(t *testing.T) {
	in := "cpu,host=a,region=eu\\ west v=1.5,s=\"x y\",b=true,i=-3i 1700000000000000001\n" +
		"mem u=7i 0\n" +
		"weird\\,name,k\\=1=v\\ 2 f=1 -1\n"
	points, err := models.ParsePointsWithPrecision([]byte(in), time.Unix(0, 0), "n")
	if err != nil {
		t.Fatal(err)
	}
	enc := EncodePoints(nil, points)
	out, err := DecodePoints(enc)
	if err != nil {
		t.Fatalf("decoding %q: %v", enc, err)
	}
	if len(out) != len(points) {
		t.Fatalf("%d points back, want %d", len(out), len(points))
	}
	for i := range points {
		if points[i].String() != out[i].String() || points[i].UnixNano() != out[i].UnixNano() {
			t.Errorf("point %d: %q, want %q", i, out[i].String(), points[i].String())
		}
	}
	if _, err := DecodePoints([]byte("cpu v=\n")); err == nil {
		t.Error("a malformed line decoded")
	}
}

// TestEmptyFieldKeyReachesOwners (issue 17, point 7; found by
// FuzzWriteShardRequest): `0000000000 \x00=000` is a point whose field key
// is empty (the parser skips the NUL as white space), which influxd 1.6.7
// stores. It was sent to the other owners as `0000000000 =000`, which they
// refuse ("missing field key"), for good.
func TestEmptyFieldKeyReachesOwners(t *testing.T) {
	for _, line := range []string{"0000000000 \x00=000", "m \t=1i,b=true 5", "m,t=a \x00=\"s\",f=1 -5"} {
		points, err := models.ParsePointsWithPrecision([]byte(line), time.Unix(0, 0), "n")
		if err != nil || len(points) != 1 {
			t.Fatalf("%q: %v", line, err)
		}
		if _, err := checkEncodable(points[0], nil); err != nil {
			t.Fatalf("%q refused: %v", line, err)
		}
		enc := EncodePoints(nil, points)
		back, err := DecodePoints(enc)
		if err != nil || len(back) != 1 || !samePoint(points[0], back[0]) {
			t.Fatalf("%q sent as %q: %v %v", line, enc, back, err)
		}
	}
}

// TestPointsTheLineCannotCarryAreRefused: a point whose line would read
// back differently is refused at the coordinator, and only such a point.
// The engine makes some (SELECT INTO names ending in a backslash or holding
// a newline), line protocol one: the last line of a body, without a
// timestamp, whose fields end in a backslash.
func TestPointsTheLineCannotCarryAreRefused(t *testing.T) {
	at := time.Unix(0, 1700000000000000000)
	mk := func(name string, tags map[string]string, fields models.Fields) models.Point {
		p, err := models.NewPoint(name, models.NewTags(tags), fields, at)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	last, err := models.ParsePointsWithPrecision([]byte(`m s="x"\`), at, "n")
	if err != nil {
		t.Fatal(err)
	}
	good := []models.Point{
		mk("cpu", map[string]string{"host": "a b,c=d"}, models.Fields{"v": 1.5, "s": `q"\`, "i": int64(-3), "b": true}),
		mk("m", nil, models.Fields{"s": "a\nb"}),
		mk("é☃", map[string]string{"t\x00": "\x00"}, models.Fields{"f\x00": 2.0}),
	}
	bad := []models.Point{
		mk(`ends\`, nil, models.Fields{"v": 1.0}),
		mk("cpu", map[string]string{"host": "a\nb"}, models.Fields{"v": 1.0}),
		mk("m\nx", nil, models.Fields{"v": 1.0}),
		mk("cpu", map[string]string{"host": `a\`}, models.Fields{"v": 1.0}),
		mk("cpu", nil, models.Fields{`v\`: 1.0}),
		mk("#comment", nil, models.Fields{"v": 1.0}),
		last[0],
	}
	for _, p := range good {
		if _, err := checkEncodable(p, nil); err != nil {
			t.Errorf("%q refused: %v", p.String(), err)
		}
	}
	for _, p := range bad {
		_, err := checkEncodable(p, nil)
		if err == nil {
			t.Errorf("%q accepted", p.String())
			continue
		}
		// The refusal is deserved: its line reads back as something else.
		back, derr := DecodePoints(appendLine(nil, p))
		if derr == nil && len(back) == 1 && samePoint(p, back[0]) {
			t.Errorf("%q refused (%v), but its line reads back the same", p.String(), err)
		}
	}
	all := append(append([]models.Point{}, good...), bad...)
	kept, dropped, reason := EncodablePoints(all)
	if dropped != len(bad) || len(kept) != len(good) || !strings.HasPrefix(reason, "unable to send 'ends\\ v=1 ") {
		t.Fatalf("kept %d, dropped %d (%s), want %d and %d", len(kept), dropped, reason, len(good), len(bad))
	}
	back, err := DecodePoints(EncodePoints(nil, kept))
	if err != nil || len(back) != len(good) {
		t.Fatalf("the points kept: %v %v", back, err)
	}
	for i := range good {
		if !samePoint(good[i], back[i]) {
			t.Errorf("%q read back as %q", good[i].String(), back[i].String())
		}
	}
	if k, d, _ := EncodablePoints(good); d != 0 || &k[0] != &good[0] {
		t.Error("with nothing to refuse, the points are not given back as they are")
	}
}

// FuzzWriteShardRequest feeds the data service's decoding (the request,
// then its points) arbitrary bytes: it must never panic, and what decodes
// must be sent on (EncodePoints) as lines that decode to the same points,
// unless the coordinator refuses them (checkEncodable): line protocol
// parses such a point only from the last line of a body without a
// timestamp, whose fields end in an unescaped backslash.
// testdata/fuzz/FuzzWriteShardRequest holds what it found (issue 17).
func FuzzWriteShardRequest(f *testing.F) {
	good, _ := proto.Marshal(&datapb.WriteShardRequest{ShardId: 3, Database: "db", RetentionPolicy: "rp",
		Points: []byte("cpu,host=a v=1 1\nmem v=2i 2\n"), MetaIndex: 9})
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("\x22\x05cpu v"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req datapb.WriteShardRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		points, err := DecodePoints(req.Points)
		if err != nil {
			return
		}
		var sendable []models.Point
		for _, p := range points {
			if _, err := checkEncodable(p, nil); err != nil {
				fields := pointFields(nil, p)
				if n := len(fields) - len(bytes.TrimRight(fields, `\`)); n%2 == 0 || p.UnixNano() != 0 {
					t.Fatalf("%q refused: %v", p.String(), err)
				}
				continue
			}
			sendable = append(sendable, p)
		}
		enc := EncodePoints(nil, sendable)
		again, err := DecodePoints(enc)
		if err != nil {
			t.Fatalf("re-encoded points do not decode: %v", err)
		}
		if len(again) != len(sendable) {
			t.Fatalf("%d points after a round trip, want %d (%q)", len(again), len(sendable), enc)
		}
		for i := range sendable {
			if !samePoint(sendable[i], again[i]) {
				t.Fatalf("point %d changed: %q → %q", i, sendable[i].String(), again[i].String())
			}
		}
	})
}

// BenchmarkEncodablePoints is the coordinator's check that every point's
// line parses back to it (issue 17, point 7), on the Telegraf shape of
// BenchmarkWriteTelegraf (5,000 points, five float fields, no escapes: the
// fast path), next to encoding the same points for an owner.
func BenchmarkEncodablePoints(b *testing.B) {
	var sb strings.Builder
	for s := range 5000 {
		f := float64(s%97) + 0.25
		fmt.Fprintf(&sb, "cpu,host=host-%05d,region=us-east-1 usage_user=%.4f,usage_system=%.4f,usage_idle=%.4f,usage_iowait=%.4f,usage_steal=%.4f %d\n",
			s, f/2, f/5, 100-f, f/40, f/300, 1_700_000_000_000_000_000)
	}
	points, err := models.ParsePoints([]byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, n, _ := EncodablePoints(points); n != 0 {
				b.Fatal("refused a point")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(points)), "ns/point")
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = EncodePoints(buf[:0], points)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(points)), "ns/point")
	})
}
