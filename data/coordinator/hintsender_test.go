package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/data/hh"
	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/proto/datapb"
)

var _ hh.BatchSender = hintSender{}

// fakeShardWrites is the transport of a hintSender under test: it records
// every request and answers with refuse's error (nil: accepted).
type fakeShardWrites struct {
	reqs   []*datapb.WriteShardRequest
	refuse func(req *datapb.WriteShardRequest) error
}

func (f *fakeShardWrites) writeShard(ctx context.Context, _ uint64, req *datapb.WriteShardRequest) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("request without a deadline")
	}
	f.reqs = append(f.reqs, proto.CloneOf(req))
	if f.refuse != nil {
		return f.refuse(req)
	}
	return nil
}

// summary lists the requests as "shard:points@index".
func (f *fakeShardWrites) summary() []string {
	var out []string
	for _, r := range f.reqs {
		out = append(out, fmt.Sprintf("%d:%s@%d", r.ShardId, strings.ReplaceAll(string(r.Points), "\n", ";"), r.MetaIndex))
	}
	return out
}

// hint returns a record holding a WriteShardRequest for shard of db.rp
// whose points are the lines given.
func hint(t *testing.T, shard uint64, db, rp string, metaIndex uint64, lines ...string) hh.Record {
	t.Helper()
	var pts []byte
	for _, l := range lines {
		pts = append(pts, l+"\n"...)
	}
	b, err := proto.Marshal(&datapb.WriteShardRequest{
		ShardId: shard, Database: db, RetentionPolicy: rp, Points: pts, MetaIndex: metaIndex, SenderNodeId: 9,
	})
	if err != nil {
		t.Fatal(err)
	}
	return hh.Record{ShardID: shard, Payload: b}
}

func checkRequests(t *testing.T, f *fakeShardWrites, want ...string) {
	t.Helper()
	got := f.summary()
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		t.Errorf("requests:\n got %q\nwant %q", got, want)
	}
}

func TestHintSenderMergesConsecutiveRecordsOfOneShard(t *testing.T) {
	f := &fakeShardWrites{}
	s := hintSender{writeShard: f.writeShard}
	recs := []hh.Record{
		hint(t, 1, "db", "rp", 5, "a", "b"),
		hint(t, 1, "db", "rp", 7, "c"),
		hint(t, 1, "db", "rp", 6, "d"),
		hint(t, 2, "db", "rp", 3, "e"),     // another shard
		hint(t, 2, "db", "other", 3, "f"),  // another retention policy
		hint(t, 2, "db2", "other", 3, "g"), // another database
		hint(t, 1, "db", "rp", 8, "h"),     // shard 1 again: not merged with the first run
	}
	n, err := s.SendBatch(context.Background(), 4, recs)
	if n != len(recs) || err != nil {
		t.Fatalf("SendBatch = %d, %v", n, err)
	}
	checkRequests(t, f, "1:a;b;c;d;@7", "2:e;@3", "2:f;@3", "2:g;@3", "1:h;@8")
	if r := f.reqs[0]; r.Database != "db" || r.RetentionPolicy != "rp" || r.SenderNodeId != 9 {
		t.Errorf("merged request: %v", r)
	}
}

func TestHintSenderBoundsRequestSize(t *testing.T) {
	f := &fakeShardWrites{}
	s := hintSender{writeShard: f.writeShard}
	line := strings.Repeat("x", 1_500_000)
	var recs []hh.Record
	for range 5 {
		recs = append(recs, hint(t, 1, "db", "rp", 1, line))
	}
	recs = append(recs, hint(t, 1, "db", "rp", 1, strings.Repeat("y", 5<<20))) // larger than a request: alone
	n, err := s.SendBatch(context.Background(), 4, recs)
	if n != len(recs) || err != nil {
		t.Fatalf("SendBatch = %d, %v", n, err)
	}
	var sizes []int
	for _, r := range f.reqs {
		sizes = append(sizes, len(r.Points))
		if len(r.Points) > maxHintRequestPoints && len(r.Points) != 5<<20+1 {
			t.Errorf("a request of %d bytes of points", len(r.Points))
		}
	}
	if want := []int{3_000_002, 3_000_002, 1_500_001, 5<<20 + 1}; fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Errorf("request sizes %v, want %v", sizes, want)
	}
}

// A record whose points do not end with a newline cannot glue its last
// line to the next record's first.
func TestHintSenderSeparatesRecordsByNewline(t *testing.T) {
	f := &fakeShardWrites{}
	s := hintSender{writeShard: f.writeShard}
	b, _ := proto.Marshal(&datapb.WriteShardRequest{ShardId: 1, Database: "db", RetentionPolicy: "rp", Points: []byte("a")})
	recs := []hh.Record{{ShardID: 1, Payload: b}, hint(t, 1, "db", "rp", 0, "b")}
	if n, err := s.SendBatch(context.Background(), 4, recs); n != 2 || err != nil {
		t.Fatalf("SendBatch = %d, %v", n, err)
	}
	if !bytes.Equal(f.reqs[0].Points, []byte("a\nb\n")) {
		t.Errorf("points %q", f.reqs[0].Points)
	}
}

func TestHintSenderErrors(t *testing.T) {
	notFound := status.Error(codes.NotFound, "shard 2 does not exist")
	unavailable := status.Error(codes.Unavailable, "down")
	badPoints := status.Error(codes.InvalidArgument, "field type conflict")
	three := func(t *testing.T) []hh.Record {
		return []hh.Record{
			hint(t, 1, "db", "rp", 1, "a"),
			hint(t, 2, "db", "rp", 1, "b"), hint(t, 2, "db", "rp", 1, "c"), hint(t, 2, "db", "rp", 1, "d"),
			hint(t, 3, "db", "rp", 1, "e"),
		}
	}
	for _, tt := range []struct {
		name      string
		recs      func(t *testing.T) []hh.Record
		refuse    func(req *datapb.WriteShardRequest) error
		delivered int
		permanent bool
		err       error
		requests  []string
	}{
		{
			name: "transient error: the records before the run are delivered",
			recs: three,
			refuse: func(r *datapb.WriteShardRequest) error {
				if r.ShardId == 2 {
					return unavailable
				}
				return nil
			},
			delivered: 1, err: unavailable,
			requests: []string{"1:a;@1", "2:b;c;d;@1"},
		},
		{
			name: "shard refused: permanent for the run's first record",
			recs: three,
			refuse: func(r *datapb.WriteShardRequest) error {
				if r.ShardId == 2 {
					return notFound
				}
				return nil
			},
			delivered: 1, permanent: true, err: notFound,
			requests: []string{"1:a;@1", "2:b;c;d;@1"},
		},
		{
			name: "points refused: the run is sent again one record at a time",
			recs: three,
			refuse: func(r *datapb.WriteShardRequest) error {
				if bytes.Contains(r.Points, []byte("c")) {
					return badPoints
				}
				return nil
			},
			delivered: 2, permanent: true, err: badPoints,
			requests: []string{"1:a;@1", "2:b;c;d;@1", "2:b;@1", "2:c;@1"},
		},
		{
			name: "points refused together, accepted alone: all delivered",
			recs: three,
			refuse: func(r *datapb.WriteShardRequest) error {
				if bytes.Count(r.Points, []byte("\n")) > 1 {
					return badPoints
				}
				return nil
			},
			delivered: 5,
			requests:  []string{"1:a;@1", "2:b;c;d;@1", "2:b;@1", "2:c;@1", "2:d;@1", "3:e;@1"},
		},
		{
			name: "undecodable record: the records before it are sent",
			recs: func(t *testing.T) []hh.Record {
				r := three(t)
				r[2].Payload = []byte{0xff, 0xff}
				return r
			},
			delivered: 2, permanent: true,
			requests: []string{"1:a;@1", "2:b;@1"},
		},
		{
			// Not permanent: this node's state may be empty or behind; the
			// purge removes the queue of a node that really left.
			name:      "node missing from this node's meta state",
			recs:      three,
			refuse:    func(*datapb.WriteShardRequest) error { return fmt.Errorf("%w: 4", peer.ErrUnknownNode) },
			delivered: 0, permanent: false, err: peer.ErrUnknownNode,
			requests: []string{"1:a;@1"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeShardWrites{refuse: tt.refuse}
			s := hintSender{writeShard: f.writeShard}
			n, err := s.SendBatch(context.Background(), 4, tt.recs(t))
			if n != tt.delivered || (err == nil) != (tt.delivered == 5) || hh.IsPermanent(err) != tt.permanent ||
				(tt.err != nil && !errors.Is(err, tt.err)) {
				t.Errorf("SendBatch = %d, %v; want %d, permanent %v, %v", n, err, tt.delivered, tt.permanent, tt.err)
			}
			checkRequests(t, f, tt.requests...)
		})
	}
}

// Send keeps its one-record behaviour: permanent refusals are marked.
func TestHintSenderSend(t *testing.T) {
	f := &fakeShardWrites{refuse: func(*datapb.WriteShardRequest) error {
		return status.Error(codes.FailedPrecondition, "not an owner")
	}}
	s := hintSender{writeShard: f.writeShard}
	if err := s.Send(context.Background(), 4, hint(t, 1, "db", "rp", 2, "a")); !hh.IsPermanent(err) {
		t.Errorf("Send = %v, want a permanent error", err)
	}
	if err := s.Send(context.Background(), 4, hh.Record{Payload: []byte{0xff}}); !hh.IsPermanent(err) {
		t.Errorf("Send of an undecodable record = %v, want a permanent error", err)
	}
	checkRequests(t, f, "1:a;@2")
}
