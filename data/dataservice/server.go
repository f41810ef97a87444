package dataservice

import (
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxdb/models"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/proto/datapb"
)

// ServerConfig says how the data service is served.
type ServerConfig struct {
	// Listener is where it listens ([cluster] bind-address).
	Listener net.Listener
	// Secret is the internal shared secret every call must carry a token
	// of; Advertised is the address the other nodes dial (the token's
	// target).
	Secret, Advertised string
	// TLS, when set, serves TLS ([cluster] https-enabled).
	TLS    credentials.TransportCredentials
	Logger *slog.Logger
}

// Server serves a Service on its listener with the node-to-node guards
// (cluster.NewServer: the internal token checked on headers before a
// message is read, bounded streams and connections per client, recovered
// panics).
type Server struct {
	srv     *grpc.Server
	ln      net.Listener
	stats   *cluster.ServerStats
	refused *atomic.Int64
	log     *slog.Logger
}

// Serve starts serving svc as cfg says; Close stops it.
func Serve(svc *Service, cfg ServerConfig) *Server {
	limited := cluster.LimitListener(cfg.Listener, 0)
	srv, stats := cluster.NewServer(cluster.ServerConfig{
		Secret:         cfg.Secret,
		Names:          []string{cfg.Advertised},
		TLS:            cfg.TLS,
		MaxRecvMsgSize: 256 << 20,
		MaxSendMsgSize: 256 << 20,
		Logger:         cfg.Logger,
		Component:      "data",
		Errors:         peer.Status,
	})
	datapb.RegisterDataServiceServer(srv, svc)
	s := &Server{srv: srv, ln: limited, stats: stats, refused: &limited.Refused, log: cfg.Logger}
	go func() {
		if err := srv.Serve(limited); err != nil {
			s.log.Error("data service stopped", "err", err)
		}
	}()
	return s
}

// Addr is the address the service listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close lets in-flight calls finish, at most for timeout, then stops.
func (s *Server) Close(timeout time.Duration) {
	done := make(chan struct{})
	go func() { s.srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		s.srv.Stop()
	}
}

// Statistics is the "rpc" statistic: what the guards refused and
// recovered.
func (s *Server) Statistics() []models.Statistic {
	return []models.Statistic{{Name: "rpc", Values: map[string]any{
		"unauthenticated": s.stats.Refused.Load(), "panics": s.stats.Panics.Load(),
		"connectionsRefused": s.refused.Load(),
	}}}
}
