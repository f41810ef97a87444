package meta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/palisade-db/palisade/proto/metapb"
)

// Update is one state that Follow hands its callback.
type Update struct {
	Data *metapb.Data
	// Delta is the change that made Data from the previous update's state
	// (or Follow's base); nil when Data came whole.
	Delta *metapb.StateDelta
	// Changes names what Delta changed; nil when Data came whole.
	Changes *Changes
}

// Watch calls fn with the state whenever a newer one than index is
// committed, until ctx ends or fn returns an error. States may be coalesced;
// their indexes increase strictly. Every state comes whole; Follow sends
// changes.
//
// Watch never gives up on the cluster: when a stream cannot be opened or
// breaks, for whatever reason (a node down, a secret mismatch on one node,
// clock skew, a rolling secret change), it moves on to the next address and
// tries again after a pause (watchBackoff). report, when not nil, is told about
// each failure; it is for logging and must not block.
func (c *Client) Watch(ctx context.Context, index uint64, fn func(*metapb.Data) error, report func(addr string, err error)) error {
	w := &watch{index: index}
	return c.follow(ctx, w, func(u Update) error { return fn(u.Data) }, report)
}

// Follow is Watch for a caller that keeps the state: base is the state it
// holds (nil: none), and each update after the first full state is applied
// to the one before as a delta (StateDelta), so that a change costs what it
// changes, not the size of the state. A meta node from before deltas sends
// whole states, which Follow hands on as they are.
func (c *Client) Follow(ctx context.Context, base *metapb.Data, fn func(Update) error, report func(addr string, err error)) error {
	w := &watch{index: base.GetIndex(), deltas: true, cur: base}
	return c.follow(ctx, w, fn, report)
}

// watch is where one Watch or Follow has got to, across streams.
type watch struct {
	index  uint64
	deltas bool
	// cur is the last state handed on (Follow only): deltas apply to it.
	cur *metapb.Data
	// resync asks the next stream for a full state: a delta did not apply.
	resync bool
}

func (c *Client) follow(ctx context.Context, w *watch, fn func(Update) error, report func(addr string, err error)) error {
	c.mu.Lock()
	next := c.next
	c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		addr := c.addrs[next%len(c.addrs)]
		err := c.watchOne(ctx, addr, w, func(u Update) error {
			attempt = 0
			return fn(u)
		})
		var cbErr *callbackError
		if errors.As(err, &cbErr) {
			return cbErr.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if report != nil {
			report(addr, FromStatus(err))
		}
		next++
		select {
		case <-time.After(watchBackoff.Delay(attempt)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// watchOne follows one node's Watch stream until it breaks; w advances past
// every state handed to fn.
func (c *Client) watchOne(ctx context.Context, addr string, w *watch, fn func(Update) error) error {
	mc, err := c.Node(addr)
	if err != nil {
		return err
	}
	// Ending the stream's context ends the stream on both sides when this
	// returns (callback error), not only when ctx ends.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &metapb.WatchRequest{Index: w.index, Deltas: w.deltas && !w.resync}
	if w.resync {
		req.Index = 0 // a full state, whatever this node holds
	}
	stream, err := mc.Watch(sctx, req)
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		u := Update{Data: resp.GetData()}
		if resp.GetDelta() != nil {
			if !w.deltas || w.cur == nil {
				w.resync = w.deltas
				return fmt.Errorf("meta: %s sent a delta this watch cannot apply", addr)
			}
			if u.Data, u.Changes, err = ApplyDelta(w.cur, resp.Delta); err != nil {
				w.resync = true
				return err
			}
			u.Delta = resp.Delta
		}
		if u.Data.GetIndex() <= w.index {
			continue
		}
		w.resync = false
		w.index = u.Data.Index
		if w.deltas {
			w.cur = u.Data
		}
		if err := fn(u); err != nil {
			return &callbackError{err}
		}
	}
}
