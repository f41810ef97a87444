package meta

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// Request IDs make every command apply once. The node that first receives a
// request (Store.Execute, or meta.Client for its own calls) gives it a
// random ID, kept in Command.request_id across every retry and forward. From
// feature level 2 the state machine records the result of each request ID
// it applies; a command whose ID it has recorded is not applied again, and
// gets the first result (index, data node ID, or the refusal). The record
// is replicated state: every replica adds and evicts in log order, so it is
// the same everywhere, and it travels in snapshots next to Data (not in
// Data: it is no business of data nodes, and a refusal must not change the
// state they follow).

const (
	// maxRequests is how many request results the state machine keeps;
	// beyond it the oldest is forgotten. Retries come within seconds, and
	// meta commands are a few a second at most, so a retry never outlives
	// its record in practice. The bound is part of the replicated
	// protocol: every replica must forget exactly when the others do, or a
	// late retry would be applied again on some and answered on others.
	// Changing it needs a new feature level.
	maxRequests = 10_000
	// maxRequestIDLen bounds a request ID; this package makes 16 bytes.
	maxRequestIDLen = 64
)

// newRequestID returns a random request ID.
func newRequestID() []byte {
	id := make([]byte, 16)
	_, _ = rand.Read(id) // never fails (crypto/rand aborts the program instead)
	return id
}

// withRequestID returns a copy of cmd (the caller's command is never
// changed) that carries a request ID: cmd's own, or a new one.
func withRequestID(cmd *metapb.Command) *metapb.Command {
	out := proto.Clone(cmd).(*metapb.Command)
	if len(out.RequestId) == 0 {
		out.RequestId = newRequestID()
	}
	return out
}

// requestLog is the record of recent request IDs and their results, oldest
// first. The state machine changes it on Raft's apply goroutine; Execute
// reads it from others.
type requestLog struct {
	limit int

	mu    sync.RWMutex
	order []*metapb.AppliedRequest
	byID  map[string]*metapb.AppliedRequest
}

func newRequestLog(limit int) *requestLog {
	return &requestLog{limit: limit, byID: map[string]*metapb.AppliedRequest{}}
}

// get returns the record of id, or nil. Records are never modified.
func (r *requestLog) get(id []byte) *metapb.AppliedRequest {
	if len(id) == 0 {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byID[string(id)]
}

// add records rec (whose ID is not recorded) and forgets the oldest
// records beyond the limit.
func (r *requestLog) add(rec *metapb.AppliedRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.order = append(r.order, rec)
	r.byID[string(rec.Id)] = rec
	r.evict()
}

func (r *requestLog) evict() {
	for len(r.order) > r.limit {
		delete(r.byID, string(r.order[0].Id))
		r.order[0] = nil
		r.order = r.order[1:]
	}
}

// records returns the records, oldest first, for a snapshot.
func (r *requestLog) records() []*metapb.AppliedRequest {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]*metapb.AppliedRequest(nil), r.order...)
}

// reset replaces the records with recs (oldest first), as restored from a
// snapshot.
func (r *requestLog) reset(recs []*metapb.AppliedRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.order = append([]*metapb.AppliedRequest(nil), recs...)
	r.byID = make(map[string]*metapb.AppliedRequest, len(recs))
	for _, rec := range r.order {
		r.byID[string(rec.Id)] = rec
	}
	r.evict()
}

func (r *requestLog) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.order)
}

// applyEntry decides one log entry on a replica: apply, plus the request
// record from feature level 2. A command whose request ID is recorded
// changes nothing and gets the recorded result; any other is applied and
// its result recorded under its ID. Below level 2 request IDs are ignored,
// as replicas from before feature levels ignore them.
func applyEntry(d *metapb.Data, reqs *requestLog, cmd *metapb.Command, index uint64) (*metapb.Data, applyResult) {
	id := cmd.RequestId
	if len(id) == 0 || ClusterFeatureLevel(d) < levelRequestIDs {
		return apply(d, cmd, index)
	}
	if len(id) > maxRequestIDLen {
		return d, applyResult{err: fmt.Errorf("%w: request ID longer than %d bytes", ErrInvalidCommand, maxRequestIDLen)}
	}
	if rec := reqs.get(id); rec != nil {
		return d, resultOf(rec)
	}
	next, res := apply(d, cmd, index)
	reqs.add(recordOf(id, index, res))
	return next, res
}

// recordOf is the record of a request applied at index with result res.
// A refusal is kept as its stable reason and message: the same on every
// replica, since apply is deterministic.
func recordOf(id []byte, index uint64, res applyResult) *metapb.AppliedRequest {
	rec := &metapb.AppliedRequest{Id: append([]byte(nil), id...), Index: index, NodeId: res.nodeID}
	if res.err != nil {
		rec.ErrorReason, rec.ErrorMessage = reasonOf(res.err), res.err.Error()
		if rec.ErrorReason == "" && rec.ErrorMessage == "" {
			rec.ErrorMessage = "refused"
		}
	}
	return rec
}

// resultOf is the result a repeat of a recorded request gets: the first
// one, at the first one's index.
func resultOf(rec *metapb.AppliedRequest) applyResult {
	res := applyResult{index: rec.Index, nodeID: rec.NodeId}
	if rec.ErrorReason != "" || rec.ErrorMessage != "" {
		if sentinel := sentinelOf(rec.ErrorReason); sentinel != nil {
			res.err = &remoteError{msg: rec.ErrorMessage, sentinel: sentinel}
		} else {
			res.err = errors.New(rec.ErrorMessage)
		}
	}
	return res
}
