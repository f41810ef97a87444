package meta

// Proposing commands: Execute checks and prepares a command (hashing a
// password, bounding a continuous query), then proposes it on the leader or
// forwards it there, retrying while leadership settles.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/qlimit"
	"github.com/palisade-db/palisade/proto/metapb"
)

// maxContinuousQueryLen bounds a continuous query's text: the HTTP API's
// default max-query-size.
const maxContinuousQueryLen = 1 << 20

// ---------------------------------------------------------------------------
// Execute
// ---------------------------------------------------------------------------

// Execute applies cmd through Raft, from any node: a follower forwards it to
// the leader. Passwords are hashed here, before anything is proposed or sent
// on, so plaintext never reaches the log. It returns the index the command was
// committed at; the local state has applied it when Execute returns.
//
// The command is applied once: unless it has one (meta.Client gives each
// call one), it gets a request ID here, which every retry and forward
// keeps; a repeat of a request the state machine has applied answers with
// the first result (index, data node ID, or refusal).
func (s *Store) Execute(ctx context.Context, cmd *metapb.Command) (*metapb.ExecuteResponse, error) {
	return s.execute(ctx, cmd, true)
}

// execute is Execute; without forward (a request that a follower forwarded)
// it refuses instead of forwarding again, so a stale leader view cannot
// loop.
func (s *Store) execute(ctx context.Context, cmd *metapb.Command, forward bool) (*metapb.ExecuteResponse, error) {
	if cmd == nil {
		return nil, fmt.Errorf("%w: empty command", ErrInvalidCommand)
	}
	if err := checkRequest(cmd, s.level); err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	// From here on cmd is this call's own copy, with its request ID.
	cmd = withRequestID(cmd)
	// A repeat of a request this replica has applied (its answer was lost
	// on the way to the caller, who retried): the first answer, at once,
	// before any check below could refuse what was done.
	if rec := s.fsm.requests.get(cmd.RequestId); rec != nil {
		if err := s.WaitForApplied(ctx, rec.Index); err != nil {
			return nil, err
		}
		return responseOf(resultOf(rec), rec.Index)
	}

	var password string
	switch op := cmd.Op.(type) {
	case *metapb.Command_CreateUser:
		c := op.CreateUser
		if c.Name == "" {
			return nil, ErrUsernameRequired
		}
		if c.Password == "" && len(c.Hash) == 0 {
			return nil, ErrPasswordRequired
		}
		if c.Password != "" {
			password = c.Password
			// An admin bootstrap comes from a caller nobody authenticated:
			// once an admin exists it is refused before any password is
			// looked at or hashed, so that the answer never says whether the
			// caller knows one. A stale view lets it through to the state
			// machine, which refuses it. A pre-hashed bootstrap (one a
			// follower forwards) always goes to the state machine, so that a
			// retry of one that did commit is recognised by its hash below.
			if c.Bootstrap && HasAdmin(s.Data()) {
				return nil, ErrAdminExists
			}
			// CREATE USER is idempotent when name, password and admin flag
			// match; never for a bootstrap, for the same reason.
			if u := FindUser(s.Data(), c.Name); u != nil {
				if !c.Bootstrap && u.Admin == c.Admin && auth.CheckPassword(u.Hash, password) {
					return &metapb.ExecuteResponse{Index: s.Data().Index}, nil
				}
				return nil, ErrUserExists
			}
			hash, err := auth.HashPassword(password, s.cfg.PasswordHashCost)
			if err != nil {
				return nil, err
			}
			c.Password, c.Hash = "", hash
		}
	case *metapb.Command_SetPassword:
		c := op.SetPassword
		if c.Name == "" {
			return nil, ErrUsernameRequired
		}
		if c.Password == "" && len(c.Hash) == 0 {
			return nil, ErrPasswordRequired
		}
		if c.Password != "" {
			hash, err := auth.HashPassword(c.Password, s.cfg.PasswordHashCost)
			if err != nil {
				return nil, err
			}
			c.Password, c.Hash = "", hash
		}
	case *metapb.Command_CreateContinuousQuery:
		// Every data node parses the query at every run: one that
		// overflowed the parser's stack would kill them all, again and again,
		// and one nested too deep would fail every run.
		q := op.CreateContinuousQuery.Query
		if len(q) > maxContinuousQueryLen {
			return nil, fmt.Errorf("%w: continuous query longer than %d bytes", ErrInvalidCommand, maxContinuousQueryLen)
		}
		if _, err := qlimit.ParseStatement(q); errors.Is(err, qlimit.ErrNestingTooDeep) {
			return nil, fmt.Errorf("%w: continuous query: %v", ErrInvalidCommand, err)
		}
	}

	resp, err := s.propose(ctx, cmd, forward)

	// Two nodes may create the same user at once: the loser's command is
	// refused, yet the request succeeds when the winner's password and admin
	// flag are the same as this one's. A retry of a command that did commit
	// (its answer lost) is answered by its request ID; for when that cannot
	// be (a cluster below feature level 2, during a rolling upgrade; a
	// caller that sends the same command again as a new request), a refused
	// command whose stored hash is exactly the one it carries succeeds too
	// (bcrypt salts make that impossible for another command). A bootstrap
	// is rescued only by that last rule: a repeat of a bootstrap that
	// committed is refused because its own admin now exists, and comparing
	// passwords would tell an unauthenticated caller whether it knows
	// another admin's.
	if c := cmd.GetCreateUser(); c != nil && (errors.Is(err, ErrUserExists) || (c.Bootstrap && errors.Is(err, ErrAdminExists))) {
		var ce *CommandError
		if errors.As(err, &ce) && s.WaitForApplied(ctx, ce.Index) == nil {
			// Answer with the index of the state that has the winner's user:
			// the refused entry at ce.Index changed nothing, so no state ever
			// has that index, and a caller waiting for it would wait for the
			// next unrelated change.
			d := s.Data()
			u := FindUser(d, c.Name)
			if u != nil && u.Admin == c.Admin &&
				(bytes.Equal(u.Hash, c.Hash) || (!c.Bootstrap && password != "" && auth.CheckPassword(u.Hash, password))) {
				return &metapb.ExecuteResponse{Index: d.Index}, nil
			}
		}
	}
	return resp, err
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, proposeTimeout)
}

// propose commits cmd on the leader (here or, when forward is set, remote),
// retrying while leadership is changing. Every attempt carries the same
// request ID (a new one when cmd has none), so the command applies once.
func (s *Store) propose(ctx context.Context, cmd *metapb.Command, forward bool) (*metapb.ExecuteResponse, error) {
	if len(cmd.RequestId) == 0 {
		cmd = withRequestID(cmd)
	}
	b, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("meta: encoding command: %w", err)
	}
	var resp *metapb.ExecuteResponse
	err = s.untilSettled(ctx, forward, func() (err error) {
		resp, err = leaderOrForward(ctx, s, forward,
			func() (*metapb.ExecuteResponse, error) { return s.proposeAsLeader(ctx, cmd, b) },
			func(ctx context.Context, c metapb.MetaServiceClient) (*metapb.ExecuteResponse, error) {
				return s.forwardExecute(ctx, c, cmd)
			})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// settleBackoff paces the attempts of untilSettled while leadership changes.
var settleBackoff = cluster.Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond}

// untilSettled calls try until it succeeds, fails for a reason that is not
// about leadership, ctx ends or the store closes; then the error wraps
// ctx's error or ErrClosed, and try's last error. Without forward, a node
// that is not the leader gives up at once (the caller was forwarded to it).
// try runs with the caller's ctx: closing the store ends the pauses, not
// an attempt under way.
func (s *Store) untilSettled(ctx context.Context, forward bool, try func() error) error {
	pauses, stop := s.closing(ctx)
	defer stop()
	return cluster.Retry(pauses, settleBackoff, func(err error) bool {
		return retryable(err) && (forward || !errors.Is(err, ErrNotLeader))
	}, func(context.Context) error { return try() })
}

// closing returns a child of ctx that also ends, with cause ErrClosed, when
// the store closes. Call stop when done with it.
func (s *Store) closing(ctx context.Context) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-s.closed:
			cancel(ErrClosed)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

// retryable reports whether err is about leadership or reachability rather
// than about the command.
func retryable(err error) bool {
	var ce *CommandError
	if errors.As(err, &ce) {
		return false
	}
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) || errors.Is(err, raft.ErrNotLeader) ||
		errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) ||
		errors.Is(err, errUnreachable)
}

// proposeAsLeader checks that every member can apply cmd (b, encoded),
// then commits it.
func (s *Store) proposeAsLeader(ctx context.Context, cmd *metapb.Command, b []byte) (*metapb.ExecuteResponse, error) {
	if cmd.GetSetFeatureLevel() != nil {
		s.levelMu.Lock()
		defer s.levelMu.Unlock()
	}
	if err := s.checkProposable(ctx, cmd); err != nil {
		return nil, err
	}
	return s.applyLocal(ctx, b)
}

func (s *Store) applyLocal(ctx context.Context, b []byte) (*metapb.ExecuteResponse, error) {
	timeout := proposeTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	s.applying.Add(1)
	f := s.raft.Apply(b, timeout)
	err := f.Error()
	s.applying.Add(-1)
	if err != nil {
		return nil, err
	}
	notify(s.committed)
	if take(&s.faults.leaderReplies) {
		return nil, raft.ErrLeadershipLost
	}
	res, _ := f.Response().(applyResult)
	index := f.Index()
	if res.index != 0 {
		// A repeat of a request applied before: its first result.
		index = res.index
	}
	return responseOf(res, index)
}

// responseOf turns the state machine's result for a command committed at
// index into Execute's answer.
func responseOf(res applyResult, index uint64) (*metapb.ExecuteResponse, error) {
	if res.err != nil {
		return nil, &CommandError{Index: index, Err: res.err}
	}
	return &metapb.ExecuteResponse{Index: index, NodeId: res.nodeID}, nil
}

// forwardExecute commits cmd through the leader's MetaService (c), then
// waits until this replica has applied it.
func (s *Store) forwardExecute(ctx context.Context, c metapb.MetaServiceClient, cmd *metapb.Command) (*metapb.ExecuteResponse, error) {
	resp, err := c.Execute(ctx, &metapb.ExecuteRequest{Command: cmd})
	if err != nil {
		// The leader did not answer (as opposed to refusing): try again,
		// perhaps with a new leader, unless the caller's time is up.
		if ctx.Err() == nil && cluster.Unreachable(err) {
			return nil, fmt.Errorf("%w: %v", errUnreachable, err)
		}
		return nil, err // leaderOrForward decodes the leader's refusal
	}
	// The caller expects the change to be visible here when Execute returns.
	if werr := s.WaitForApplied(ctx, resp.Index); werr != nil {
		return nil, werr
	}
	return resp, nil
}
