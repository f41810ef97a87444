// Package data is the data node: its services in the order they open
// (node.go) and their wiring, nothing else. Each concern has its own
// package under data/ (see DESIGN.md, "Rooms: where is X"):
//
//   - metastate: the node's copy of the meta state (view, follower, state
//     file);
//   - engine: the embedded InfluxDB engine and its meta client;
//   - peer: the other data nodes, the data service's errors, and Cluster,
//     what every cluster part works with;
//   - coordinator: the write path (owners, consistency, hinted handoff,
//     delete ordering);
//   - remote: the query side (shard mapper, remote reads, cluster store);
//   - dataservice: the gRPC server the other data nodes call;
//   - cq, provision, monitoring, hh, httpd.
//
// imports_test.go holds which of them may import which.
package data
