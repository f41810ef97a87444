package data

import "github.com/influxdata/influxdb/tsdb"

// EngineStore exposes the node's storage engine to the tests of package
// data_test.
func (n *Node) EngineStore() *tsdb.Store { return n.engine.Store }

// HintsPending reports whether this node holds queued points for node.
func (n *Node) HintsPending(node uint64) bool { return n.hints != nil && n.hints.svc.Pending(node) }
