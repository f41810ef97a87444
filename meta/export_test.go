package meta

// Crash stops n the way a killed process stops: the gRPC server and Raft shut
// down at once, without handing leadership over (Close transfers it first).
// The files stay, so the node can be started again on the same directory.
func (n *Node) Crash() error {
	var err error
	n.once.Do(func() {
		n.srv.Stop()
		close(n.Store.closed)
		n.Store.wg.Wait()
		err = n.Store.closeResources()
	})
	return err
}
