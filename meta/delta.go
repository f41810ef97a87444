package meta

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// Changes names what differs between a state and the one before it: the
// databases and users added, changed or dropped. Consumers of the state
// (a data node's credential cache, shard index, engine view) update only
// those. A nil *Changes means "anything may have changed".
type Changes struct {
	// Databases and Users hold names in order.
	Databases []string
	Users     []string
}

// MakeDelta returns the delta that turns base into cur. States published
// by one node share every database and user a command did not change
// (apply copies only what it changes), so comparing pointers finds the
// changes; where the pointers differ (base and cur were decoded apart),
// the contents are compared, so the delta stays small, only slower to make.
func MakeDelta(base, cur *metapb.Data) *metapb.StateDelta {
	d := &metapb.StateDelta{BaseIndex: base.GetIndex(), Header: header(cur)}
	mergeByName(base.GetDatabases(), cur.GetDatabases(), (*metapb.Database).GetName, equalMessages[*metapb.Database],
		func(db *metapb.Database) { d.Databases = append(d.Databases, db) },
		func(name string) { d.DroppedDatabases = append(d.DroppedDatabases, name) })
	mergeByName(base.GetUsers(), cur.GetUsers(), (*metapb.User).GetName, equalMessages[*metapb.User],
		func(u *metapb.User) { d.Users = append(d.Users, u) },
		func(name string) { d.DroppedUsers = append(d.DroppedUsers, name) })
	return d
}

func equalMessages[T proto.Message](a, b T) bool { return proto.Equal(a, b) }

// header returns d's fields except its databases and users.
func header(d *metapb.Data) *metapb.Data {
	h := shallowCopy(d)
	h.Databases, h.Users = nil, nil
	return h
}

// mergeByName walks two name-ordered lists and reports each item of cur
// that base lacks or holds differently, and each name only base holds. An
// item under the same name is the same when it is the same pointer, or
// (with equal set) when equal says so.
func mergeByName[T comparable](base, cur []T, name func(T) string, equal func(a, b T) bool, changed func(T), dropped func(string)) {
	i, j := 0, 0
	for i < len(base) || j < len(cur) {
		switch {
		case i < len(base) && j < len(cur) && base[i] == cur[j]:
			i, j = i+1, j+1
		case j == len(cur) || (i < len(base) && name(base[i]) < name(cur[j])):
			dropped(name(base[i]))
			i++
		case i == len(base) || name(cur[j]) < name(base[i]):
			changed(cur[j])
			j++
		default: // the same name, another pointer
			if equal == nil || !equal(base[i], cur[j]) {
				changed(cur[j])
			}
			i, j = i+1, j+1
		}
	}
}

// ApplyDelta returns the state that delta makes of base, sharing every
// database and user it does not change, and what it changed. base is not
// modified. The delta must have been made from base's index.
func ApplyDelta(base *metapb.Data, delta *metapb.StateDelta) (*metapb.Data, *Changes, error) {
	if base.GetIndex() != delta.GetBaseIndex() {
		return nil, nil, fmt.Errorf("meta: a delta from index %d cannot apply to the state at %d", delta.GetBaseIndex(), base.GetIndex())
	}
	if delta.GetHeader() == nil {
		return nil, nil, fmt.Errorf("meta: a delta without its state header")
	}
	// The same index in another cluster is another state (a node that
	// rejoined a re-created cluster).
	if base.GetClusterId() != "" && base.GetClusterId() != delta.Header.GetClusterId() {
		return nil, nil, fmt.Errorf("meta: a delta of cluster %q cannot apply to a state of cluster %q", delta.Header.GetClusterId(), base.GetClusterId())
	}
	n := shallowCopy(delta.Header)
	ch := &Changes{}
	var err error
	if n.Databases, ch.Databases, err = patch(base.GetDatabases(), delta.Databases, delta.DroppedDatabases, (*metapb.Database).GetName); err != nil {
		return nil, nil, fmt.Errorf("meta: delta to %d: databases: %w", n.Index, err)
	}
	if n.Users, ch.Users, err = patch(base.GetUsers(), delta.Users, delta.DroppedUsers, (*metapb.User).GetName); err != nil {
		return nil, nil, fmt.Errorf("meta: delta to %d: users: %w", n.Index, err)
	}
	return n, ch, nil
}

// patch returns base with changed put in (by name) and the dropped names
// taken out, in name order, and every name it touched. Both lists must be
// in name order, and a dropped name must be in base. It costs a binary
// search per change and one copy of base's pointers, not a comparison per
// item of base.
func patch[T any](base, changed []T, dropped []string, name func(T) string) ([]T, []string, error) {
	if len(changed) == 0 && len(dropped) == 0 {
		return base, nil, nil
	}
	for k := 1; k < len(changed); k++ {
		if name(changed[k-1]) >= name(changed[k]) {
			return nil, nil, fmt.Errorf("changes out of order at %q", name(changed[k]))
		}
	}
	for k := 1; k < len(dropped); k++ {
		if dropped[k-1] >= dropped[k] {
			return nil, nil, fmt.Errorf("drops out of order at %q", dropped[k])
		}
	}
	out := make([]T, 0, len(base)+len(changed))
	touched := make([]string, 0, len(changed)+len(dropped))
	pos, c, x := 0, 0, 0 // base[pos:] is not yet copied
	for c < len(changed) || x < len(dropped) {
		var next string
		drop := x < len(dropped) && (c == len(changed) || dropped[x] <= name(changed[c]))
		if drop {
			next = dropped[x]
			if c < len(changed) && name(changed[c]) == next {
				return nil, nil, fmt.Errorf("%q both changed and dropped", next)
			}
		} else {
			next = name(changed[c])
		}
		i, found := slices.BinarySearchFunc(base[pos:], next, func(v T, n string) int { return strings.Compare(name(v), n) })
		out = append(out, base[pos:pos+i]...)
		pos += i
		if found {
			pos++ // replaced or dropped
		} else if drop {
			return nil, nil, fmt.Errorf("%q dropped but not there", next)
		}
		if drop {
			x++
		} else {
			out = append(out, changed[c])
			c++
		}
		touched = append(touched, next)
	}
	out = append(out, base[pos:]...)
	return out, touched, nil
}

// Diff returns the databases and users of cur that are not base's own
// (added, changed or dropped), comparing pointers only: for two states of
// one line (each made from the one before by apply or ApplyDelta) that is
// exactly what changed; for unrelated states, everything.
func Diff(base, cur *metapb.Data) *Changes {
	ch := &Changes{}
	mergeByName(base.GetDatabases(), cur.GetDatabases(), (*metapb.Database).GetName, nil,
		func(db *metapb.Database) { ch.Databases = append(ch.Databases, db.GetName()) },
		func(name string) { ch.Databases = append(ch.Databases, name) })
	mergeByName(base.GetUsers(), cur.GetUsers(), (*metapb.User).GetName, nil,
		func(u *metapb.User) { ch.Users = append(ch.Users, u.GetName()) },
		func(name string) { ch.Users = append(ch.Users, name) })
	return ch
}
