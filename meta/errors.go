package meta

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/proto/metapb"
)

// Business errors returned by the state machine. Their text is what InfluxDB
// clients see in statement results, so it follows InfluxDB's wording.
var (
	ErrUserExists              = errors.New("user already exists")
	ErrUserNotFound            = errors.New("user not found")
	ErrUsernameRequired        = errors.New("username required")
	ErrPasswordRequired        = errors.New("password required")
	ErrDatabaseNameRequired    = errors.New("database name required")
	ErrDatabaseNotFound        = errors.New("database not found")
	ErrRetentionPolicyRequired = errors.New("retention policy name required")
	ErrRetentionPolicyExists   = errors.New("retention policy already exists")
	ErrRetentionPolicyNotFound = errors.New("retention policy not found")
	ErrRetentionPolicyConflict = errors.New("retention policy conflicts with an existing policy")
	ErrRetentionPolicyDuration = errors.New("retention policy duration must be at least 1h0m0s")
	ErrReplicationFactor       = errors.New("replication factor must be greater than 0")
	ErrShardGroupNotFound      = errors.New("shard group not found")
	ErrContinuousQueryExists   = errors.New("continuous query already exists")
	ErrContinuousQueryRequired = errors.New("continuous query name and query required")
	ErrNodeNotFound            = errors.New("node not found")
	ErrSecretIDRequired        = errors.New("secret id required")
	ErrSecretTooShort          = errors.New("secret must be at least 16 bytes")
	ErrSecretExists            = errors.New("secret already exists")
	ErrSecretNotFound          = errors.New("secret not found")
	ErrInvalidPrivilege        = errors.New("invalid privilege")
	ErrInvalidCommand          = errors.New("invalid command")
	ErrPlaintextPassword       = errors.New("meta: command carries a plaintext password")
	ErrInvalidHash             = errors.New("meta: command carries no valid password hash")
	ErrNotLeader               = errors.New("meta: not the leader")
	ErrNoLeader                = errors.New("meta: no leader")
	ErrClosed                  = errors.New("meta: store closed")
	ErrLastMetaNode            = errors.New("meta: cannot remove the last meta node")
	// ErrAdminExists refuses an admin bootstrap (CreateUser with bootstrap
	// set) once any admin exists: only an admin may then create users.
	ErrAdminExists = errors.New("an admin user already exists")
	// ErrLastAdmin refuses a DropUser or SetAdmin(false) that would leave
	// users but no admin, which would let anyone bootstrap a new admin.
	ErrLastAdmin = errors.New("cannot remove the last admin user")
	// ErrTimeOutOfRange refuses a shard group for a timestamp outside
	// [MinNanoTime, MaxNanoTime], with InfluxDB's wording.
	ErrTimeOutOfRange = fmt.Errorf("time outside range %d - %d", MinNanoTime, MaxNanoTime)
	// ErrFeatureLevel refuses a command that some meta node could not
	// apply: one above the cluster's feature level, a raise of the level
	// that a member does not support, a field this node does not know (a
	// newer client), or a new member whose binary is below the level.
	ErrFeatureLevel = errors.New("meta: command needs a feature level the cluster does not run at")
)

// errorTable maps every error that crosses the wire to a stable reason and a
// gRPC code. Both the server (to status) and the client (back to the
// sentinel) use it, so no error is ever matched by its text.
var errorTable = []errorEntry{
	{ErrUserExists, "user_exists", codes.AlreadyExists},
	{ErrUserNotFound, "user_not_found", codes.NotFound},
	{ErrUsernameRequired, "username_required", codes.InvalidArgument},
	{ErrPasswordRequired, "password_required", codes.InvalidArgument},
	{ErrDatabaseNameRequired, "database_name_required", codes.InvalidArgument},
	{ErrDatabaseNotFound, "database_not_found", codes.NotFound},
	{ErrRetentionPolicyRequired, "rp_name_required", codes.InvalidArgument},
	{ErrRetentionPolicyExists, "rp_exists", codes.AlreadyExists},
	{ErrRetentionPolicyNotFound, "rp_not_found", codes.NotFound},
	{ErrRetentionPolicyConflict, "rp_conflict", codes.FailedPrecondition},
	{ErrRetentionPolicyDuration, "rp_duration", codes.InvalidArgument},
	{ErrReplicationFactor, "replication_factor", codes.InvalidArgument},
	{ErrShardGroupNotFound, "shard_group_not_found", codes.NotFound},
	{ErrContinuousQueryExists, "cq_exists", codes.AlreadyExists},
	{ErrContinuousQueryRequired, "cq_required", codes.InvalidArgument},
	{ErrNodeNotFound, "node_not_found", codes.NotFound},
	{ErrSecretIDRequired, "secret_id_required", codes.InvalidArgument},
	{ErrSecretTooShort, "secret_too_short", codes.InvalidArgument},
	{ErrSecretExists, "secret_exists", codes.AlreadyExists},
	{ErrSecretNotFound, "secret_not_found", codes.NotFound},
	{ErrInvalidPrivilege, "invalid_privilege", codes.InvalidArgument},
	{ErrInvalidCommand, "invalid_command", codes.InvalidArgument},
	{ErrPlaintextPassword, "plaintext_password", codes.InvalidArgument},
	{ErrInvalidHash, "invalid_hash", codes.InvalidArgument},
	{ErrNotLeader, "not_leader", codes.Unavailable},
	{ErrNoLeader, "no_leader", codes.Unavailable},
	{ErrClosed, "closed", codes.Unavailable},
	{ErrLastMetaNode, "last_meta_node", codes.FailedPrecondition},
	{ErrAdminExists, "admin_exists", codes.FailedPrecondition},
	{ErrLastAdmin, "last_admin", codes.FailedPrecondition},
	{ErrTimeOutOfRange, "time_out_of_range", codes.InvalidArgument},
	{ErrFeatureLevel, "feature_level", codes.FailedPrecondition},
	{auth.ErrPasswordTooLong, "password_too_long", codes.InvalidArgument},
}

type errorEntry struct {
	err    error
	reason string
	code   codes.Code
}

// CommandError is an error from a command that reached the Raft log and was
// refused by the state machine: Index is where it was committed.
type CommandError struct {
	Index uint64
	Err   error
}

func (e *CommandError) Error() string { return e.Err.Error() }
func (e *CommandError) Unwrap() error { return e.Err }

// NotLeaderError says which node leads, when known.
type NotLeaderError struct {
	LeaderRPCAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderRPCAddr == "" {
		return ErrNotLeader.Error()
	}
	return fmt.Sprintf("%s (leader is %s)", ErrNotLeader, e.LeaderRPCAddr)
}
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// remoteError is an error decoded from a status: its text is the server's,
// and it matches the sentinel with errors.Is.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// ToStatus converts an error to a gRPC status error through errorTable.
// Errors not in the table become codes.Internal (or the context's code).
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	detail := &metapb.ErrorDetail{}
	var ce *CommandError
	if errors.As(err, &ce) {
		detail.Index = ce.Index
	}
	var nl *NotLeaderError
	if errors.As(err, &nl) {
		detail.LeaderRpcAddr = nl.LeaderRPCAddr
	}
	code := codes.Internal
	if e := tableEntry(err); e != nil {
		code, detail.Reason = e.code, e.reason
	}
	if detail.Reason == "" {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			code = codes.DeadlineExceeded
		case errors.Is(err, context.Canceled):
			code = codes.Canceled
		}
	}
	st := status.New(code, err.Error())
	if withDetail, derr := st.WithDetails(detail); derr == nil {
		st = withDetail
	}
	return st.Err()
}

// FromStatus converts a status error from a MetaService RPC back into a Go
// error that matches the sentinels with errors.Is and carries the index.
func FromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return err
	}
	var detail *metapb.ErrorDetail
	for _, d := range st.Details() {
		if ed, ok := d.(*metapb.ErrorDetail); ok {
			detail = ed
		}
	}
	if detail == nil {
		return err
	}
	var out error = err
	if sentinel := sentinelOf(detail.Reason); sentinel != nil {
		out = &remoteError{msg: st.Message(), sentinel: sentinel}
	}
	if detail.Reason == "not_leader" {
		out = &NotLeaderError{LeaderRPCAddr: detail.LeaderRpcAddr}
	}
	if detail.Index > 0 {
		out = &CommandError{Index: detail.Index, Err: out}
	}
	return out
}

// tableEntry returns the errorTable entry that err matches, or nil.
func tableEntry(err error) *errorEntry {
	for i := range errorTable {
		if errors.Is(err, errorTable[i].err) {
			return &errorTable[i]
		}
	}
	return nil
}

// reasonOf returns the stable reason of err, "" when errorTable has none.
func reasonOf(err error) string {
	if e := tableEntry(err); e != nil {
		return e.reason
	}
	return ""
}

// sentinelOf returns the sentinel error of a reason, nil when unknown.
func sentinelOf(reason string) error {
	if reason == "" {
		return nil
	}
	for _, e := range errorTable {
		if e.reason == reason {
			return e.err
		}
	}
	return nil
}
