// Package remote is a cluster data node's query side: the ShardMapper that
// reads each shard of a statement from one of its owners (this node's
// engine, or a ReadShards stream from another node), with failover; the
// point stream and its frames (pointstream.go, readwire.go); the TSDBStore
// that answers SHOW MEASUREMENTS, tag keys and values and cardinalities
// from every owner; and the owner's side of a remote read (serve.go).
//
// It may import data/peer, data/metastate, data/coordinator (deletes) and
// the engine; not the data service nor the node.
package remote
