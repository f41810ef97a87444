//go:build docker

package charttest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestKubernetesIdentity (issue 10, point 5) runs the real image as the
// chart's StatefulSets would run it, with Docker standing in for Kubernetes:
// each container is named, aliased and configured like its pod
// (palisade-meta-0.palisade-meta.default.svc.cluster.local, the env of the
// rendered chart with POD_NAME, the Secret's values and $(VAR) expanded,
// the pod's security context, one volume per pod). It proves that the
// binaries bootstrap under Kubernetes naming, pass the chart's probes and
// helm test, keep their node IDs and data when restarted in reverse ordinal
// order (a rolling update) and when a pod is re-created with its volume (a
// reschedule).
//
//	make chart-docker
func TestKubernetesIdentity(t *testing.T) {
	image := os.Getenv("PALISADE_IMAGE")
	if image == "" {
		t.Fatal("PALISADE_IMAGE is not set: run `make chart-docker`, which builds the image")
	}
	repo, tag, _ := strings.Cut(image, ":")
	vals := parseValues(t, fmt.Sprintf(`
image: {repository: %q, tag: %q, pullPolicy: Never}
auth: {enabled: true, adminUser: admin, adminPassword: k8s-admin-pass, internalSharedSecret: k8s-internal, jwtSharedSecret: k8s-jwt}
`, repo, tag))
	r, err := Render(DefaultRelease, vals, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := &kube{t: t, r: r, prefix: fmt.Sprintf("pk8s%d", os.Getpid()), secret: r.Secret("palisade-auth")}
	k.network()
	meta, data := r.StatefulSet("palisade-meta"), r.StatefulSet("palisade-data")

	// helm install creates both StatefulSets at once, so a data pod may
	// start before any meta node answers: it must wait (retrying its
	// registration in-process), not exit. Then the meta pods, all at once
	// (Parallel pod management).
	for i := range replicas(data) {
		k.start(data, i)
	}
	time.Sleep(3 * time.Second)
	for i := range replicas(data) {
		if state := k.docker("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", k.container(data, i)); state != "running 0" {
			k.t.Fatalf("%s without meta nodes: %s, want running", podName(data, i), state)
		}
	}
	for i := range replicas(meta) {
		k.start(meta, i)
	}
	for _, s := range []*appsv1.StatefulSet{meta, data} {
		for i := range replicas(s) {
			k.ready(s, i)
		}
	}
	cluster, ids := k.show()
	t.Logf("cluster %s, data node IDs %v", cluster, ids)
	if len(ids) != replicas(data) {
		t.Fatalf("%d data nodes registered, want %d: %v", len(ids), replicas(data), ids)
	}

	// The admin came from the chart's Secret (INFLUXDB_ADMIN_*): auth is on.
	c0 := k.client(data, 0)
	if code, body := c0.query("", "SHOW DATABASES", false); code != http.StatusUnauthorized {
		t.Fatalf("a query without credentials: %d %s, want 401", code, body)
	}
	c0.mustQuery("", "CREATE DATABASE k8s WITH REPLICATION 2")
	var lines []string
	for i := range 200 {
		lines = append(lines, fmt.Sprintf("cpu,host=h%d value=%d %d", i%7, i, int64(1_700_000_000_000_000_000)+int64(i)*int64(time.Second)))
	}
	c0.write("k8s", strings.Join(lines, "\n"))
	k.expectPoints(data, 200, ids)

	// helm test: the test pod's containers, with the client Service as a
	// network alias of the data pods.
	k.helmTest()

	// A rolling update: the highest ordinal first, each ready before the next.
	for _, s := range []*appsv1.StatefulSet{data, meta} {
		for i := replicas(s) - 1; i >= 0; i-- {
			k.docker("restart", "-t", "30", k.container(s, i))
			k.ready(s, i)
		}
	}
	k.sameCluster(cluster, ids)
	k.expectPoints(data, 200, ids)

	// A reschedule: the pod is deleted and created again with its volume.
	for _, s := range []*appsv1.StatefulSet{data, meta} {
		k.docker("stop", "-t", "30", k.container(s, 1))
		k.docker("rm", k.container(s, 1))
		k.start(s, 1)
		k.ready(s, 1)
	}
	k.sameCluster(cluster, ids)
	k.expectPoints(data, 200, ids)
	k.helmTest()
}

// kube runs pods of the rendered chart as Docker containers.
type kube struct {
	t      *testing.T
	r      *Rendered
	prefix string
	secret *corev1.Secret
	// files holds the Secrets that pods mount as volumes (the TLS Secret):
	// Secret name → key → content.
	files map[string]map[string][]byte
	// ctl are palisade-ctl's flags for `show` in a meta pod.
	ctl []string
}

func (k *kube) docker(args ...string) string {
	k.t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		k.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (k *kube) network() {
	net := k.prefix + "-net"
	k.docker("network", "create", net)
	k.t.Cleanup(func() {
		if k.t.Failed() {
			for _, name := range strings.Fields(k.dockerQuiet("ps", "-a", "--filter", "name="+k.prefix, "--format", "{{.Names}}")) {
				k.t.Logf("logs of %s:\n%s", name, tail(k.dockerQuiet("logs", name), 40))
			}
		}
		for _, name := range strings.Fields(k.dockerQuiet("ps", "-a", "--filter", "name="+k.prefix, "--format", "{{.Names}}")) {
			k.dockerQuiet("rm", "-f", name)
		}
		for _, v := range strings.Fields(k.dockerQuiet("volume", "ls", "-q", "--filter", "name="+k.prefix)) {
			k.dockerQuiet("volume", "rm", v)
		}
		k.dockerQuiet("network", "rm", net)
	})
}

func (k *kube) dockerQuiet(args ...string) string {
	out, _ := exec.Command("docker", args...).CombinedOutput()
	return string(out)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func podName(s *appsv1.StatefulSet, i int) string { return fmt.Sprintf("%s-%d", s.Name, i) }

func (k *kube) container(s *appsv1.StatefulSet, i int) string { return k.prefix + "-" + podName(s, i) }

// env resolves a container's env as the kubelet does: fieldRefs, the
// Secret's keys, and $(VAR) references to variables defined before.
func (k *kube) env(ctr corev1.Container, pod string) []string {
	k.t.Helper()
	vars := map[string]string{}
	var out []string
	for _, e := range ctr.Env {
		v := e.Value
		switch {
		case e.ValueFrom == nil:
			v = envRef.ReplaceAllStringFunc(v, func(ref string) string {
				if val, ok := vars[ref[2:len(ref)-1]]; ok {
					return val
				}
				return ref
			})
		case e.ValueFrom.FieldRef != nil:
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				v = pod
			case "metadata.namespace":
				v = DefaultRelease.Namespace
			default:
				k.t.Fatalf("%s: fieldRef %s", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if ref.Name != k.secret.Name {
				k.t.Fatalf("%s: Secret %s", e.Name, ref.Name)
			}
			v = string(k.secret.Data[ref.Key])
		default:
			k.t.Fatalf("%s: unsupported valueFrom", e.Name)
		}
		vars[e.Name] = v
		out = append(out, e.Name+"="+v)
	}
	return out
}

// secretDir returns a host directory holding what a Secret volume shows a
// pod: its items (or every key), from k.files.
func (k *kube) secretDir(v *corev1.Volume) string {
	k.t.Helper()
	if v == nil || v.Secret == nil {
		k.t.Fatalf("volume %v: only Secret volumes and volume claims are supported", v)
	}
	data, ok := k.files[v.Secret.SecretName]
	if !ok {
		k.t.Fatalf("volume %s: no Secret %s", v.Name, v.Secret.SecretName)
	}
	items := v.Secret.Items
	if len(items) == 0 {
		for key := range data {
			items = append(items, corev1.KeyToPath{Key: key, Path: key})
		}
	}
	dir := k.t.TempDir()
	// The container's user is not the test's: the files must be readable
	// by others (Kubernetes gives the pod's fsGroup instead).
	if err := os.Chmod(dir, 0o755); err != nil {
		k.t.Fatal(err)
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			k.t.Fatalf("volume %s: Secret %s has no key %s", v.Name, v.Secret.SecretName, it.Key)
		}
		f := filepath.Join(dir, it.Path)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			k.t.Fatal(err)
		}
		if err := os.WriteFile(f, b, 0o644); err != nil {
			k.t.Fatal(err)
		}
	}
	return dir
}

// runArgs are `docker run` arguments for a container of a pod: its
// identity, env, security context and command.
func (k *kube) runArgs(name, hostname string, aliases []string, spec corev1.PodSpec, ctr corev1.Container, pod string) []string {
	args := []string{"--name", name, "--network", k.prefix + "-net", "--hostname", hostname}
	for _, a := range aliases {
		args = append(args, "--network-alias", a)
	}
	if psc := spec.SecurityContext; psc != nil && psc.RunAsUser != nil {
		args = append(args, "--user", fmt.Sprintf("%d:%d", *psc.RunAsUser, *psc.RunAsGroup))
	}
	if sc := ctr.SecurityContext; sc != nil {
		if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
			args = append(args, "--read-only")
		}
		if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
			args = append(args, "--security-opt", "no-new-privileges")
		}
		if sc.Capabilities != nil && slices.Contains(sc.Capabilities.Drop, "ALL") {
			args = append(args, "--cap-drop", "ALL")
		}
	}
	for _, e := range k.env(ctr, pod) {
		args = append(args, "-e", e)
	}
	return args
}

// start runs pod i of s, with its volume (created on first use, kept after).
func (k *kube) start(s *appsv1.StatefulSet, i int) {
	k.t.Helper()
	pod := podName(s, i)
	spec := s.Spec.Template.Spec
	ctr := spec.Containers[0]
	fqdn := fmt.Sprintf("%s.%s.%s.svc.cluster.local", pod, s.Spec.ServiceName, DefaultRelease.Namespace)
	aliases := []string{fqdn, pod + "." + s.Spec.ServiceName}
	if s.Name == "palisade-data" {
		aliases = append(aliases, "palisade") // the client Service
	}
	args := append([]string{"run", "-d"}, k.runArgs(k.container(s, i), pod, aliases, spec, ctr, pod)...)
	for _, m := range ctr.VolumeMounts {
		if v := podVolume(&spec, m.Name); v != nil {
			args = append(args, "-v", k.secretDir(v)+":"+m.MountPath+":ro")
			continue
		}
		args = append(args, "-v", fmt.Sprintf("%s-%s-%s:%s", k.prefix, m.Name, pod, m.MountPath))
	}
	for _, p := range ctr.Ports {
		if p.Name == "http" {
			args = append(args, "-p", fmt.Sprintf("127.0.0.1::%d", p.ContainerPort))
		}
	}
	args = append(args, "--entrypoint", ctr.Command[0], ctr.Image)
	args = append(args, ctr.Command[1:]...)
	k.docker(args...)
}

// ready waits until the pod's readiness probe (its exec command, run in the
// container as the kubelet would) succeeds.
func (k *kube) ready(s *appsv1.StatefulSet, i int) {
	k.t.Helper()
	ctr := s.Spec.Template.Spec.Containers[0]
	probe := ctr.ReadinessProbe
	if probe == nil || probe.Exec == nil {
		k.t.Fatalf("%s: no exec readiness probe", s.Name)
	}
	name := k.container(s, i)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := exec.Command("docker", append([]string{"exec", name}, probe.Exec.Command...)...).CombinedOutput()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("%s: not ready after 2 minutes: %s: %v\n%s", name, probe.Exec.Command, err, out)
		}
		time.Sleep(time.Second)
	}
}

var dataRow = regexp.MustCompile(`(?m)^(\d+)\s+(\S+:8086)\s+(\S+:8088)\s`)

// show runs `palisade-ctl show` in meta-0 (as docs/kubernetes.md tells
// operators to: its defaults and the pod's env) until it names a leader and
// every data node, and returns the cluster ID and the data nodes' IDs by
// their TCP address.
func (k *kube) show() (string, map[string]uint64) {
	k.t.Helper()
	meta := k.r.StatefulSet("palisade-meta")
	want := replicas(k.r.StatefulSet("palisade-data"))
	deadline := time.Now().Add(time.Minute)
	for {
		args := append([]string{"exec", k.container(meta, 0), "/usr/bin/palisade-ctl"}, k.ctl...)
		out, err := exec.Command("docker", append(args, "show")...).CombinedOutput()
		s := string(out)
		ids := map[string]uint64{}
		for _, m := range dataRow.FindAllStringSubmatch(s, -1) {
			id, _ := strconv.ParseUint(m[1], 10, 64)
			ids[m[3]] = id
		}
		cluster, _, _ := strings.Cut(strings.TrimPrefix(s, "Cluster "), "\n")
		if err == nil && strings.Contains(s, "Leader: palisade-meta-") && len(ids) == want {
			return cluster, ids
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("palisade-ctl show: %v\n%s", err, s)
		}
		time.Sleep(time.Second)
	}
}

// sameCluster checks that the cluster and the data nodes' IDs are those
// seen before.
func (k *kube) sameCluster(cluster string, ids map[string]uint64) {
	k.t.Helper()
	c, now := k.show()
	if c != cluster {
		k.t.Errorf("cluster %s, was %s: a node bootstrapped a new cluster", c, cluster)
	}
	if fmt.Sprint(now) != fmt.Sprint(ids) {
		k.t.Errorf("data node IDs %v, were %v: a node registered anew", now, ids)
	}
}

// helmTest runs the chart's test pod (its containers, with its env).
func (k *kube) helmTest() {
	k.t.Helper()
	o := k.r.Find("Pod", "palisade-test")
	if o == nil {
		k.t.Fatal("no test pod")
	}
	pod := o.Typed.(*corev1.Pod)
	for _, ctr := range pod.Spec.Containers {
		name := k.prefix + "-test-" + ctr.Name
		args := append([]string{"run", "--rm"}, k.runArgs(name, pod.Name, nil, pod.Spec, ctr, pod.Name)...)
		for _, m := range ctr.VolumeMounts {
			args = append(args, "-v", k.secretDir(podVolume(&pod.Spec, m.Name))+":"+m.MountPath+":ro")
		}
		args = append(args, "--entrypoint", ctr.Command[0], ctr.Image)
		out := k.docker(append(args, ctr.Command[1:]...)...)
		k.t.Logf("helm test %s: %s", ctr.Name, tail(out, 3))
	}
}

// client talks to a data pod's HTTP API through its port on 127.0.0.1.
type client struct {
	t          *testing.T
	base       string
	user, pass string
}

func (k *kube) client(s *appsv1.StatefulSet, i int) *client {
	k.t.Helper()
	addr := k.docker("port", k.container(s, i), "8086/tcp")
	addr = strings.Fields(addr)[0]
	return &client{t: k.t, base: "http://" + addr, user: string(k.secret.Data["admin-username"]), pass: string(k.secret.Data["admin-password"])}
}

func (c *client) do(req *http.Request, auth bool) (int, string) {
	c.t.Helper()
	if auth {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (c *client) query(params, q string, auth bool) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+"/query?"+params, strings.NewReader(url.Values{"q": {q}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req, auth)
}

func (c *client) mustQuery(params, q string) string {
	c.t.Helper()
	code, body := c.query(params, q, true)
	if code != http.StatusOK || strings.Contains(body, `"error"`) {
		c.t.Fatalf("%s: %d %s", q, code, body)
	}
	return body
}

func (c *client) write(db, lines string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+"/write?consistency=all&db="+db, strings.NewReader(lines))
	if code, body := c.do(req, true); code != http.StatusNoContent {
		c.t.Fatalf("write: %d %s", code, body)
	}
}

// expectPoints checks that every data node answers with every point, and
// that each node's own copy (node_id) holds them all (replication factor 2
// on two nodes: each owns every shard).
func (k *kube) expectPoints(data *appsv1.StatefulSet, n int, ids map[string]uint64) {
	k.t.Helper()
	want := fmt.Sprintf(`"values":[["1970-01-01T00:00:00Z",%d]]`, n)
	for i := range replicas(data) {
		c := k.client(data, i)
		if body := c.mustQuery("db=k8s", "SELECT count(value) FROM cpu"); !strings.Contains(body, want) {
			k.t.Errorf("%s: %s, want %d points", podName(data, i), body, n)
		}
		id := ids[fmt.Sprintf("%s.%s.default.svc.cluster.local:8088", podName(data, i), data.Spec.ServiceName)]
		if body := c.mustQuery(fmt.Sprintf("db=k8s&node_id=%d", id), "SELECT count(value) FROM cpu"); !strings.Contains(body, want) {
			k.t.Errorf("%s (node %d), its own copy: %s, want %d points", podName(data, i), id, body, n)
		}
	}
}
