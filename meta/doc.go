// Package meta is the meta node: the Raft-replicated cluster state (users,
// bcrypt hashes, privileges, JWT secrets, databases, retention policies,
// shards, node membership), the state machine that applies commands to it,
// and the MetaService gRPC server and client.
//
// The state is one immutable *metapb.Data published through an
// atomic.Pointer: readers never lock, and a snapshot is the current pointer.
// See DESIGN.md for what the package promises and why.
package meta
