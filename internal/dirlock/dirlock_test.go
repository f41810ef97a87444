package dirlock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecondHolderIsRefused: a directory locked once cannot be locked again
// until the lock is released, and the refusal names the holder.
func TestSecondHolderIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	l, err := Acquire(dir, "[data] dir")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, "[data] wal-dir")
	var inUse *InUseError
	if !errors.As(err, &inUse) || !errors.Is(err, ErrInUse) {
		t.Fatalf("second Acquire: %v, want an *InUseError", err)
	}
	if !inUse.SameProcess || inUse.Also != "[data] dir" {
		t.Errorf("refusal %+v does not say that this process holds it as [data] dir", inUse)
	}
	if want := fmt.Sprintf("pid %d on host ", os.Getpid()); !strings.HasPrefix(inUse.Holder, want) {
		t.Errorf("holder %q, want it to start with %q", inUse.Holder, want)
	}
	if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "each node needs its own [data] wal-dir") {
		t.Errorf("message %q does not name the directory and the setting", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	l2, err := Acquire(dir, "[data] dir")
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

// TestSymlinkedDirectoryIsTheSame: two names of one directory share its
// lock.
func TestSymlinkedDirectoryIsTheSame(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "wal")
	var s Set
	if err := s.Acquire(dir, "[data] wal-dir"); err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	link := filepath.Join(base, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	err := s.Acquire(link, "[hinted-handoff] dir")
	var inUse *InUseError
	if !errors.As(err, &inUse) || inUse.Also != "[data] wal-dir" {
		t.Fatalf("Acquire through a symlink: %v, want a refusal naming [data] wal-dir", err)
	}
}

// TestHeldByAnotherProcess: a lock held by another process refuses with
// its PID, and is free again as soon as that process is killed (SIGKILL:
// nothing released it but the kernel).
func TestHeldByAnotherProcess(t *testing.T) {
	if dir := os.Getenv("DIRLOCK_TEST_HOLD"); dir != "" {
		if _, err := Acquire(dir, "[meta] dir"); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHeldByAnotherProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DIRLOCK_TEST_HOLD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("child: %q", line)
	}

	_, err = Acquire(dir, "[meta] dir")
	var inUse *InUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("Acquire while another process holds the lock: %v", err)
	}
	if inUse.SameProcess {
		t.Errorf("refusal %+v says this process holds it", inUse)
	}
	if want := fmt.Sprintf("another process (pid %d on host ", cmd.Process.Pid); !strings.Contains(err.Error(), want) {
		t.Errorf("message %q does not contain %q", err, want)
	}

	cmd.Process.Kill()
	cmd.Wait()
	l, err := Acquire(dir, "[meta] dir")
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	l.Release()
}
