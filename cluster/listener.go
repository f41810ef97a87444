package cluster

import (
	"net"
	"sync"
	"sync/atomic"
)

// DefaultMaxConnsPerHost bounds the connections one address may hold open
// to a node-to-node port. A peer node keeps one pooled connection (a few
// while one is being replaced); palisade-ctl and probes open one per call.
const DefaultMaxConnsPerHost = 64

// LimitListener returns ln accepting at most perHost open connections from
// one IP address: a further connection from that address is closed as soon
// as it is accepted, before a byte is read, and counted in Refused. So a
// single host cannot hold thousands of connections, each with its HTTP/2
// and TLS buffers, open against a node. perHost ≤ 0 means
// DefaultMaxConnsPerHost.
func LimitListener(ln net.Listener, perHost int) *LimitedListener {
	if perHost <= 0 {
		perHost = DefaultMaxConnsPerHost
	}
	return &LimitedListener{Listener: ln, perHost: perHost, open: map[string]int{}}
}

// LimitedListener is LimitListener's listener.
type LimitedListener struct {
	net.Listener
	perHost int
	// Refused counts connections closed for being over the limit.
	Refused atomic.Int64

	mu   sync.Mutex
	open map[string]int // IP → open connections
}

// Accept returns the next connection within the limit.
func (l *LimitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := hostOf(c.RemoteAddr())
		l.mu.Lock()
		if l.open[host] >= l.perHost {
			l.mu.Unlock()
			l.Refused.Add(1)
			c.Close()
			continue
		}
		l.open[host]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, release: func() { l.release(host) }}, nil
	}
}

func (l *LimitedListener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[host]--; l.open[host] <= 0 {
		delete(l.open, host)
	}
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

// limitedConn gives its place back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
