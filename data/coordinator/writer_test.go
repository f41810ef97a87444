package coordinator

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/tsdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/data/httpd"
)

func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		cl     models.ConsistencyLevel
		owners int
		want   int
	}{
		{models.ConsistencyLevelAny, 3, 1}, {models.ConsistencyLevelOne, 3, 1},
		{models.ConsistencyLevelQuorum, 1, 1}, {models.ConsistencyLevelQuorum, 2, 2}, {models.ConsistencyLevelQuorum, 3, 2},
		{models.ConsistencyLevelQuorum, 4, 3}, {models.ConsistencyLevelQuorum, 5, 3},
		{models.ConsistencyLevelAll, 1, 1}, {models.ConsistencyLevelAll, 3, 3},
	} {
		if got := required(tc.cl, tc.owners); got != tc.want {
			t.Errorf("required(%s, %d) = %d, want %d", consistencyName(tc.cl), tc.owners, got, tc.want)
		}
	}
}

// TestCollect checks how owner outcomes turn into a write's answer for each
// consistency level.
func TestCollect(t *testing.T) {
	w := &Writer{}
	ack := ownerResult{acked: true}
	hinted := ownerResult{hinted: true, err: status.Error(codes.Unavailable, "down")}
	late := ownerResult{hinted: true, timed: true, err: status.Error(codes.DeadlineExceeded, "slow")}
	refused := ownerResult{err: status.Error(codes.FailedPrecondition, "not an owner")}
	full := ownerResult{lost: true, err: fmt.Errorf("%w for data node 3", ErrHintedHandoffFull)}
	// Issue 17, point 9: queueing failed otherwise (an I/O error).
	broken := ownerResult{node: 3, lost: true, err: errors.New("hh: appending to node 3's queue: input/output error")}
	for _, tc := range []struct {
		name     string
		cl       models.ConsistencyLevel
		results  []ownerResult
		localErr error
		want     string // "" = success; else the answer's prefix
		want503  bool
	}{
		{"one: one ack", models.ConsistencyLevelOne, []ownerResult{ack, hinted}, nil, "", false},
		{"one: only a hint", models.ConsistencyLevelOne, []ownerResult{hinted, hinted}, nil, "partial write", false},
		{"any: only a hint", models.ConsistencyLevelAny, []ownerResult{hinted, hinted}, nil, "", false},
		{"any: nothing durable", models.ConsistencyLevelAny, []ownerResult{refused, refused}, nil, "write failed", false},
		{"quorum of 3: two acks", models.ConsistencyLevelQuorum, []ownerResult{ack, hinted, ack}, nil, "", false},
		{"quorum of 3: one ack", models.ConsistencyLevelQuorum, []ownerResult{ack, hinted, hinted}, nil, "partial write", false},
		{"quorum of 3: one ack, one refusal", models.ConsistencyLevelQuorum, []ownerResult{ack, refused, hinted}, nil, "partial write", false},
		{"all: one hinted", models.ConsistencyLevelAll, []ownerResult{ack, hinted}, nil, "partial write", false},
		{"all: one late", models.ConsistencyLevelAll, []ownerResult{ack, late}, nil, "timeout", false},
		{"all: every owner acks", models.ConsistencyLevelAll, []ownerResult{ack, ack, ack}, nil, "", false},
		{"one: refusals only", models.ConsistencyLevelOne, []ownerResult{refused, refused}, nil, "write failed", false},
		{"one: a full queue beats an ack", models.ConsistencyLevelOne, []ownerResult{full, ack}, nil, "shard 7", true},
		// Issue 17, point 9: an owner that gets the points neither directly
		// nor queued fails the write whatever the level, even once it is met
		// (outcomes already in count), and even for any.
		{"any: a full queue beats an ack", models.ConsistencyLevelAny, []ownerResult{full, ack}, nil, "shard 7", true},
		{"any: a full queue already in when the level is met", models.ConsistencyLevelAny, []ownerResult{ack, full}, nil, "shard 7", true},
		{"any: a hint and a full queue", models.ConsistencyLevelAny, []ownerResult{hinted, full}, nil, "shard 7", true},
		{"one: a failed queue append beats an ack", models.ConsistencyLevelOne, []ownerResult{ack, broken}, nil, "write failed: shard 7: data node 3", false},
		{"quorum of 3: two acks and a failed append", models.ConsistencyLevelQuorum, []ownerResult{ack, ack, broken}, nil, "write failed", false},
		{"field type conflict", models.ConsistencyLevelOne, []ownerResult{{err: tsdb.PartialWriteError{Reason: "field type conflict", Dropped: 1}}, refused},
			tsdb.PartialWriteError{Reason: "field type conflict", Dropped: 1}, "partial write: field type conflict", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := make(chan ownerResult, len(tc.results))
			for _, r := range tc.results {
				ch <- r
			}
			err := w.collect(tc.cl, 7, len(tc.results), required(tc.cl, len(tc.results)), ch, tc.localErr)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("err = %v, want success", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("err = %v, want %q…", err, tc.want)
			}
			var later httpd.RetryLater
			if got := errors.As(err, &later); got != tc.want503 {
				t.Fatalf("RetryLater = %v, want %v (err %v)", got, tc.want503, err)
			}
		})
	}
}
