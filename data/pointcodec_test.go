package data

import (
	"bytes"
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
	enc := encodePoints(nil, points)
	out, err := decodePoints(enc)
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
	if _, err := decodePoints([]byte("cpu v=\n")); err == nil {
		t.Error("a malformed line decoded")
	}
}

// FuzzWriteShardRequest feeds the data service's decoding (the request,
// then its points) arbitrary bytes: it must never panic, and what decodes
// must encode back to points that decode the same.
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
		points, err := decodePoints(req.Points)
		if err != nil {
			return
		}
		again, err := decodePoints(encodePoints(nil, points))
		if err != nil {
			t.Fatalf("re-encoded points do not decode: %v", err)
		}
		if len(again) != len(points) {
			t.Fatalf("%d points after a round trip, want %d", len(again), len(points))
		}
		for i := range points {
			if !bytes.Equal(points[i].Key(), again[i].Key()) || points[i].UnixNano() != again[i].UnixNano() {
				t.Fatalf("point %d changed: %q → %q", i, points[i].String(), again[i].String())
			}
		}
	})
}
