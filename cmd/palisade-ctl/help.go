package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// helpText describes one command for the help output.
type helpText struct {
	name    string // "user create"
	args    string // "<name> [-password p] [-admin]"
	summary string
	details string
}

// helpTexts lists every command, in the order the help shows them.
var helpTexts = []helpText{
	{name: "show", summary: "show the meta nodes, the Raft leader and the data nodes",
		details: `Asks every meta node in the cluster state for its status (nodes that do not
answer are shown as unreachable) and shows the leader's Raft term and commit
and applied indexes, then the data nodes with their last heartbeat as the
leader saw it (heartbeats are kept in the leader's memory only).`},
	{name: "show-shards", summary: "list every shard with its owners",
		details: `Lists each shard of the cluster state: its ID, database, retention policy,
shard group, the group's start and end (RFC 3339, UTC; the end is exclusive),
its owners and, for a shard group that was deleted, when. Owners are data node
IDs with their state: active (serves reads and writes), joining (receives
writes, serves no reads yet) or leaving (gets no new writes), e.g.
2(active),3(joining). A shard has as many owners as its retention policy's
replication factor, at most the number of data nodes when its group was
created; a removed data node no longer owns any shard.`},
	{name: "add-meta", args: "<new-node-grpc-addr>", summary: "add a meta node to the Raft cluster",
		details: `Start the new node first, with [meta] peers naming the existing nodes (and not
itself) and an empty [meta] dir: it then waits to be added. add-meta asks it
for its Raft address and adds it as a voter.`},
	{name: "remove-meta", args: "<raft-or-grpc-addr>", summary: "remove a meta node from the Raft cluster",
		details: `The node is named by its Raft address or its gRPC address, as 'show' lists them.`},
	{name: "remove-data", args: "<id>", summary: "remove a data node (by ID, as 'show' lists it)",
		details: `The node stops owning any shard; its data is not moved.`},
	{name: "user", args: "<create|list|drop|passwd|grant|revoke|admin> ...", summary: "manage users"},
	{name: "user create", args: "<name> [-password p] [-admin]", summary: "create a user",
		details: passwordHelp},
	{name: "user list", summary: "list users with their admin flag and privileges"},
	{name: "user drop", args: "<name>", summary: "drop a user"},
	{name: "user passwd", args: "<name> [-password p]", summary: "set a user's password",
		details: passwordHelp},
	{name: "user grant", args: "<name> <db> <READ|WRITE|ALL>", summary: "grant a privilege on a database",
		details: `The database must exist. The new privilege replaces the one the user had on it.`},
	{name: "user revoke", args: "<name> <db>", summary: "revoke every privilege on a database"},
	{name: "user admin", args: "<name> <true|false>", summary: "make a user admin, or not"},
	{name: "secret", args: "<add|list|remove> ...", summary: "manage the shared secrets that sign client JWTs"},
	{name: "secret add", args: "[-id ID] [-value-file F]", summary: "add a JWT secret",
		details: `-id defaults to a random short id. Without -value-file, a random 43-character
secret is generated and printed once; it cannot be shown again. Clients sign
their JWTs (HS256/384/512) with the secret string as it is. -value-file reads
the secret from a file ("-": stdin), without its trailing newline; it must be
at least 16 bytes long. Several secrets may be active at once, so that one can
be rotated without downtime.
These secrets are not the internal shared secret (-secret), which protects
node-to-node traffic.`},
	{name: "secret list", summary: "list JWT secrets (ids and creation times, never values)"},
	{name: "secret remove", args: "<id>", summary: "remove a JWT secret"},
	{name: "token", args: "-user U [-exp 1h] [-secret-id ID]", summary: "mint a JWT for a user",
		details: `Signs an HS256 JWT with claims username and exp, using the newest JWT secret
of the cluster (or the one named by -secret-id). The user must exist.
Send it as "Authorization: Bearer <token>".`},
	{name: "help", args: "[command]", summary: "show this help, or a command's"},
}

const passwordHelp = `Without -password, the password is read from the first line of stdin. There
is no hidden prompt: when stdin is a terminal, what you type is visible, so
prefer piping it (e.g. from a password manager). A password given with
-password is visible to other local users in the process list.`

const globalHelp = `Global flags (before or after the command):
  -bind host:port[,host:port...]
        meta node gRPC addresses (default "localhost:8091")
  -secret s
        internal shared secret of the meta nodes ([meta] internal-shared-secret);
        default from $INFLUXDB_META_INTERNAL_SHARED_SECRET (prefer it: flags
        are visible in the process list)
  -tls  connect with TLS
  -insecure-tls
        connect with TLS without verifying certificates
  -timeout duration
        give up after this long (default 10s)`

func helpFor(name string) helpText {
	for _, h := range helpTexts {
		if h.name == name {
			return h
		}
	}
	return helpText{name: name}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: palisade-ctl [global flags] <command> [args]\n\nCommands:\n")
	for _, h := range helpTexts {
		if h.name == "user" || h.name == "secret" {
			continue
		}
		fmt.Fprintf(w, "  %-44s %s\n", strings.TrimSpace(h.name+" "+h.args), h.summary)
	}
	fmt.Fprintf(w, "\n%s\n\nRun 'palisade-ctl help <command>' or 'palisade-ctl <command> -h' for details.\n", globalHelp)
}

func printCommandHelp(w io.Writer, name string) {
	h := helpFor(name)
	fmt.Fprintf(w, "Usage: palisade-ctl %s\n\n%s.\n", strings.TrimSpace(h.name+" "+h.args), capitalize(h.summary))
	var subs []helpText
	for _, s := range helpTexts {
		if strings.HasPrefix(s.name, name+" ") {
			subs = append(subs, s)
		}
	}
	if len(subs) > 0 {
		fmt.Fprintln(w, "\nCommands:")
		for _, s := range subs {
			fmt.Fprintf(w, "  %-44s %s\n", strings.TrimSpace(s.name+" "+s.args), s.summary)
		}
	}
	if h.details != "" {
		fmt.Fprintf(w, "\n%s\n", h.details)
	}
	fmt.Fprintf(w, "\n%s\n", globalHelp)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// help prints the usage, or the help of the command its arguments name.
func help(_ context.Context, x *call) error {
	if len(x.args) == 0 {
		printUsage(x.stdout)
		return nil
	}
	name := strings.Join(x.args, " ")
	for _, h := range helpTexts {
		if h.name == name {
			printCommandHelp(x.stdout, name)
			return nil
		}
	}
	return usageErr("", "help: unknown command %q", name)
}
