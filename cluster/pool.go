package cluster

import (
	"errors"
	"sync"

	"google.golang.org/grpc"
)

// ErrPoolClosed is returned by Pool.Get after Pool.Close.
var ErrPoolClosed = errors.New("cluster: connection pool closed")

// Pool keeps one gRPC client connection per address, dialed with the same
// DialOptions (see Dial). Connections are made on first use and kept until
// Forget or Close. A Pool is safe for concurrent use.
type Pool struct {
	opts DialOptions

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

// NewPool returns an empty pool whose connections are dialed with o.
func NewPool(o DialOptions) *Pool {
	return &Pool{opts: o, conns: map[string]*grpc.ClientConn{}}
}

// Get returns the connection to addr, dialing it on the first call. Every
// caller asking for the same addr gets the same connection until Forget.
// Dial does not block, so neither does Get.
func (p *Pool) Get(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrPoolClosed
	}
	if conn, ok := p.conns[addr]; ok {
		return conn, nil
	}
	conn, err := Dial(addr, p.opts)
	if err != nil {
		return nil, err
	}
	p.conns[addr] = conn
	return conn, nil
}

// Forget closes the connection to addr, if there is one, and drops it from
// the pool (a node was removed); a later Get dials afresh. RPCs in flight on
// that connection fail with codes.Canceled.
func (p *Pool) Forget(addr string) {
	p.mu.Lock()
	conn, ok := p.conns[addr]
	delete(p.conns, addr)
	p.mu.Unlock()
	if ok {
		conn.Close()
	}
}

// Close closes every connection. Get fails with ErrPoolClosed afterwards;
// closing again does nothing.
func (p *Pool) Close() error {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[string]*grpc.ClientConn{}
	p.closed = true
	p.mu.Unlock()
	var errs []error
	for _, conn := range conns {
		errs = append(errs, conn.Close())
	}
	return errors.Join(errs...)
}
