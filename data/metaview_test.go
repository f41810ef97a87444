package data

import (
	"context"
	"testing"
	"time"

	"github.com/palisade-db/palisade/proto/metapb"
)

// WaitForIndex must not return before the update hooks (the auth cache) have
// seen the state: a statement that returned would otherwise not be enforced
// yet (a dropped user's password still accepted for a moment).
func TestMetaViewHooksRunBeforeIndexIsVisible(t *testing.T) {
	v := NewMetaView()
	hookDone := make(chan struct{})
	release := make(chan struct{})
	v.OnUpdate(func(_, d *metapb.Data) {
		if got := v.Index(); got >= d.Index {
			t.Errorf("index %d visible while the hooks for it run", got)
		}
		close(hookDone)
		<-release
	})
	go v.Update(&metapb.Data{Index: 7})
	<-hookDone

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := v.WaitForIndex(ctx, 7); err == nil {
		t.Fatal("WaitForIndex returned while the hooks were still running")
	}
	close(release)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := v.WaitForIndex(ctx2, 7); err != nil {
		t.Fatalf("after the hooks: %v", err)
	}
	// Older or equal states are ignored.
	if v.Update(&metapb.Data{Index: 7}) || v.Update(&metapb.Data{Index: 3}) {
		t.Fatal("an older state replaced a newer one")
	}
}
