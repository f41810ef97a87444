// Package metastate is a data node's copy of the meta state: the View that
// readers load without locks (with the engine's types made once per
// version), the Shards found by ID in it, and, on a cluster node, the
// Follower that registers the node, follows MetaService.Watch, heartbeats,
// and keeps the last state and the node's identity in [meta] dir
// (state.pb, node.json).
//
// It may import meta (the state's helpers), cluster (dialing, sleeping) and
// the engine's meta types; no other package of data/.
package metastate
