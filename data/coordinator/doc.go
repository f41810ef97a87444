// Package coordinator is a cluster data node's write path: the Writer that
// maps points to shards and writes each shard's points to all its owners
// (this node's engine, the others over the data service) to the
// consistency level asked for, the hinted-handoff queues of owners that do
// not answer (Hints, hintSender), the ordering of deletes behind the writes
// sent before them (sendTickets, DeleteEverywhere, OrderDelete), and the
// points' line-protocol encoding between nodes (pointcodec.go).
//
// It may import data/peer, data/metastate, data/hh and the engine; not the
// query side (data/remote), the data service, nor the node.
package coordinator
