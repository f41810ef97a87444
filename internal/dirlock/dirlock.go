// Package dirlock keeps two processes from writing one directory: a node
// takes an exclusive lock on a file in every directory it writes (data,
// wal, hinted handoff, meta) and refuses to start when another process
// holds one, naming that process.
//
// The lock is flock(2) on FileName, taken without waiting (LOCK_EX|LOCK_NB).
// The kernel drops it when its file is closed, so a process that dies,
// even by SIGKILL, leaves no stale lock; the file itself stays (deleting it
// on release would let a process that opened it just before lock a file
// that no longer has a name, while a third creates and locks a new one).
// The holder writes its PID, host name and start time into the file, so
// that a process refused can say who holds it. The lock is advisory: it
// keeps out Palisade nodes (and anything else that takes it), nothing else.
//
// Locks are per open file: two locks of one directory in the same process
// exclude each other too, so two nodes started in one test process, or one
// directory named by two settings through a symlink, are refused as well.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// FileName is the lock file each locked directory holds. The storage
// engine skips regular files at the top of the data directory (it looks for
// database directories), and the WAL and hinted-handoff scans look only for
// names of their own.
const FileName = ".palisade.lock"

// ErrInUse is matched (errors.Is) by the *InUseError that Acquire returns
// when another holder has the lock.
var ErrInUse = errors.New("directory in use")

// InUseError says that a directory is locked by someone else.
type InUseError struct {
	What string // the setting, e.g. "[data] dir"
	Dir  string
	// Holder describes the holder as its lock file does ("pid 1234 on host
	// h since 2025-01-02T15:04:05Z"); empty when the file says nothing yet.
	Holder string
	// SameProcess: the holder is this process: another node in it, or
	// another setting (Also) that names the same directory.
	SameProcess bool
	Also        string
}

func (e *InUseError) Error() string {
	who := "another process"
	if e.SameProcess {
		who = "this process"
	}
	if e.Holder != "" {
		who += " (" + e.Holder + ")"
	}
	if e.SameProcess && e.Also != "" && e.Also != e.What {
		who += " as " + e.Also
	}
	return fmt.Sprintf("%s %s is in use by %s: each node needs its own %s", e.What, e.Dir, who, e.What)
}

// Is makes errors.Is(err, ErrInUse) hold.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// Lock is a held lock; Release gives it up.
type Lock struct {
	f    *os.File
	what string
	key  fileKey
	once sync.Once
}

// held maps the lock files this process holds to the setting each was
// taken for, to tell "the same directory twice" apart in messages.
var held = struct {
	sync.Mutex
	m map[fileKey]string
}{m: map[fileKey]string{}}

// Acquire creates dir (mode 0700) if it is missing and locks it for what
// (the setting that names it, such as "[data] dir", used in messages). It
// fails with an *InUseError when another holder has the lock.
func Acquire(dir, what string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	locked, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: locking %s: %w", what, path, err)
	}
	if !locked {
		e := &InUseError{What: what, Dir: dir, Holder: describeHolder(f)}
		// Only the registry can tell this process: a PID alone cannot
		// (two containers sharing a volume both run their node as pid 1).
		if key, err := keyOf(f); err == nil {
			held.Lock()
			e.Also, e.SameProcess = held.m[key]
			held.Unlock()
		}
		f.Close()
		return nil, e
	}
	key, err := keyOf(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// Say who holds it. A failure here (a full disk) leaves the lock
	// working; only the name of the holder would be missing.
	host, _ := os.Hostname()
	info := fmt.Sprintf("pid %d on host %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(info), 0)
	}
	held.Lock()
	held.m[key] = what
	held.Unlock()
	return &Lock{f: f, what: what, key: key}, nil
}

// describeHolder reads the holder's line from the lock file ("" when it
// has none yet: the holder has just taken the lock).
func describeHolder(f *os.File) string {
	b := make([]byte, 512)
	n, _ := f.ReadAt(b, 0)
	line, _, _ := strings.Cut(string(b[:n]), "\n")
	return strings.TrimSpace(line)
}

// Release gives up the lock; calling it again does nothing. A nil Lock is
// allowed.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	var err error
	l.once.Do(func() {
		held.Lock()
		delete(held.m, l.key)
		held.Unlock()
		err = l.f.Close() // drops the flock
	})
	return err
}

// Set is the locks of one node, released together.
type Set struct {
	locks []*Lock
}

// Acquire locks dir for what, adding the lock to s.
func (s *Set) Acquire(dir, what string) error {
	l, err := Acquire(dir, what)
	if err != nil {
		return err
	}
	s.locks = append(s.locks, l)
	return nil
}

// Release releases every lock of s.
func (s *Set) Release() error {
	var errs []error
	for i := len(s.locks) - 1; i >= 0; i-- {
		errs = append(errs, s.locks[i].Release())
	}
	s.locks = nil
	return errors.Join(errs...)
}
