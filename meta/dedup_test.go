package meta_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

func createDataNode(httpAddr, tcpAddr string) *metapb.Command {
	return &metapb.Command{Op: &metapb.Command_CreateDataNode{CreateDataNode: &metapb.CreateDataNode{HttpAddr: httpAddr, TcpAddr: tcpAddr}}}
}

func countSecrets(d *metapb.Data, id string) int {
	n := 0
	for _, s := range d.JwtSecrets {
		if s.Id == id {
			n++
		}
	}
	return n
}

// TestRetryAfterLostReplyAppliesOnce (issue 7, point 5): the answer to a
// command is lost after the command committed, either because leadership
// was lost between commit and reply (the leader retries) or because the
// connection from the leader to the follower that forwarded it broke (the
// follower retries). The retry carries the same request ID, so it gets the
// first result: AddJWTSecret does not answer "secret already exists",
// DropUser does not answer "user not found", and nothing is applied twice
// (the answer's index is the first commit's, and the state has not
// changed since).
func TestRetryAfterLostReplyAppliesOnce(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	mustExecute(t, c, 0, createDatabase("db"))
	ctx := testContext(t)
	for _, path := range []struct {
		name string
		// lose makes the next answer be lost; it returns the node to
		// execute on.
		lose func() int
	}{
		{"leadership lost after commit", func() int {
			i := c.LeaderIndex()
			c.Nodes[i].Store.LoseLeaderReplies(1)
			return i
		}},
		{"forwarded reply lost", func() int {
			c.WaitForLeader().Store.LoseExecuteReplies(1)
			return c.Follower()
		}},
	} {
		t.Run(path.name, func(t *testing.T) {
			user, secret, db := "user-"+path.name, "secret-"+path.name, "db-"+path.name
			mustExecute(t, c, 0, createHashedUser(user, testHash))
			host := fmt.Sprintf("host-%d", len(path.name))
			for _, tc := range []struct {
				name  string
				cmd   *metapb.Command
				check func(*metapb.Data, *metapb.ExecuteResponse) bool
			}{
				{"AddJWTSecret", addSecret(secret, secretOne), func(d *metapb.Data, _ *metapb.ExecuteResponse) bool { return countSecrets(d, secret) == 1 }},
				{"DropUser", dropUser(user), func(d *metapb.Data, _ *metapb.ExecuteResponse) bool { return meta.FindUser(d, user) == nil }},
				{"CreateDatabase", createDatabase(db), func(d *metapb.Data, _ *metapb.ExecuteResponse) bool { return meta.FindDatabase(d, db) != nil }},
				{"CreateShardGroup", createShardGroup("db", "autogen", sgTime.Add(time.Duration(len(path.name))*7*24*time.Hour)), func(d *metapb.Data, _ *metapb.ExecuteResponse) bool {
					return d.MaxShardGroupId == uint64(len(meta.FindRetentionPolicy(meta.FindDatabase(d, "db"), "autogen").ShardGroups))
				}},
				{"CreateDataNode", createDataNode(host+":8086", host+":8088"), func(d *metapb.Data, resp *metapb.ExecuteResponse) bool {
					return resp.NodeId == d.MaxNodeId && d.DataNodes[len(d.DataNodes)-1].TcpAddr == host+":8088"
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					i := path.lose()
					leaderApplied := c.WaitForLeader().Store.State().Applied
					resp, err := c.Nodes[i].Store.Execute(ctx, tc.cmd)
					if err != nil {
						t.Fatalf("retried %s: %v", tc.name, err)
					}
					if n := c.WaitForLeader().Store.RepliesStillToLose(); n != 0 {
						t.Fatalf("no answer was lost (%d still to lose): the test tests nothing", n)
					}
					d := waitConverged(t, c)
					if !tc.check(d, resp) {
						t.Fatalf("%s not applied as asked: %v", tc.name, d)
					}
					// Applied once: the answer is the first attempt's, the
					// next command in a quiet cluster (the log entries
					// between are barriers that told the followers of
					// earlier commits), and no change came after it (a
					// second application would be one).
					n, err := c.WaitForLeader().Store.CommandsIn(leaderApplied+1, resp.Index)
					if err != nil {
						t.Fatal(err)
					}
					if n != 1 || d.Index != resp.Index {
						t.Fatalf("answer at index %d, state at %d, %d commands since index %d: applied more than once", resp.Index, d.Index, n, leaderApplied)
					}
				})
			}
			t.Run("refused command", func(t *testing.T) {
				i := path.lose()
				_, err := c.Nodes[i].Store.Execute(ctx, dropUser("ghost"))
				var ce *meta.CommandError
				if !errors.As(err, &ce) || !errors.Is(err, meta.ErrUserNotFound) {
					t.Fatalf("retried refusal: %v, want the refusal (user not found) with its index", err)
				}
				if n := c.WaitForLeader().Store.RepliesStillToLose(); n != 0 {
					t.Fatalf("no answer was lost")
				}
			})
		})
	}
}

// TestClientRetryOnAnotherNodeAppliesOnce (issue 7, point 5): meta.Client
// gives each call one request ID; when the node it asked applies the
// command but the answer never arrives, the client asks the next node with
// the same ID and gets the first result.
func TestClientRetryOnAnotherNodeAppliesOnce(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	ctx := testContext(t)
	for _, tc := range []struct {
		name  string
		cmd   *metapb.Command
		check func(*metapb.Data) bool
	}{
		{"AddJWTSecret", addSecret("k1", secretOne), func(d *metapb.Data) bool { return countSecrets(d, "k1") == 1 }},
		// The next node hashes the password again: the request ID, not the
		// hash, makes the retry the same request.
		{"CreateUser", createUser("carol", "carol-pw", false), func(d *metapb.Data) bool { return meta.FindUser(d, "carol") != nil }},
		{"DropUser", dropUser("carol"), func(d *metapb.Data) bool { return meta.FindUser(d, "carol") == nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A new client asks node 0 first; node 0 applies the command
			// (as leader, or through the leader) and loses its answer.
			cl := c.Client(testSecret)
			c.Nodes[0].Store.LoseExecuteReplies(1)
			resp, err := cl.Execute(ctx, tc.cmd)
			if err != nil {
				t.Fatalf("%s retried on another node: %v", tc.name, err)
			}
			if n := c.Nodes[0].Store.RepliesStillToLose(); n != 0 {
				t.Fatalf("node 0 lost no answer: the test tests nothing")
			}
			d := waitConverged(t, c)
			if !tc.check(d) || d.Index != resp.Index {
				t.Fatalf("answer at %d, state at %d: %v", resp.Index, d.Index, d)
			}
		})
	}
}

// TestRetriedRefusalGetsItsFirstAnswer: a request refused in the log and
// sent again later (same request ID) gets the same refusal, at the same
// index, even though the state would now accept it: the command is not
// applied a second time.
func TestRetriedRefusalGetsItsFirstAnswer(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	cl := c.Client(testSecret)
	ctx := testContext(t)
	drop := dropUser("eve")
	drop.RequestId = []byte("drop-eve-once")
	_, err := cl.Execute(ctx, drop)
	var first *meta.CommandError
	if !errors.As(err, &first) || !errors.Is(err, meta.ErrUserNotFound) {
		t.Fatalf("first attempt: %v, want a refusal", err)
	}
	mustExecute(t, c, 0, createUser("eve", "eve-pw", false))
	for i := range c.Nodes {
		_, err := c.Execute(i, drop)
		var again *meta.CommandError
		if !errors.As(err, &again) || !errors.Is(err, meta.ErrUserNotFound) || again.Index != first.Index || err.Error() != first.Error() {
			t.Fatalf("repeat through node %d: %v, want the first refusal %q at %d", i, err, first, first.Index)
		}
	}
	if meta.FindUser(waitConverged(t, c), "eve") == nil {
		t.Fatalf("a repeat of the refused drop dropped eve")
	}
}

// TestRequestRecordSurvivesRestart: the request record is in the snapshots:
// after every node restarted from its snapshot, a repeat still gets the
// first answer and changes nothing.
func TestRequestRecordSurvivesRestart(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 3, Secret: testSecret})
	add := addSecret("k1", secretOne)
	add.RequestId = []byte("add-k1-once")
	first := mustExecute(t, c, 0, add)
	reg := createDataNode("d1:8086", "d1:8088")
	reg.RequestId = []byte("register-d1-once")
	node := mustExecute(t, c, 1, reg)
	c.WaitForIndex(node.Index)
	for _, n := range c.Nodes {
		if err := n.Store.Snapshot(); err != nil {
			t.Fatalf("snapshot on %s: %v", n.RaftAddr, err)
		}
	}
	for i := range c.Nodes {
		c.Kill(i)
	}
	for i := range c.Nodes {
		c.Restart(i)
	}
	before := waitConverged(t, c)
	for i := range c.Nodes {
		resp, err := c.Execute(i, add)
		if err != nil || resp.Index != first.Index {
			t.Fatalf("repeat of add-k1 through node %d after restart: %v at %d, want success at %d", i, err, resp.GetIndex(), first.Index)
		}
		resp, err = c.Execute(i, reg)
		if err != nil || resp.Index != node.Index || resp.NodeId != node.NodeId {
			t.Fatalf("repeat of register-d1 through node %d after restart: %v, %v; want node %d at %d", i, resp, err, node.NodeId, node.Index)
		}
	}
	if d := waitConverged(t, c); d.Index != before.Index || countSecrets(d, "k1") != 1 {
		t.Fatalf("repeats changed the state (index %d, was %d)", d.Index, before.Index)
	}
}
