package charttest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// deploy/compose (README.md there) is tested here too: this module holds
// the deployment's tests that need no server code. TestCompose in e2e runs
// the stack itself.
const (
	composeDir  = "../compose"
	composeFile = composeDir + "/docker-compose.yml"
	composeEnv  = composeDir + "/.env.example"
	secretVar   = "PALISADE_INTERNAL_SECRET"
)

// exampleEnv returns the assignments of .env.example that are not
// commented out.
func exampleEnv(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(composeEnv)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not NAME=value", composeEnv, line)
		}
		vars[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return vars
}

// TestComposeExampleHoldsNoSecret (issue 17, point 11): .env.example
// carries no value for the internal secret, and every use of it in the
// compose file refuses an unset or empty one (${VAR:?message}). A
// placeholder copied with `cp .env.example .env` used to start a cluster
// whose secret everyone who read the repository knows.
func TestComposeExampleHoldsNoSecret(t *testing.T) {
	if v, ok := exampleEnv(t)[secretVar]; ok && v != "" {
		t.Errorf("%s sets %s=%q: a copied example would run with a secret everyone knows", composeEnv, secretVar, v)
	}
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	uses := regexp.MustCompile(`\$\{?`+secretVar+`([^A-Za-z0-9_][^}]*)?\}?`).FindAllStringSubmatch(string(b), -1)
	if len(uses) == 0 {
		t.Fatalf("%s does not use %s", composeFile, secretVar)
	}
	for _, u := range uses {
		if !strings.HasPrefix(u[1], ":?") {
			t.Errorf("%s: %q takes an unset or empty secret: use ${%s:?message}", composeFile, u[0], secretVar)
		}
	}
}

// composeConfig runs `docker-compose config` on the compose file with the
// env file given and only the variables in env (none of the caller's).
func composeConfig(t *testing.T, envFile string, env ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose is not installed: TestComposeExampleHoldsNoSecret checks the files alone")
	}
	cmd := exec.Command(bin, "-f", composeFile, "--env-file", envFile, "config")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestComposeRefusesToStartWithoutASecret: docker-compose itself (`config`
// interpolates as `up` does, and needs no Docker daemon) refuses the
// example as copied, and a missing or empty secret, naming the variable;
// with a secret set, every node gets it, and pprof is off with auth.
func TestComposeRefusesToStartWithoutASecret(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, envFile string
		env           []string
	}{
		{"the example as copied", composeEnv, nil},
		{"no env file", empty, nil},
		{"an empty secret", composeEnv, []string{secretVar + "="}},
	} {
		out, err := composeConfig(t, tt.envFile, tt.env...)
		if err == nil || !strings.Contains(out, "set "+secretVar+" in .env") {
			t.Errorf("%s: docker-compose config: %v, want a refusal naming %s:\n%s", tt.name, err, secretVar, out)
		}
	}
	const secret = "8a1d5c0f3e7b9d2a4c6e8f0a1b3d5e7f"
	out, err := composeConfig(t, composeEnv, secretVar+"="+secret)
	if err != nil {
		t.Fatalf("with a secret: %v\n%s", err, out)
	}
	if n := strings.Count(out, "INTERNAL_SHARED_SECRET: "+secret); n != 5 {
		t.Errorf("with a secret: %d of 5 nodes get it:\n%s", n, out)
	}
	// The data nodes serve /debug/pprof/ by default, to anyone while auth
	// is off: the compose file ties it to INFLUXDB_HTTP_AUTH_ENABLED.
	if n := strings.Count(out, `INFLUXDB_HTTP_PPROF_ENABLED: "false"`); n != 2 {
		t.Errorf("with auth off, %d of 2 data nodes have pprof off:\n%s", n, out)
	}
}
