package testcluster

import (
	"fmt"
	"sync"
	"time"

	"github.com/palisade-db/palisade/proto/metapb"
)

// LargeStateCommands returns the commands that build issue 20's large
// state, in two batches to run one after the other (the shard groups need
// their databases): two data nodes that never run (they own the shards),
// 5,000 databases and 10,000 users with hash, then 10 weekly shard groups of
// 2 shards per database (100,000 shards).
func LargeStateCommands(hash []byte) [][]*metapb.Command {
	var first, second []*metapb.Command
	for i := range 2 {
		first = append(first, &metapb.Command{Op: &metapb.Command_CreateDataNode{CreateDataNode: &metapb.CreateDataNode{
			HttpAddr: fmt.Sprintf("absent%d:8086", i), TcpAddr: fmt.Sprintf("absent%d:8088", i)}}})
	}
	for i := range 5000 {
		first = append(first, &metapb.Command{Op: &metapb.Command_CreateDatabase{CreateDatabase: &metapb.CreateDatabase{
			Name: fmt.Sprintf("big%05d", i)}}})
	}
	for i := range 10000 {
		first = append(first, &metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{
			Name: fmt.Sprintf("user%05d", i), Hash: hash}}})
	}
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for g := range 10 {
		for i := range 5000 {
			second = append(second, &metapb.Command{Op: &metapb.Command_CreateShardGroup{CreateShardGroup: &metapb.CreateShardGroup{
				Database: fmt.Sprintf("big%05d", i), RetentionPolicy: "autogen",
				Timestamp: start.Add(time.Duration(g) * 7 * 24 * time.Hour).UnixNano()}}})
		}
	}
	return [][]*metapb.Command{first, second}
}

// ExecuteAll runs every command through exec, workers at a time, and
// returns the first error.
func ExecuteAll(cmds []*metapb.Command, workers int, exec func(*metapb.Command) error) error {
	work := make(chan *metapb.Command)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range workers {
		wg.Go(func() {
			for c := range work {
				if err := exec(c); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for _, c := range cmds {
		work <- c
	}
	close(work)
	wg.Wait()
	return first
}
