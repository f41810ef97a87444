//go:build e2e

// Package e2e runs the real Palisade binaries as separate processes, as an
// operator would. Build them with `make build` and point PALISADE_BIN at the
// directory that holds them:
//
//	make build && PALISADE_BIN=$PWD/bin go test -tags e2e -count=1 ./e2e/
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir returns $PALISADE_BIN, skipping the test when it is unset.
func binDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PALISADE_BIN")
	if dir == "" {
		t.Skip("PALISADE_BIN is not set: build the binaries with `make build` and run " +
			"`PALISADE_BIN=$PWD/bin go test -tags e2e ./e2e/` (or `make e2e`)")
	}
	return dir
}

// binary returns the path of the named binary in $PALISADE_BIN.
func binary(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(binDir(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("binary %s not found in PALISADE_BIN (%v): run `make build`", name, err)
	}
	return p
}

// baseEnv is the test's environment without INFLUXDB_* variables, so that
// nothing set by whoever runs the tests leaks into a node's configuration.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INFLUXDB_") {
			env = append(env, kv)
		}
	}
	return env
}

// proc is a running binary. Its stdout and stderr go to a file under the
// test's temporary directory, which is logged when the test fails.
type proc struct {
	t       testing.TB
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // from Wait, once done is closed
}

var procSeq struct {
	sync.Mutex
	n int
}

// start starts the named binary from $PALISADE_BIN with env added to the
// base environment. It is killed at the end of the test if still running.
func start(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	return startWrapped(t, name, nil, env, args...)
}

// startWrapped is start with the binary run by wrapper (a command and its
// arguments, which must exec the binary so that the process is the node:
// see startInTmpfs).
func startWrapped(t testing.TB, name string, wrapper []string, env []string, args ...string) *proc {
	t.Helper()
	path := binary(t, name)
	procSeq.Lock()
	procSeq.n++
	seq := procSeq.n
	procSeq.Unlock()
	logPath := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%d.log", name, seq))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	if len(wrapper) > 0 {
		cmd = exec.Command(wrapper[0], append(append(wrapper[1:len(wrapper):len(wrapper)], path), args...)...)
	}
	cmd.Env = append(baseEnv(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &proc{t: t, name: fmt.Sprintf("%s#%d (pid %d)", name, seq, cmd.Process.Pid), cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("%s did not exit within 10s of SIGKILL", p.name)
			}
		}
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", p.name, tail(p.output(), 16<<10))
		}
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// output returns what the process has written so far.
func (p *proc) output() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	return string(b)
}

// signal sends sig to the process.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signalling %s: %v", p.name, err)
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	p.wait(10 * time.Second)
}

// wait waits for the process to end and returns its exit code (-1 when a
// signal ended it), failing the test after timeout.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %s", p.name, timeout)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	default:
		p.t.Fatalf("waiting for %s: %v", p.name, p.err)
		return -1
	}
}

// result is the outcome of a command run to completion.
type result struct {
	code           int
	stdout, stderr string
}

// runBinary runs the named binary to completion with stdin and env, failing
// the test if it does not finish within timeout.
func runBinary(t *testing.T, timeout time.Duration, env []string, stdin string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t, name), args...)
	cmd.Env = append(baseEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within %s", name, strings.Join(args, " "), timeout)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running %s: %v", name, err)
	}
	return r
}

// usedPorts keeps freePort from handing out the same port twice in a run.
var usedPorts struct {
	sync.Mutex
	m map[int]bool
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	usedPorts.Lock()
	defer usedPorts.Unlock()
	if usedPorts.m == nil {
		usedPorts.m = map[int]bool{}
	}
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !usedPorts.m[port] {
			usedPorts.m[port] = true
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// waitFor polls cond every 100ms until it holds, failing the test after
// timeout with what and cond's last explanation.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, why)
		}
		<-tick.C
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// every calls f(0), f(1), … in the background, one every d, until the
// returned stop is called; stop waits for a call under way.
func every(d time.Duration, f func(i int)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(d):
			}
			f(i)
		}
	}()
	return func() { close(done); wg.Wait() }
}
