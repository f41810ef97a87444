package meta

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/proto/metapb"
)

// Feature levels. Every replica must apply every log entry exactly as the
// others do; a binary that meets a command or field it does not know would
// skip it and drift. So what may be proposed is bounded by the cluster's
// feature level (Data.feature_level), which rises only once every member of
// the Raft configuration supports the next level, and never falls. A change
// to what a command means, a new command, a new field with meaning in a
// command or in Data, a new enum value, or a new snapshot format is a new
// level: add a constant here, let commandLevel (or the code that writes the
// format) ask for it, and raise FeatureLevel.
const (
	// levelBase is what every meta node supports, including those from
	// before feature levels: every operation up to set_settings; request
	// IDs are ignored.
	levelBase uint32 = 1
	// levelRequestIDs adds SetFeatureLevel and applies Command.request_id
	// once: the state machine records the result of each request ID
	// (AppliedRequest, snapshot format 3) and answers a repeat with it.
	levelRequestIDs uint32 = 2
	// levelShardOwners adds Shard.owners, owners with a state: new shard
	// groups get their owners there instead of in owner_node_ids, and the
	// raise to this level moves every shard's owner_node_ids into owners
	// (active), so that the state holds one form from then on.
	levelShardOwners uint32 = 3
	// levelDropShard adds DropShard.
	levelDropShard uint32 = 4
	// levelContinuousQueries adds Database.continuous_queries and the
	// CreateContinuousQuery, DropContinuousQuery and
	// RecordContinuousQueryRuns commands.
	levelContinuousQueries uint32 = 5
	// levelOwners adds ContinuousQuery.owner (and CreateContinuousQuery's),
	// Data.provisioned and RecordProvisioning, and the creation indexes of
	// databases and retention policies (Database.created_index,
	// RetentionPolicy.created_index), set only from this level on.
	levelOwners uint32 = 6
	// levelTruncatedGroups starts new shard groups where influxd 1.x does:
	// at a multiple of the group duration counted from Go's zero Time
	// (time.Time.Truncate), so 7-day groups start on Mondays; below it they
	// start at multiples counted from the Unix epoch (Thursdays). Groups
	// keep the bounds they were made with.
	levelTruncatedGroups uint32 = 7
	// levelStaleNodes adds DataNode.stale_index and MarkDataNodeStale: a
	// data node that did not confirm a meta change in time is marked, until
	// it reports a state that new.
	levelStaleNodes uint32 = 8

	// FeatureLevel is the highest feature level this binary supports.
	FeatureLevel = levelStaleNodes

	// LevelStaleNodes is the cluster feature level from which a data node
	// may propose MarkDataNodeStale.
	LevelStaleNodes = levelStaleNodes
)

// ClusterFeatureLevel returns the feature level the cluster runs at in d. A
// state from before feature levels (0) runs at 1.
func ClusterFeatureLevel(d *metapb.Data) uint32 { return max(d.GetFeatureLevel(), levelBase) }

// commandLevel returns the feature level a replica needs to apply cmd.
// Request IDs do not count: below levelRequestIDs every replica ignores
// them, those from before feature levels included.
func commandLevel(cmd *metapb.Command) uint32 {
	switch op := cmd.Op.(type) {
	case *metapb.Command_SetFeatureLevel:
		return max(op.SetFeatureLevel.Level, levelRequestIDs)
	case *metapb.Command_DropShard:
		return levelDropShard
	case *metapb.Command_CreateContinuousQuery:
		if op.CreateContinuousQuery.GetOwner() != "" {
			return levelOwners
		}
		return levelContinuousQueries
	case *metapb.Command_DropContinuousQuery, *metapb.Command_RecordContinuousQueryRuns:
		return levelContinuousQueries
	case *metapb.Command_RecordProvisioning:
		return levelOwners
	case *metapb.Command_MarkDataNodeStale:
		return levelStaleNodes
	default:
		return levelBase
	}
}

// opName names cmd's operation as the proto does ("create_user").
func opName(cmd *metapb.Command) string {
	m := cmd.ProtoReflect()
	if fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("op")); fd != nil {
		return string(fd.Name())
	}
	return "empty command"
}

// unknownFields lists the fields of m, at any depth, that this binary does
// not know ("field 79 of palisade.meta.v1.Command"): an operation added to
// the oneof by a newer binary arrives as one. A retired field (its number
// reserved) is known to be meaningless now, not unknown: old log entries
// may carry it.
func unknownFields(m protoreflect.Message) []string {
	var out []string
	desc := m.Descriptor()
	for b := m.GetUnknown(); len(b) > 0; {
		num, _, n := protowire.ConsumeField(b)
		if n < 0 {
			out = append(out, fmt.Sprintf("undecodable data in %s", desc.FullName()))
			break
		}
		if !desc.ReservedRanges().Has(num) {
			out = append(out, fmt.Sprintf("field %d of %s", num, desc.FullName()))
		}
		b = b[n:]
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					out = append(out, unknownFields(mv.Message())...)
					return true
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				for i := range v.List().Len() {
					out = append(out, unknownFields(v.List().Get(i).Message())...)
				}
			}
		case fd.Message() != nil:
			out = append(out, unknownFields(v.Message())...)
		}
		return true
	})
	return out
}

// checkRequest refuses, before anything is proposed or forwarded, a
// command that no state machine should see: an empty one, one with a field
// this node does not know (from a newer client: every replica of this
// version would halt on it), one above this node's own feature level, or
// one with an oversized request ID.
func checkRequest(cmd *metapb.Command, supported uint32) error {
	if u := unknownFields(cmd.ProtoReflect()); len(u) > 0 {
		return fmt.Errorf("%w: %s is unknown to this meta node (feature level %d)", ErrFeatureLevel, strings.Join(u, ", "), supported)
	}
	if cmd.GetOp() == nil {
		return fmt.Errorf("%w: empty command", ErrInvalidCommand)
	}
	if need := commandLevel(cmd); need > supported {
		return fmt.Errorf("%w: %s needs feature level %d, this meta node supports %d", ErrFeatureLevel, opName(cmd), need, supported)
	}
	if len(cmd.RequestId) > maxRequestIDLen {
		return fmt.Errorf("%w: request ID longer than %d bytes", ErrInvalidCommand, maxRequestIDLen)
	}
	return nil
}

// checkApplicable returns why a replica that supports feature level
// supported cannot apply cmd: a field it does not know, or a level above
// its own. Such an entry must not be refused like a business error (the
// replicas that know it apply it, and this one would drift): the state
// machine halts on it instead.
func checkApplicable(cmd *metapb.Command, supported uint32) error {
	if u := unknownFields(cmd.ProtoReflect()); len(u) > 0 {
		return fmt.Errorf("the command carries %s, unknown to this binary (feature level %d)", strings.Join(u, ", "), supported)
	}
	if need := commandLevel(cmd); need > supported {
		return fmt.Errorf("%s needs feature level %d, this binary supports %d", opName(cmd), need, supported)
	}
	return nil
}

// checkProposable refuses, on the leader, a command that some member could
// not apply. A raise of the level asks every member which level it
// supports; any other command must not need more than the cluster's level.
// The caller holds levelMu for a SetFeatureLevel.
func (s *Store) checkProposable(ctx context.Context, cmd *metapb.Command) error {
	if err := checkRequest(cmd, s.level); err != nil {
		return err
	}
	need := commandLevel(cmd)
	if cmd.GetSetFeatureLevel() != nil {
		lowest, holder, err := s.memberLevels(ctx)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrFeatureLevel, err)
		}
		if lowest < need {
			return fmt.Errorf("%w: feature level %d needs every meta node to support it; %s supports %d", ErrFeatureLevel, need, holder, lowest)
		}
		return nil
	}
	if have := ClusterFeatureLevel(s.Data()); need > have {
		return fmt.Errorf("%w: %s needs feature level %d, the cluster runs at %d", ErrFeatureLevel, opName(cmd), need, have)
	}
	return nil
}

// statusTimeout bounds one question to another meta node about its level.
const statusTimeout = 2 * time.Second

// peerLevel asks the meta node at rpcAddr which feature level it supports.
// A node from before feature levels does not say: it supports level 1.
func (s *Store) peerLevel(ctx context.Context, rpcAddr string) (uint32, error) {
	conn, err := s.peers.Get(rpcAddr)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	st, err := metapb.NewMetaServiceClient(conn).Status(ctx, &metapb.StatusRequest{})
	if err != nil {
		return 0, FromStatus(err)
	}
	return max(st.SupportedFeatureLevel, levelBase), nil
}

// memberLevels returns the lowest feature level that a member of the Raft
// configuration (voter or not: all of them apply the log) supports, and
// which member that is. It fails when a member cannot be asked.
func (s *Store) memberLevels(ctx context.Context) (uint32, string, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return 0, "", err
	}
	lowest, holder := s.level, s.cfg.RaftAddr
	rpcOf := map[string]string{}
	for _, m := range s.Data().MetaNodes {
		rpcOf[m.RaftAddr] = m.RpcAddr
	}
	for _, srv := range f.Configuration().Servers {
		addr := string(srv.Address)
		if srv.ID == raft.ServerID(s.cfg.RaftAddr) {
			continue
		}
		rpc := rpcOf[addr]
		if rpc == "" {
			return 0, "", fmt.Errorf("meta node %s has not registered its gRPC address yet", addr)
		}
		lvl, err := s.peerLevel(ctx, rpc)
		if err != nil {
			return 0, "", fmt.Errorf("cannot ask meta node %s which feature level it supports: %v", addr, err)
		}
		if lvl < lowest {
			lowest, holder = lvl, addr
		}
	}
	return lowest, holder, nil
}

// checkJoinerLevel refuses to add a meta node whose binary supports less
// than the cluster's level: it could not apply the log. Any binary applies
// level 1. The caller holds levelMu, so that a raise cannot slip in between
// this check and the node joining the configuration.
func (s *Store) checkJoinerLevel(ctx context.Context, raftAddr, rpcAddr string) error {
	have := ClusterFeatureLevel(s.Data())
	if have <= levelBase {
		return nil
	}
	if rpcAddr == "" {
		return fmt.Errorf("%w: the cluster runs at feature level %d; the gRPC address of %s is needed to check that it supports it", ErrFeatureLevel, have, raftAddr)
	}
	lvl, err := s.peerLevel(ctx, rpcAddr)
	if err != nil {
		return fmt.Errorf("%w: cannot ask meta node %s which feature level it supports: %v", ErrFeatureLevel, raftAddr, err)
	}
	if lvl < have {
		return fmt.Errorf("%w: meta node %s supports feature level %d, the cluster runs at %d: upgrade it before adding it", ErrFeatureLevel, raftAddr, lvl, have)
	}
	return nil
}

// raiseFeatureLevel runs on every node; on the leader it raises the
// cluster's feature level to the lowest level its members support,
// whenever that is above the current one (after a rolling upgrade, or at
// once in a new cluster).
func (s *Store) raiseFeatureLevel() {
	defer s.wg.Done()
	wait := cluster.Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
	failures := 0   // attempts in a row that could not raise the level
	var held string // the last "held back" reason logged, to log each once
	for {
		select {
		case <-s.closed:
			return
		case <-time.After(wait.Delay(failures)):
		case <-s.raiseNow:
		}
		have := ClusterFeatureLevel(s.Data())
		if !s.IsLeader() || have >= s.level {
			failures = 0
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		lowest, holder, err := s.memberLevels(ctx)
		switch {
		case err != nil:
			s.log.Debug("cannot raise the cluster feature level yet", "level", have, "err", err)
		case lowest <= have:
			if why := fmt.Sprintf("%s:%d:%d", holder, lowest, have); why != held {
				held = why
				s.log.Info("cluster feature level held back: a meta node runs an older version",
					"level", have, "supported", s.level, "meta_node", holder, "meta_node_level", lowest)
			}
		default:
			if _, err = s.Execute(ctx, &metapb.Command{Op: &metapb.Command_SetFeatureLevel{SetFeatureLevel: &metapb.SetFeatureLevel{Level: lowest}}}); err == nil {
				s.log.Info("cluster feature level raised", "from", have, "to", lowest)
			} else {
				s.log.Debug("raising the cluster feature level", "to", lowest, "err", err)
			}
		}
		cancel()
		if err == nil && lowest > have {
			failures = 0
		} else {
			failures++
		}
	}
}
