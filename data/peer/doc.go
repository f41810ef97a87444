// Package peer is the client side of the node-to-node data service: the
// other data nodes by ID (Peers, over cluster's pooled, authenticated
// connections), the data service's error table (errors.go: each typed
// error and its status code, in both directions), and Cluster, what every
// cluster part of a data node works with.
//
// It may import cluster, data/metastate and the protobuf packages; no other
// package of data/, and not the engine.
package peer
