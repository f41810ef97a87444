// Package dataservice is the gRPC server of the data service on [cluster]
// bind-address (proto/data.proto): WriteShard, OrderDelete, ReadShards,
// ShardMeta, Metadata, NodeUp. Its handlers are thin: they check a request
// against this node's meta state (the sender's index reached, the shard
// owned, the user allowed) and hand the work to data/coordinator and
// data/remote; errors are data/peer's, answered as their status codes.
//
// It may import data/peer, data/metastate, data/coordinator, data/remote
// and the engine; not the node.
package dataservice
