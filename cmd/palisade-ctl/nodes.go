package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// metaRow is one meta node as 'show' lists it.
type metaRow struct {
	raftAddr, rpcAddr string
	status            *metapb.StatusResponse
	err               error
}

func show(ctx context.Context, x *call) error {
	ctx, c, data, err := x.connectState(ctx)
	if err != nil {
		return err
	}

	rows := make([]*metaRow, len(data.MetaNodes))
	var wg sync.WaitGroup
	for i, m := range data.MetaNodes {
		rows[i] = &metaRow{raftAddr: m.RaftAddr, rpcAddr: m.RpcAddr}
		wg.Go(func() { rows[i].status, rows[i].err = x.nodeStatus(ctx, c, m.RpcAddr) })
	}
	wg.Wait()

	var leader *metapb.StatusResponse
	for _, r := range rows {
		if r.err == nil && r.status.State == "Leader" && (leader == nil || r.status.Term > leader.Term) {
			leader = r.status
		}
	}
	// Raft's membership, as the leader (or else any node) sees it: it names
	// the voters and nodes that are not (yet) in the state.
	var servers []*metapb.RaftServer
	if leader != nil {
		servers = leader.Servers
	} else {
		for _, r := range rows {
			if r.err == nil && len(r.status.Servers) > 0 {
				servers = r.status.Servers
				break
			}
		}
	}
	for _, s := range servers {
		if !slices.ContainsFunc(rows, func(r *metaRow) bool { return r.raftAddr == s.RaftAddr }) {
			r := &metaRow{raftAddr: s.RaftAddr, rpcAddr: s.RpcAddr}
			if r.rpcAddr != "" {
				r.status, r.err = x.nodeStatus(ctx, c, r.rpcAddr)
			} else {
				r.err = errors.New("gRPC address unknown")
			}
			rows = append(rows, r)
		}
	}

	w := tabwriter.NewWriter(x.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "Cluster %s\n\nMeta nodes\n", orDash(data.ClusterId))
	fmt.Fprintln(w, "Raft address\tgRPC address\tState\tLeader\tVoter")
	for _, r := range rows {
		state, mark := "unreachable", ""
		if r.err == nil {
			state = r.status.State
			if r.status.State == "Leader" {
				mark = "*"
			}
		}
		voter := "-"
		if i := slices.IndexFunc(servers, func(s *metapb.RaftServer) bool { return s.RaftAddr == r.raftAddr }); i >= 0 {
			voter = yesNo(servers[i].Voter)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.raftAddr, orDash(r.rpcAddr), state, mark, voter)
	}
	fmt.Fprintln(w)
	if leader != nil {
		fmt.Fprintf(w, "Leader: %s (term %d, commit index %d, applied index %d)\n",
			leader.RaftAddr, leader.Term, leader.CommitIndex, leader.AppliedIndex)
		fmt.Fprintf(w, "Feature level: %d (the leader's version supports %d)\n",
			leader.ClusterFeatureLevel, leader.SupportedFeatureLevel)
	} else {
		fmt.Fprintln(w, "Leader: none (no reachable meta node is leader)")
	}

	fmt.Fprintln(w, "\nData nodes")
	if len(data.DataNodes) == 0 {
		fmt.Fprintln(w, "(none)")
	} else {
		fmt.Fprintln(w, "ID\tHTTP address\tTCP address\tLast heartbeat\tMeta index\tMeta state age\tStale")
		now := time.Now()
		for _, n := range data.DataNodes {
			seen, index, age := "-", "-", "-"
			if leader != nil {
				if ns := leader.DataNodeLastSeen[n.Id]; ns != 0 {
					t := time.Unix(0, ns)
					seen = fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), now.Sub(t).Round(time.Second))
					if r := leader.DataNodeReports[n.Id]; r != nil {
						index = fmt.Sprint(r.MetaIndex)
						age = stateAge(r.MetaStateAgeMs, now.Sub(t))
					}
				}
			}
			// Stale: it did not confirm the meta change at that index within
			// another data node's change-visibility-timeout, and has not
			// reported a state that new since.
			stale := "-"
			if n.StaleIndex != 0 {
				stale = fmt.Sprintf("missed index %d", n.StaleIndex)
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Id, n.HttpAddr, n.TcpAddr, seen, index, age, stale)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		if r.err != nil {
			x.warnf("meta node %s (gRPC %s) unreachable: %s", r.raftAddr, orDash(r.rpcAddr), x.nodeError(r.err))
		}
	}
	return nil
}

// stateAge is a data node's meta state age now: what it reported in its
// last heartbeat plus the time since. A negative report means no state.
func stateAge(reportedMs int64, sinceReport time.Duration) string {
	if reportedMs < 0 {
		return "no state"
	}
	return (time.Duration(reportedMs)*time.Millisecond + sinceReport).Round(time.Second).String()
}

// nodeStatus asks one node for its status, giving it at most half of
// -timeout, so that a node that does not answer leaves time for the rest.
func (a *app) nodeStatus(ctx context.Context, c *meta.Client, addr string) (*metapb.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, a.globals.timeout/2)
	defer cancel()
	return c.Status(ctx, addr)
}

// nodeError describes an error from one node's Status.
func (a *app) nodeError(err error) string {
	switch {
	case isUnauthenticated(err):
		return a.describe(err)
	case errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded:
		return "no answer in time"
	}
	return grpcMessage(err)
}

func addMeta(ctx context.Context, x *call) error {
	addr := x.args[0]
	ctx, c, data, err := x.connectState(ctx)
	if err != nil {
		return err
	}
	st, err := c.Status(ctx, addr)
	if err != nil {
		if isUnreachable(err) {
			return fmt.Errorf("cannot reach the new meta node at %s: %s", addr, grpcMessage(err))
		}
		return err
	}
	if st.RaftAddr == "" {
		return fmt.Errorf("the meta node at %s did not say its Raft address", addr)
	}
	members := make(map[string]bool)
	for _, m := range data.MetaNodes {
		members[m.RaftAddr] = true
	}
	if len(st.Servers) > 0 && !slices.ContainsFunc(st.Servers, func(s *metapb.RaftServer) bool { return members[s.RaftAddr] }) {
		return fmt.Errorf("the meta node at %s (Raft %s) already belongs to another Raft cluster (leader %s): "+
			"start it with an empty [meta] dir and [meta] peers naming this cluster's meta nodes",
			addr, st.RaftAddr, orDash(st.LeaderRaftAddr))
	}
	rpcAddr := st.RpcAddr
	if rpcAddr == "" {
		rpcAddr = addr
	}
	index, err := c.AddMetaNode(ctx, st.RaftAddr, rpcAddr)
	if err != nil {
		return fmt.Errorf("adding meta node %s: %w", st.RaftAddr, err)
	}
	raftAddr := st.RaftAddr
	fmt.Fprintf(x.stdout, "Added meta node %s (gRPC %s).\n", raftAddr, rpcAddr)

	// Wait until the new node follows the leader and has caught up.
	err = cluster.Retry(ctx, pollBackoff, nil, func(ctx context.Context) error {
		st, err := c.Status(ctx, addr)
		if err == nil && (st.LeaderRaftAddr == "" || st.AppliedIndex < index) {
			err = errNotYet
		}
		return err
	})
	if err != nil {
		x.warnf("meta node %s has not caught up with the cluster yet; check with 'palisade-ctl show'", raftAddr)
	}
	return nil
}

// pollBackoff paces the checks that wait for a change to show, until
// -timeout.
var pollBackoff = cluster.Backoff{Min: 100 * time.Millisecond, Max: 100 * time.Millisecond}

// errNotYet: a change has not shown yet where a command waits for it.
var errNotYet = errors.New("not yet")

func removeMeta(ctx context.Context, x *call) error {
	addr := x.args[0]
	ctx, c, data, err := x.connectState(ctx)
	if err != nil {
		return err
	}
	var known []string
	raftAddr, rpcAddr := "", ""
	for _, m := range data.MetaNodes {
		known = append(known, fmt.Sprintf("%s (gRPC %s)", m.RaftAddr, m.RpcAddr))
		if m.RaftAddr == addr || m.RpcAddr == addr {
			raftAddr, rpcAddr = m.RaftAddr, m.RpcAddr
		}
	}
	if raftAddr == "" {
		// A node in Raft's membership that is not (yet) in the state.
		if st, err := c.AnyStatus(ctx); err == nil {
			for _, s := range st.Servers {
				if s.RaftAddr == addr || (s.RpcAddr != "" && s.RpcAddr == addr) {
					raftAddr, rpcAddr = s.RaftAddr, s.RpcAddr
				}
			}
		}
	}
	if raftAddr == "" {
		return fmt.Errorf("no meta node has the Raft or gRPC address %s (meta nodes: %s)", addr, strings.Join(known, ", "))
	}
	if _, err := c.RemoveNode(ctx, &metapb.RemoveNodeRequest{Node: &metapb.RemoveNodeRequest_MetaRaftAddr{MetaRaftAddr: raftAddr}}); err != nil {
		switch {
		case errors.Is(err, meta.ErrLastMetaNode):
			return fmt.Errorf("cannot remove meta node %s: it is the last one", raftAddr)
		case errors.Is(err, meta.ErrNodeNotFound):
			return fmt.Errorf("meta node %s is not a member of the cluster", raftAddr)
		}
		return fmt.Errorf("removing meta node %s: %w", raftAddr, err)
	}
	fmt.Fprintf(x.stdout, "Removed meta node %s (gRPC %s).\n", raftAddr, orDash(rpcAddr))

	// The node that answered may not have applied the removal yet; wait, so
	// that a 'show' right after this does not list the node any more.
	err = cluster.Retry(ctx, pollBackoff, nil, func(ctx context.Context) error {
		data, err := c.Snapshot(ctx)
		if err == nil && slices.ContainsFunc(data.MetaNodes, func(m *metapb.MetaNode) bool { return m.RaftAddr == raftAddr }) {
			err = errNotYet
		}
		return err
	})
	if err != nil {
		x.warnf("the meta node that answered still lists %s; check with 'palisade-ctl show'", raftAddr)
	}
	return nil
}

func removeData(ctx context.Context, x *call) error {
	id, err := strconv.ParseUint(x.args[0], 10, 64)
	if err != nil || id == 0 {
		return x.usageErr("invalid data node ID %q (a positive integer, as 'show' lists it)", x.args[0])
	}
	ctx, c, err := x.connect(ctx)
	if err != nil {
		return err
	}
	if _, err := c.RemoveNode(ctx, &metapb.RemoveNodeRequest{Node: &metapb.RemoveNodeRequest_DataNodeId{DataNodeId: id}}); err != nil {
		if errors.Is(err, meta.ErrNodeNotFound) {
			return fmt.Errorf("no data node with ID %d", id)
		}
		return fmt.Errorf("removing data node %d: %w", id, err)
	}
	fmt.Fprintf(x.stdout, "Removed data node %d.\n", id)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
