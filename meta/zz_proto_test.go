package meta_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/palisade-db/palisade/internal/testcluster"
	"github.com/palisade-db/palisade/proto/metapb"
)

func TestProtoBuild(t *testing.T) {
	for _, nodes := range []int{1} {
		c := testcluster.New(t, testcluster.Options{Meta: nodes})
		hash, _ := bcrypt.GenerateFromPassword([]byte("x"), 4)
		l := c.Leader()
		start := time.Now()
		const N = 100000
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < N; i += 16 {
					_, err := l.Store.Execute(context.Background(), &metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{Name: fmt.Sprintf("user%06d", i), Hash: hash}}})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		t.Logf("nodes=%d build %v", nodes, time.Since(start))
	}
}
