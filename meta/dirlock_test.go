package meta_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/meta"
)

// TestSecondStoreOnOneDirIsRefused (issue 17, point 10): a second meta store
// (a second palisade-meta, or a second standalone data node) given a
// directory in use is refused at once, naming the directory and the holder.
// Before, it waited forever for bolt's lock on raft.db.
func TestSecondStoreOnOneDirIsRefused(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Meta: 1})
	n := c.Nodes[0]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.StoreConfig(n, ln)
	cfg.RaftAddr = ln.Addr().String()
	type result struct {
		s   *meta.Store
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := meta.Open(cfg)
		done <- result{s, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("a second store on the same directory did not return within 20 s")
	}
	if r.err == nil {
		r.s.Close()
		t.Fatal("a second store opened the directory of a running one")
	}
	for _, want := range []string{"[meta] dir", n.Dir, fmt.Sprintf("(pid %d on host ", os.Getpid())} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("refusal %q does not contain %q", r.err, want)
		}
	}
	c.Kill(0)
	c.Restart(0) // the lock went with the first store
}
