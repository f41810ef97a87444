package coordinator

import (
	"context"
	"testing"
	"time"
)

// TestSendTicketsWaitForEarlierSendsOnly: a delete waits for the sends to
// its node that started before it, not for later ones nor for other nodes'.
func TestSendTicketsWaitForEarlierSendsOnly(t *testing.T) {
	s := newSendTickets()
	early := s.take(3)
	other := s.take(4)
	waited := make(chan error, 1)
	go func() { waited <- s.wait(context.Background(), 3) }()
	time.Sleep(20 * time.Millisecond)
	late := s.take(3) // after the wait began: not waited for
	select {
	case err := <-waited:
		t.Fatalf("returned while an earlier send ran: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.done(4, other)
	select {
	case err := <-waited:
		t.Fatalf("another node's send ended the wait: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.done(3, early)
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still waiting after the earlier send finished (a later one still runs)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := s.wait(ctx, 3); err == nil {
		t.Error("a wait with a send still running ended without error at its deadline")
	}
	s.done(3, late)
	if err := s.wait(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
}
