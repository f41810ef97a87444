// Package cluster holds what Palisade nodes share to talk to each other over
// gRPC: dialing with optional TLS, and the internal-shared-secret token that
// every node-to-node RPC carries when the secret is configured.
package cluster
