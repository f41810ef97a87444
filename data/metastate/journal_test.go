package metastate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// changes returns n states, each one user more than the one before (the
// first is sampleState), and the deltas between them.
func changes(n int) ([]*metapb.Data, []*metapb.StateDelta) {
	states := []*metapb.Data{sampleState()}
	var deltas []*metapb.StateDelta
	for i := range n {
		prev := states[len(states)-1]
		next := proto.Clone(prev).(*metapb.Data)
		next.Index++
		next.Users = append(next.Users, &metapb.User{Name: fmt.Sprintf("zz%04d", i), Hash: []byte("$2a$04$x")})
		deltas = append(deltas, pmeta.MakeDelta(prev, next))
		states = append(states, next)
	}
	return states, deltas
}

// TestJournalKeepsEveryChange: the saved state plus the journal's changes
// load as the newest state; saving a change appends it (the state file is
// not written again) until the journal outgrows the state.
func TestJournalKeepsEveryChange(t *testing.T) {
	dir := t.TempDir()
	states, deltas := changes(20)
	j := &journal{dir: dir}
	if err := j.save(states[0]); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(filepath.Join(dir, stateFile))
	for i, d := range deltas {
		if err := j.add(d, states[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := os.Stat(filepath.Join(dir, stateFile))
	if !os.SameFile(before, after) {
		t.Fatal("the state file was written again for a small change")
	}
	for _, name := range []string{stateFile, journalFile} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", name, err, st.Mode().Perm())
		}
	}
	got, err := (&journal{dir: dir}).load()
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, states[len(states)-1]) {
		t.Fatalf("loaded the state at %d, want the one at %d", got.Index, states[len(states)-1].Index)
	}

	// Past its size the journal becomes the state file again.
	j.size = journalMax + 1
	states2, deltas2 := changes(22)
	if err := j.add(deltas2[20], states2[21]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, journalFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the journal was not emptied after the state was written whole: %v", err)
	}
	if got, err := (&journal{dir: dir}).load(); err != nil || !proto.Equal(got, states2[21]) {
		t.Fatalf("after the rewrite: %v", err)
	}
}

// TestJournalTornAndDamaged: a record cut short at the end is left out
// (the state before it loads); damage with records after it fails the
// load; records older than the state file (a crash between rewriting the
// state and emptying the journal) are skipped.
func TestJournalTornAndDamaged(t *testing.T) {
	states, deltas := changes(3)
	write := func(t *testing.T) (string, []byte) {
		dir := t.TempDir()
		j := &journal{dir: dir}
		if err := j.save(states[0]); err != nil {
			t.Fatal(err)
		}
		for i, d := range deltas {
			if err := j.add(d, states[i+1]); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, journalFile))
		if err != nil {
			t.Fatal(err)
		}
		return dir, b
	}
	t.Run("torn", func(t *testing.T) {
		dir, b := write(t)
		for _, cut := range []int{1, 5, 9} {
			if err := os.WriteFile(filepath.Join(dir, journalFile), b[:len(b)-cut], 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := (&journal{dir: dir}).load()
			if err != nil || !proto.Equal(got, states[2]) {
				t.Fatalf("cut %d bytes: %v (index %d), want the state before the last change", cut, err, got.GetIndex())
			}
		}
	})
	t.Run("damaged", func(t *testing.T) {
		dir, b := write(t)
		b[10] ^= 0xff // inside the first record's payload
		if err := os.WriteFile(filepath.Join(dir, journalFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := (&journal{dir: dir}).load(); !errors.Is(err, ErrStateFile) {
			t.Fatalf("a damaged record loaded: %v", err)
		}
	})
	t.Run("older records", func(t *testing.T) {
		dir, b := write(t)
		if err := writeFileAtomic(filepath.Join(dir, stateFile), mustEncode(t, states[2])); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, journalFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := (&journal{dir: dir}).load()
		if err != nil || !proto.Equal(got, states[3]) {
			t.Fatalf("%v (index %d), want the newest state", err, got.GetIndex())
		}
	})
}

func mustEncode(t *testing.T, d *metapb.Data) []byte {
	b, err := encodeState(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJournalAfterAFailedWrite: a change that could not be appended is not
// lost for good: the next one writes the whole state, which holds both.
func TestJournalAfterAFailedWrite(t *testing.T) {
	dir := t.TempDir()
	states, deltas := changes(2)
	j := &journal{dir: dir}
	if err := j.save(states[0]); err != nil {
		t.Fatal(err)
	}
	// A directory where the journal should be: appending fails.
	if err := os.Mkdir(filepath.Join(dir, journalFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := j.add(deltas[0], states[1]); err == nil {
		t.Fatal("appending to a journal that cannot be opened succeeded")
	}
	if err := j.add(deltas[1], states[2]); err != nil {
		t.Fatalf("the change after a failed one: %v", err)
	}
	got, err := (&journal{dir: dir}).load()
	if err != nil || !proto.Equal(got, states[2]) {
		t.Fatalf("after a failed append: %v (index %d), want the newest state", err, got.GetIndex())
	}
}
