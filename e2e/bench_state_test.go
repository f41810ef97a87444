//go:build e2e

package e2e

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// BenchmarkChangeCostByStateSize (issue 20, point 4) measures what one user
// change costs as the cluster state grows, with the real binaries: 3 meta
// nodes at the default commit-timeout, data nodes A and C on the leader and
// B on a follower, auth on; C answers a change without waiting for the
// other data nodes to have it ([meta] change-visibility-timeout = 0), so
// that what B shows after C's answer is the propagation alone. The large state is 5,000 databases, 10,000 users and
// 100,000 shards (10 shard groups of 2 shards per database, owned by two
// registered nodes that never run, so no data node creates them). Each
// iteration grants or revokes READ for user u through C (an admin's JWT)
// and asks B with u's JWT until it enforces the change. Reported:
//
//   - after-ack-p50/p99-ms: from C's answer to B enforcing the change (one
//     query to B when B has it already);
//
//   - enforced-p50/p99-ms: from sending the change to C to B enforcing it;
//
//   - b-cpu-us/change: data node B's CPU (utime+stime) per change over 200
//     further changes through A, which answers once B has each (the change
//     barrier), with nothing else asking B; b-cpu-over-idle-us/change the
//     same less what B used while idle (b-idle-cpu-%, over 3 s before);
//     PALISADE_BENCH_CPUPROFILE=file saves B's CPU profile of those changes
//     (and B's and C's of the first 3 s of the iterations, to
//     file.propagation-b and -c);
//     PALISADE_BENCH_B_FOLLOWS=leader puts B on the leader (the floor);
//
//   - delta-bytes/change: what a Watch stream that asks for deltas (as data
//     nodes do) received per change, on the follower, over those changes;
//
//   - state-bytes: the size of the whole state, which every Watch update
//     carried before deltas;
//
//   - first-sync-s: a new data node B on the follower, from its start to
//     answering with the newest state;
//
//   - generate-s: building the state through the meta leader.
//
//     make build && PALISADE_BIN=$PWD/bin go test -tags e2e -run '^$' -bench BenchmarkChangeCostByStateSize -benchtime 400x ./e2e/
func BenchmarkChangeCostByStateSize(b *testing.B) {
	b.Run("empty", func(b *testing.B) { benchChangeCost(b, false) })
	b.Run("dbs=5000/users=10000/shards=100000", func(b *testing.B) { benchChangeCost(b, true) })
}

func benchChangeCost(b *testing.B, large bool) {
	const jwtSecret = "change-cost-bench-secret"
	metas := []*metaNode{newMetaNode(b, "m0"), newMetaNode(b, "m1"), newMetaNode(b, "m2")}
	var peers, rpcs []string
	for _, m := range metas {
		m.env = append(m.env, "INFLUXDB_META_COMMIT_TIMEOUT=50ms", "INFLUXDB_LOGGING_LEVEL=warn") // the defaults
		peers, rpcs = append(peers, m.raftAddr), append(rpcs, m.rpcAddr)
	}
	for _, m := range metas {
		m.start(b, peers)
	}
	cl, err := meta.NewClient(rpcs, cluster.DialOptions{Secret: internalSecret})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	waitFor(b, 30*time.Second, "a meta leader", func() (bool, string) {
		for _, m := range metas {
			if st, err := cl.Status(ctx, m.rpcAddr); err == nil && st.State == "Leader" {
				return true, ""
			}
		}
		return false, "no leader"
	})

	// The state, built with many commands in flight.
	t0 := time.Now()
	hash, err := bcrypt.GenerateFromPassword([]byte("u-pw"), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	exec := func(c *metapb.Command) error {
		_, err := cl.Execute(ctx, c)
		return err
	}
	if large {
		for _, batch := range testcluster.LargeStateCommands(hash) {
			if err := testcluster.ExecuteAll(batch, 32, exec); err != nil {
				b.Fatal(err)
			}
		}
	}
	cmd := func(op any) *metapb.Command {
		switch op := op.(type) {
		case *metapb.CreateDatabase:
			return &metapb.Command{Op: &metapb.Command_CreateDatabase{CreateDatabase: op}}
		case *metapb.CreateUser:
			return &metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: op}}
		}
		panic(op)
	}
	if _, err := cl.Execute(ctx, cmd(&metapb.CreateUser{Name: "admin", Hash: hash, Admin: true})); err != nil {
		b.Fatal(err)
	}
	if _, err := cl.Execute(ctx, cmd(&metapb.CreateUser{Name: "u", Hash: hash})); err != nil {
		b.Fatal(err)
	}
	if _, err := cl.Execute(ctx, cmd(&metapb.CreateDatabase{Name: "db0"})); err != nil {
		b.Fatal(err)
	}
	generate := time.Since(t0)

	var leader, follower *metaNode
	for _, m := range metas {
		st, err := cl.Status(ctx, m.rpcAddr)
		if err != nil {
			b.Fatal(err)
		}
		if st.State == "Leader" {
			leader = m
		} else if follower == nil {
			follower = m
		}
	}
	if leader == nil || follower == nil {
		b.Fatal("no leader and follower found")
	}
	full, err := cl.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	stateBytes := proto.Size(full)

	authOn := []string{"INFLUXDB_HTTP_AUTH_ENABLED=true", "INFLUXDB_HTTP_SHARED_SECRET=" + jwtSecret, "INFLUXDB_LOGGING_LEVEL=warn"}
	a := newDataNode(b, []string{leader.rpcAddr}, authOn...)
	a.start(b)
	c := newDataNode(b, []string{leader.rpcAddr}, append(authOn, "INFLUXDB_META_CHANGE_VISIBILITY_TIMEOUT=0")...)
	c.start(b)
	bFollows := follower
	if os.Getenv("PALISADE_BENCH_B_FOLLOWS") == "leader" { // the floor: B as close to the changes as C
		bFollows = leader
	}
	nb := newDataNode(b, []string{bFollows.rpcAddr}, authOn...)
	t1 := time.Now()
	nb.start(b)
	exp := time.Now().Add(time.Hour).Unix()
	sign := func(user string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"username": user, "exp": exp}).SignedString([]byte(jwtSecret))
		if err != nil {
			b.Fatal(err)
		}
		return "Bearer " + s
	}
	adminJWT, userJWT := sign("admin"), sign("u")
	waitFor(b, 5*time.Minute, "B to have the newest state", func() (bool, string) {
		code, body := httpQuery(b, nb.httpAddr, adminJWT, "SHOW RETENTION POLICIES ON db0")
		return code == http.StatusOK, body
	})
	firstSync := time.Since(t1)

	change := func(i int) (string, int) {
		if i%2 == 0 {
			return "GRANT READ ON db0 TO u", http.StatusOK
		}
		return "REVOKE READ ON db0 FROM u", http.StatusForbidden
	}
	var acks, enforced, after []time.Duration
	profiledB, profiledC := profile(b, nb, adminJWT, ".propagation-b"), profile(b, c, adminJWT, ".propagation-c")
	b.ResetTimer()
	for i := range b.N {
		q, want := change(i)
		t0 := time.Now()
		if code, body := httpQuery(b, c.httpAddr, adminJWT, q); code != http.StatusOK {
			b.Fatalf("%s: %d %s", q, code, body)
		}
		acks = append(acks, time.Since(t0))
		for {
			code, _ := httpQueryDB(b, nb.httpAddr, userJWT, "db0", "SHOW MEASUREMENTS")
			if code == want {
				break
			}
			if time.Since(t0) > 10*time.Second {
				b.Fatalf("%s: B still answers %d after 10s", q, code)
			}
		}
		enforced = append(enforced, time.Since(t0))
		after = append(after, max(0, enforced[i]-acks[i]))
	}
	b.StopTimer()
	<-profiledB
	<-profiledC

	// CPU and bytes per change, B left alone.
	const changes = 200
	conn, err := cluster.Dial(follower.rpcAddr, cluster.DialOptions{Secret: internalSecret})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	cur, err := cl.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	stream, err := metapb.NewMetaServiceClient(conn).Watch(wctx, &metapb.WatchRequest{Index: cur.Index, Deltas: true})
	if err != nil {
		b.Fatal(err)
	}
	var bytes, msgs int
	received := make(chan struct{})
	go func() {
		defer close(received)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			bytes += proto.Size(resp)
			msgs++
		}
	}()
	// B's own work while nothing changes (periodic services, the runtime).
	idle0, idleStart := procCPU(b, nb.p.cmd.Process.Pid), time.Now()
	time.Sleep(3 * time.Second)
	idleRate := float64(procCPU(b, nb.p.cmd.Process.Pid)-idle0) / float64(time.Since(idleStart))
	profiled := profile(b, nb, adminJWT, "")
	cpu0, busyStart := procCPU(b, nb.p.cmd.Process.Pid), time.Now()
	for i := range changes {
		q, _ := change(i)
		if code, body := httpQuery(b, a.httpAddr, adminJWT, q); code != http.StatusOK {
			b.Fatalf("%s: %d %s", q, code, body)
		}
	}
	cpu := procCPU(b, nb.p.cmd.Process.Pid) - cpu0
	busy := time.Since(busyStart)
	<-profiled
	time.Sleep(200 * time.Millisecond)
	wcancel()
	<-received

	ms := func(ds []time.Duration, p float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(p*float64(len(s))))]) / float64(time.Millisecond)
	}
	if testing.Verbose() {
		slow := make([]int, len(after))
		for i := range slow {
			slow[i] = i
		}
		slices.SortFunc(slow, func(i, j int) int { return cmp.Compare(after[j], after[i]) })
		for _, i := range slow[:min(8, len(slow))] {
			b.Logf("slowest after-ack: change %d (%s): %v after the answer, which took %v", i, map[bool]string{true: "grant", false: "revoke"}[i%2 == 0], after[i], acks[i])
		}
	}
	b.ReportMetric(ms(after, 0.5), "after-ack-p50-ms")
	b.ReportMetric(ms(after, 0.99), "after-ack-p99-ms")
	b.ReportMetric(ms(enforced, 0.5), "enforced-p50-ms")
	b.ReportMetric(ms(enforced, 0.99), "enforced-p99-ms")
	b.ReportMetric(float64(cpu.Microseconds())/changes, "b-cpu-us/change")
	b.ReportMetric((float64(cpu)-idleRate*float64(busy))/float64(time.Microsecond)/changes, "b-cpu-over-idle-us/change")
	b.ReportMetric(100*idleRate, "b-idle-cpu-%")
	b.ReportMetric(float64(bytes)/float64(max(msgs, 1)), "delta-bytes/change")
	b.ReportMetric(float64(stateBytes), "state-bytes")
	b.ReportMetric(firstSync.Seconds(), "first-sync-s")
	b.ReportMetric(generate.Seconds(), "generate-s")
}

// profile saves d's CPU profile over the next 3 s to
// $PALISADE_BENCH_CPUPROFILE+suffix, when that is set; the channel is
// closed when it is done.
func profile(b *testing.B, d *dataNode, authz, suffix string) <-chan struct{} {
	done := make(chan struct{})
	path := os.Getenv("PALISADE_BENCH_CPUPROFILE")
	if path == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		req, _ := http.NewRequest("GET", "http://"+d.httpAddr+"/debug/pprof/profile?seconds=3", nil)
		req.Header.Set("Authorization", authz)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if err := os.WriteFile(path+suffix, body, 0o600); err != nil {
			b.Error(err)
		}
	}()
	return done
}

// procCPU is the CPU time (user + system) process pid has used.
func procCPU(t testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// httpQueryDB runs q on db with an Authorization header.
func httpQueryDB(t testing.TB, addr, authz, db, q string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+"/query?db="+url.QueryEscape(db)+"&q="+url.QueryEscape(q), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", authz)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
