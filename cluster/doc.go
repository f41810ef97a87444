// Package cluster holds what Palisade nodes share to talk to each other:
// gRPC dialing with optional TLS (Dial) and one connection per peer (Pool);
// retrying with a capped, jittered backoff (Retry, Backoff) and telling a
// peer that could not be reached from a peer that answered (Unreachable);
// the internal-shared-secret token that every node-to-node RPC carries when
// the secret is configured (bound to the RPC's method and to the node it goes
// to, used once, checked by Authenticator); the gRPC server both kinds of node
// serve (NewServer: the token checked on headers before a message is read,
// bounded streams and headers, recovered panics) and its listener
// (LimitListener: connections per client address); and the Raft stream handshake (NewRaftListener, DialRaft)
// that makes both ends of every connection to a meta node's Raft port prove
// they know the secret, inside TLS when it is on, before Raft reads a byte.
//
// Nothing here logs a secret, a token, a nonce or a MAC, and no error carries
// one.
package cluster
