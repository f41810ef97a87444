package main

import (
	"bytes"
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

const testSecret = "ctl-test-internal-secret"

// result is what one run of palisade-ctl produced.
type result struct {
	code           int
	stdout, stderr string
}

// ctl runs palisade-ctl in-process with stdin and env.
func ctl(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr, env)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("palisade-ctl %s → %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, r.stdout, r.stderr)
	return r
}

// mustOK fails the test unless r succeeded.
func mustOK(t *testing.T, r result) result {
	t.Helper()
	if r.code != exitOK {
		t.Fatalf("exit code %d, want 0; stderr: %s", r.code, r.stderr)
	}
	return r
}

// mustFail fails the test unless r exited with code and stderr contains every want.
func mustFail(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d; stderr: %s", r.code, code, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Fatalf("stderr %q does not contain %q", r.stderr, w)
		}
	}
}

func mustContain(t *testing.T, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Fatalf("output does not contain %q:\n%s", w, s)
		}
	}
}

func mustNotContain(t *testing.T, s string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(s, b) {
			t.Fatalf("output contains %q:\n%s", b, s)
		}
	}
}

// testCtl is a cluster and the arguments that point palisade-ctl at it.
type testCtl struct {
	c    *testcluster.Cluster
	bind []string
}

func newTestCtl(t *testing.T, nodes int) *testCtl {
	t.Helper()
	c := testcluster.New(t, testcluster.Options{Meta: nodes, Secret: testSecret})
	return &testCtl{c: c, bind: []string{"-bind", strings.Join(c.RPCAddrs(), ","), "-secret", testSecret}}
}

// run runs palisade-ctl against the cluster.
func (tc *testCtl) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := ctl(t, stdin, nil, append(append([]string{}, tc.bind...), args...)...)
	mustNotContain(t, r.stdout+r.stderr, testSecret)
	return r
}

// data returns the state as the leader has it, once every node has applied
// the leader's last index.
func (tc *testCtl) data(t *testing.T) *metapb.Data {
	t.Helper()
	l := tc.c.WaitForLeader()
	tc.c.WaitForIndex(l.Store.State().Applied)
	return l.Store.Data()
}

func (tc *testCtl) execute(t *testing.T, cmd *metapb.Command) {
	t.Helper()
	resp, err := tc.c.Execute(tc.c.LeaderIndex(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	tc.c.WaitForIndex(resp.Index)
}

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestHelp(t *testing.T) {
	t.Parallel()
	r := mustOK(t, ctl(t, "", nil, "help"))
	for _, h := range helpTexts {
		mustContain(t, r.stdout, h.name)
	}
	mustContain(t, r.stdout, "-bind", "-secret", "-tls", "-insecure-tls", "-timeout", secretEnv)

	r = mustOK(t, ctl(t, "", nil, "help", "user", "grant"))
	mustContain(t, r.stdout, "Usage: palisade-ctl user grant <name> <db> <READ|WRITE|ALL>")

	for _, args := range [][]string{
		{"show", "-h"}, {"show-shards", "-h"}, {"add-meta", "-h"}, {"remove-meta", "-h"}, {"remove-data", "-h"},
		{"user", "-h"}, {"user", "create", "-h"}, {"user", "list", "-h"}, {"user", "drop", "-h"},
		{"user", "passwd", "-h"}, {"user", "grant", "-h"}, {"user", "revoke", "-h"}, {"user", "admin", "-h"},
		{"secret", "-h"}, {"secret", "add", "-h"}, {"secret", "list", "-h"}, {"secret", "remove", "-h"},
		{"token", "-h"}, {"-h"},
	} {
		r := ctl(t, "", nil, args...)
		if r.code != exitOK {
			t.Fatalf("%v: exit code %d", args, r.code)
		}
		if args[0] != "-h" {
			mustContain(t, r.stdout, "Usage: palisade-ctl "+strings.Join(args[:len(args)-1], " "))
		}
	}
	// The password help says that input is not hidden.
	r = mustOK(t, ctl(t, "", nil, "user", "create", "-h"))
	mustContain(t, r.stdout, "first line of stdin", "visible")
}

// TestUsageErrors covers mistakes found before any meta node is contacted:
// -bind points nowhere, so reaching one would fail the test differently.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	bind := closedAddr(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "Usage: palisade-ctl"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"-nope", "show"}, "flag provided but not defined: -nope"},
		{[]string{"help", "nope"}, `help: unknown command "nope"`},
		{[]string{"show", "extra"}, `show: unexpected argument "extra"`},
		{[]string{"show", "-nope"}, "show: flag provided but not defined: -nope"},
		{[]string{"add-meta"}, "add-meta: missing argument"},
		{[]string{"add-meta", "a:1", "b:2"}, `add-meta: unexpected argument "b:2"`},
		{[]string{"remove-meta"}, "remove-meta: missing argument"},
		{[]string{"remove-data"}, "remove-data: missing argument"},
		{[]string{"remove-data", "x"}, `remove-data: invalid data node ID "x"`},
		{[]string{"remove-data", "0"}, `remove-data: invalid data node ID "0"`},
		{[]string{"user"}, "user: missing subcommand"},
		{[]string{"user", "frob"}, `user: unknown subcommand "frob"`},
		{[]string{"user", "create"}, "user create: missing argument"},
		{[]string{"user", "create", "bob", "-password"}, "flag needs an argument: -password"},
		{[]string{"user", "drop"}, "user drop: missing argument"},
		{[]string{"user", "passwd"}, "user passwd: missing argument"},
		{[]string{"user", "grant", "bob", "db"}, "user grant: missing argument"},
		{[]string{"user", "grant", "bob", "db", "EVERYTHING"}, `user grant: invalid privilege "EVERYTHING" (want READ, WRITE or ALL)`},
		{[]string{"user", "revoke", "bob"}, "user revoke: missing argument"},
		{[]string{"user", "admin", "bob"}, "user admin: missing argument"},
		{[]string{"user", "admin", "bob", "maybe"}, `user admin: invalid value "maybe" (want true or false)`},
		{[]string{"secret"}, "secret: missing subcommand"},
		{[]string{"secret", "frob"}, `secret: unknown subcommand "frob"`},
		{[]string{"secret", "add", "extra"}, `secret add: unexpected argument "extra"`},
		{[]string{"secret", "remove"}, "secret remove: missing argument"},
		{[]string{"token"}, "token: -user required"},
		{[]string{"token", "-user", "bob", "-exp", "0s"}, "token: -exp must be positive"},
		{[]string{"token", "-user", "bob", "-exp", "soon"}, `invalid value "soon" for flag -exp`},
		{[]string{"show", "-timeout", "0s"}, "-timeout must be positive"},
		{[]string{"-bind", ",", "show"}, "-bind: no meta node address given"},
		// No password on stdin.
		{[]string{"user", "create", "bob"}, "no password: give -password, or write it as the first line of stdin"},
		{[]string{"user", "passwd", "bob"}, "no password"},
	} {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			args := append([]string{"-bind", bind}, tt.args...)
			if tt.args != nil && tt.args[0] == "-bind" {
				args = tt.args
			}
			r := ctl(t, "", nil, args...)
			mustFail(t, r, exitUsage, tt.want)
			if tt.args != nil {
				mustContain(t, r.stderr, "palisade-ctl help")
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	bind := closedAddr(t)
	for _, args := range [][]string{
		{"show"},
		{"user", "list"},
		{"user", "create", "bob", "-password", "pw"},
		{"secret", "add"},
		{"token", "-user", "bob"},
		{"remove-data", "3"},
	} {
		r := ctl(t, "", nil, append([]string{"-bind", bind, "-timeout", "5s"}, args...)...)
		mustFail(t, r, exitFail, "palisade-ctl: cannot reach any meta node at "+bind+": ", "connection refused")
	}
	// The default address.
	r := ctl(t, "", nil, "user", "list", "-timeout", "5s")
	if r.code != exitFail || !strings.HasPrefix(r.stderr, "palisade-ctl: cannot reach any meta node at localhost:8091: ") {
		// Something may listen on localhost:8091 on this machine; then the
		// answer is some other failure, which is fine too.
		if r.code == exitOK {
			t.Fatalf("user list against localhost:8091 succeeded")
		}
	}
}

func TestWrongSecret(t *testing.T) {
	t.Parallel()
	tc := newTestCtl(t, 3)
	bind := strings.Join(tc.c.RPCAddrs(), ",")
	for _, tt := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"wrong flag", []string{"-secret", "not-the-secret"}, nil, "internal shared secret is wrong"},
		{"wrong env", nil, []string{secretEnv + "=not-the-secret"}, "internal shared secret is wrong"},
		{"missing", nil, nil, "internal shared secret is missing"},
		{"flag overrides env", []string{"-secret", "not-the-secret"}, []string{secretEnv + "=" + testSecret}, "internal shared secret is wrong"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, cmd := range [][]string{{"show"}, {"user", "list"}, {"user", "create", "bob", "-password", "pw"}} {
				args := append(append([]string{"-bind", bind}, tt.args...), cmd...)
				r := ctl(t, "", tt.env, args...)
				mustFail(t, r, exitFail, "palisade-ctl: the meta node refused the request: the "+tt.want, secretEnv)
				mustNotContain(t, r.stderr, testSecret, "not-the-secret")
			}
		})
	}
	// The secret from the environment works, and so does the flag after the command.
	mustOK(t, ctl(t, "", []string{secretEnv + "=" + testSecret}, "-bind", bind, "user", "list"))
	mustOK(t, ctl(t, "", nil, "user", "list", "-bind", bind, "-secret", testSecret))
}

func TestUsers(t *testing.T) {
	t.Parallel()
	tc := newTestCtl(t, 3)
	const alicePW, bobPW, bobPW2 = "alice-pw-1", "bob-pw-from-stdin", "bob-pw-2"

	// Create with -password (flags after the name), and with the password on stdin.
	r := mustOK(t, tc.run(t, "", "user", "create", "alice", "-password", alicePW, "-admin"))
	mustContain(t, r.stdout, "Created admin user alice.")
	r = mustOK(t, tc.run(t, bobPW+"\nignored second line\n", "user", "create", "bob"))
	mustContain(t, r.stdout, "Created user bob.")
	// A password without a trailing newline, and with CRLF.
	mustOK(t, tc.run(t, "carol-pw", "user", "create", "carol"))
	mustOK(t, tc.run(t, "dave-pw\r\n", "user", "create", "-admin", "dave"))

	d := tc.data(t)
	for name, pw := range map[string]string{"alice": alicePW, "bob": bobPW, "carol": "carol-pw", "dave": "dave-pw"} {
		u := meta.FindUser(d, name)
		if u == nil {
			t.Fatalf("user %s not created", name)
		}
		if !authCheck(u.Hash, pw) {
			t.Fatalf("user %s: password not as given", name)
		}
	}
	if !meta.FindUser(d, "alice").Admin || meta.FindUser(d, "bob").Admin || !meta.FindUser(d, "dave").Admin {
		t.Fatalf("admin flags wrong")
	}

	// Creating again with the same password and flag is fine (InfluxDB does so);
	// with another password it is an error.
	mustOK(t, tc.run(t, "", "user", "create", "alice", "-password", alicePW, "-admin"))
	r = tc.run(t, "", "user", "create", "alice", "-password", "other")
	mustFail(t, r, exitFail, "palisade-ctl: user alice already exists")

	r = tc.run(t, "", "user", "create", "eve", "-password", strings.Repeat("x", 73))
	mustFail(t, r, exitFail, "password longer than 72 bytes")
	r = tc.run(t, "", "user", "create", "eve", "-password", "")
	mustFail(t, r, exitFail, "password required")

	// Grants need an existing database.
	r = tc.run(t, "", "user", "grant", "bob", "telegraf", "READ")
	mustFail(t, r, exitFail, "palisade-ctl: database telegraf not found")
	tc.execute(t, &metapb.Command{Op: &metapb.Command_CreateDatabase{CreateDatabase: &metapb.CreateDatabase{Name: "telegraf"}}})
	tc.execute(t, &metapb.Command{Op: &metapb.Command_CreateDatabase{CreateDatabase: &metapb.CreateDatabase{Name: "app"}}})
	r = mustOK(t, tc.run(t, "", "user", "grant", "bob", "telegraf", "read"))
	mustContain(t, r.stdout, "Granted READ on telegraf to user bob.")
	mustOK(t, tc.run(t, "", "user", "grant", "bob", "app", "ALL"))
	mustOK(t, tc.run(t, "", "user", "grant", "carol", "app", "WRITE"))
	r = tc.run(t, "", "user", "grant", "nobody", "app", "WRITE")
	mustFail(t, r, exitFail, "palisade-ctl: user nobody not found")

	r = mustOK(t, tc.run(t, "", "user", "list"))
	mustContain(t, r.stdout, "User", "Admin", "Privileges")
	mustNotContain(t, r.stdout, "$2a$", "$2b$", alicePW, bobPW)
	mustMatch(t, r.stdout, `(?m)^alice\s+true\s+-$`)
	mustMatch(t, r.stdout, `(?m)^bob\s+false\s+app:ALL, telegraf:READ$`)
	mustMatch(t, r.stdout, `(?m)^carol\s+false\s+app:WRITE$`)

	// Revoke, admin.
	r = mustOK(t, tc.run(t, "", "user", "revoke", "bob", "app"))
	mustContain(t, r.stdout, "Revoked every privilege on app from user bob.")
	r = mustOK(t, tc.run(t, "", "user", "admin", "bob", "true"))
	mustContain(t, r.stdout, "User bob is now admin.")
	r = mustOK(t, tc.run(t, "", "user", "admin", "alice", "false"))
	mustContain(t, r.stdout, "User alice is no longer admin.")
	r = tc.run(t, "", "user", "admin", "nobody", "true")
	mustFail(t, r, exitFail, "palisade-ctl: user nobody not found")
	r = mustOK(t, tc.run(t, "", "user", "list"))
	mustMatch(t, r.stdout, `(?m)^alice\s+false\s+-$`)
	mustMatch(t, r.stdout, `(?m)^bob\s+true\s+telegraf:READ$`)

	// Password change: from stdin and with -password.
	r = mustOK(t, tc.run(t, bobPW2+"\n", "user", "passwd", "bob"))
	mustContain(t, r.stdout, "Changed the password of user bob.")
	mustNotContain(t, r.stdout+r.stderr, bobPW2)
	if u := meta.FindUser(tc.data(t), "bob"); !authCheck(u.Hash, bobPW2) || authCheck(u.Hash, bobPW) {
		t.Fatalf("bob's password not changed")
	}
	mustOK(t, tc.run(t, "", "user", "passwd", "-password", "alice-pw-2", "alice"))
	if u := meta.FindUser(tc.data(t), "alice"); !authCheck(u.Hash, "alice-pw-2") {
		t.Fatalf("alice's password not changed")
	}
	r = tc.run(t, "pw\n", "user", "passwd", "nobody")
	mustFail(t, r, exitFail, "palisade-ctl: user nobody not found")

	// Drop.
	r = mustOK(t, tc.run(t, "", "user", "drop", "carol"))
	mustContain(t, r.stdout, "Dropped user carol.")
	r = tc.run(t, "", "user", "drop", "carol")
	mustFail(t, r, exitFail, "palisade-ctl: user carol not found")
	r = mustOK(t, tc.run(t, "", "user", "list"))
	mustNotContain(t, r.stdout, "carol")

	// Writes work through any single node, follower or leader.
	for i, n := range tc.c.Nodes {
		r := mustOK(t, ctl(t, "", nil, "-bind", n.RPCAddr, "-secret", testSecret, "user", "create", "u"+string(rune('0'+i)), "-password", "pw"))
		mustContain(t, r.stdout, "Created user")
	}
}

func TestSecretsAndToken(t *testing.T) {
	t.Parallel()
	tc := newTestCtl(t, 3)
	mustOK(t, tc.run(t, "", "user", "create", "alice", "-password", "pw"))

	r := tc.run(t, "", "token", "-user", "alice")
	mustFail(t, r, exitFail, "the cluster has no JWT secret: add one with 'palisade-ctl secret add'")

	// A generated secret is printed once.
	r = mustOK(t, tc.run(t, "", "secret", "add", "-id", "first"))
	mustContain(t, r.stdout, "Added JWT secret first.", "shown only this once")
	m := regexp.MustCompile(`(?m)^([A-Za-z0-9_-]{43})$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no 43-character secret in %q", r.stdout)
	}
	firstValue := m[1]
	if s := findSecret(tc.data(t), "first"); s == nil || string(s.Value) != firstValue {
		t.Fatalf("secret first not stored as printed")
	}

	// A random ID.
	r = mustOK(t, tc.run(t, "", "secret", "add"))
	idm := regexp.MustCompile(`Added JWT secret ([0-9a-f]{8})\.`).FindStringSubmatch(r.stdout)
	if idm == nil {
		t.Fatalf("no random id in %q", r.stdout)
	}
	randomID := idm[1]

	// A secret from a file is not printed; its trailing newline is dropped.
	const fileValue = "a-secret-from-a-file-0123456789"
	f := writeFile(t, fileValue+"\n")
	r = mustOK(t, tc.run(t, "", "secret", "add", "-id", "second", "-value-file", f))
	mustContain(t, r.stdout, "Added JWT secret second.")
	mustNotContain(t, r.stdout+r.stderr, fileValue, "shown only")
	if s := findSecret(tc.data(t), "second"); s == nil || string(s.Value) != fileValue {
		t.Fatalf("secret second not stored from the file")
	}
	// From stdin.
	r = mustOK(t, tc.run(t, "stdin-secret-0123456789\n", "secret", "add", "-id", "third", "-value-file", "-"))
	mustNotContain(t, r.stdout, "stdin-secret")

	r = tc.run(t, "", "secret", "add", "-id", "second")
	mustFail(t, r, exitFail, "palisade-ctl: a JWT secret with ID second already exists")
	r = tc.run(t, "", "secret", "add", "-id", "short", "-value-file", writeFile(t, "too-short\n"))
	mustFail(t, r, exitFail, "must be at least 16")
	r = tc.run(t, "", "secret", "add", "-value-file", t.TempDir()+"/missing")
	mustFail(t, r, exitFail, "reading the secret")

	r = mustOK(t, tc.run(t, "", "secret", "list"))
	mustContain(t, r.stdout, "ID", "Created", "first", "second", "third", randomID)
	mustNotContain(t, r.stdout, firstValue, fileValue, "stdin-secret")
	if strings.Index(r.stdout, "first") > strings.Index(r.stdout, "second") {
		t.Fatalf("secrets not listed oldest first:\n%s", r.stdout)
	}

	// Tokens: the newest secret ("third") by default, or the named one.
	r = mustOK(t, tc.run(t, "", "token", "-user", "alice", "-exp", "2h"))
	checkToken(t, strings.TrimSpace(r.stdout), "third", []byte("stdin-secret-0123456789"), "alice", 2*time.Hour)
	r = mustOK(t, tc.run(t, "", "token", "-user", "alice", "-secret-id", "first"))
	checkToken(t, strings.TrimSpace(r.stdout), "first", []byte(firstValue), "alice", time.Hour)

	r = tc.run(t, "", "token", "-user", "nobody")
	mustFail(t, r, exitFail, "palisade-ctl: user nobody not found")
	r = tc.run(t, "", "token", "-user", "alice", "-secret-id", "nope")
	mustFail(t, r, exitFail, "palisade-ctl: JWT secret nope not found")

	// Remove.
	r = mustOK(t, tc.run(t, "", "secret", "remove", "first"))
	mustContain(t, r.stdout, "Removed JWT secret first.")
	r = tc.run(t, "", "secret", "remove", "first")
	mustFail(t, r, exitFail, "palisade-ctl: JWT secret first not found")
	r = mustOK(t, tc.run(t, "", "secret", "list"))
	mustNotContain(t, r.stdout, "first")
}

func findSecret(d *metapb.Data, id string) *metapb.JWTSecret {
	for _, s := range d.JwtSecrets {
		if s.Id == id {
			return s
		}
	}
	return nil
}

func mustMatch(t *testing.T, s, re string) {
	t.Helper()
	if !regexp.MustCompile(re).MatchString(s) {
		t.Fatalf("output does not match %s:\n%s", re, s)
	}
}
