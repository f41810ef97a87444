package data

import "github.com/influxdata/influxdb/tsdb"

// EngineStore exposes the node's storage engine to the tests of package
// data_test.
func (n *Node) EngineStore() *tsdb.Store { return n.engine.Store }
