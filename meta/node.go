package meta

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"
)

// Node is a running meta node: a Store and the MetaService gRPC server.
type Node struct {
	Store *Store
	srv   *grpc.Server
	ln    net.Listener
	done  chan error
	once  sync.Once
}

// NodeConfig configures OpenNode.
type NodeConfig struct {
	Store Config
	// RPCListener, when set, serves the MetaService; otherwise RPCBind is listened on.
	RPCListener net.Listener
	RPCBind     string
	Server      ServerOptions
}

// OpenNode opens the store and starts serving the MetaService.
func OpenNode(cfg NodeConfig) (*Node, error) {
	ln := cfg.RPCListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.RPCBind); err != nil {
			return nil, fmt.Errorf("meta: listening for gRPC on %s: %w", cfg.RPCBind, err)
		}
	}
	if cfg.Server.Logger == nil {
		cfg.Server.Logger = cfg.Store.Logger
	}
	store, err := Open(cfg.Store)
	if err != nil {
		ln.Close()
		return nil, err
	}
	n := &Node{Store: store, ln: ln, done: make(chan error, 1)}
	n.srv = NewGRPCServer(store, cfg.Server)
	go func() { n.done <- Serve(n.srv, ln) }()
	return n, nil
}

// Done is sent the gRPC server's error (nil on a normal stop) when it stops.
func (n *Node) Done() <-chan error { return n.done }

// Close stops serving and closes the store.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		// Stop makes open Watch streams end; GracefulStop would wait on them.
		n.srv.Stop()
		err = errors.Join(n.Store.Close())
	})
	return err
}
