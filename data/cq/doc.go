// Package cq runs the continuous queries of the meta state (Service): on
// the node that holds their lease, each when it is due (schedule.go), as
// its owner, recording the last runs in the meta state.
//
// It may import data/peer (the node's Cluster), data/metastate,
// data/httpd (the authorizers a query runs with), auth and internal/qlimit;
// not the engine's wiring (it gets an executor) nor the node.
package cq
