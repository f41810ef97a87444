package charttest

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Binaries are the commands the image has (deploy/docker/Dockerfile, staged
// by `make image`): every command and exec probe must be one of them.
var Binaries = []string{"/usr/bin/palisade-data", "/usr/bin/palisade-meta", "/usr/bin/palisade-ctl"}

// Expect is what the values asked for, to check the rendering against.
type Expect struct {
	Release        Release
	ClusterDomain  string
	MetaReplicas   int
	DataReplicas   int
	AuthEnabled    bool
	ExistingSecret string // "" when the chart makes the Secret
	NoTests        bool   // tests.enabled=false: no helm test pod
	// TLSSecret is the Secret of the nodes' certificate when TLS is on
	// between the nodes ("": TLS off).
	TLSSecret string
	// CertManager: a cert-manager Certificate writes TLSSecret.
	CertManager bool
	// NoNetworkPolicy: networkPolicy.enabled=false. ClosedClientPort:
	// networkPolicy.allowExternal=false (8086 and 8092 only from the chart's
	// pods and the peers given).
	NoNetworkPolicy, ClosedClientPort bool
	// NoPprof: data.pprof=false.
	NoPprof bool
}

// Check returns every way r breaks what a working Palisade cluster on
// Kubernetes needs: selectors, services, probes, secrets, disruption budgets,
// security contexts, identities and peers.
func Check(r *Rendered, want Expect) []string {
	c := &checker{r: r, want: want}
	c.statefulSets()
	c.services()
	c.pdbs()
	c.secrets()
	c.identities()
	c.testPod()
	c.tls()
	c.networkPolicies()
	return c.problems
}

type checker struct {
	r        *Rendered
	want     Expect
	problems []string
}

func (c *checker) failf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *checker) names() (meta, data string) {
	base := c.fullname()
	return base + "-meta", base + "-data"
}

// fullname is the chart's base name for the release: the release name (or
// release-palisade), cut to 47 characters.
func (c *checker) fullname() string {
	base := c.want.Release.Name
	if !strings.Contains(base, "palisade") {
		base += "-palisade"
	}
	if len(base) > 47 {
		base = base[:47]
	}
	return strings.TrimRight(base, "-")
}

func (c *checker) each(kind string, f func(o *Object)) {
	for i := range c.r.Objects {
		if c.r.Objects[i].Kind == kind {
			f(&c.r.Objects[i])
		}
	}
}

// matches reports whether every label of sel is in labels.
func matches(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (c *checker) statefulSets() {
	metaName, dataName := c.names()
	found := map[string]bool{}
	c.each("StatefulSet", func(o *Object) {
		s := o.Typed.(*appsv1.StatefulSet)
		found[s.Name] = true
		if len(s.Name) > 52 {
			c.failf("StatefulSet %s: a name over 52 characters leaves no room for the revision hash in its pods' labels", s.Name)
		}
		tpl := s.Spec.Template
		if s.Spec.Selector == nil || !matches(s.Spec.Selector.MatchLabels, tpl.Labels) {
			c.failf("StatefulSet %s: its selector does not match its pod template's labels", s.Name)
		}
		if svc := c.r.Find("Service", s.Spec.ServiceName); svc == nil {
			c.failf("StatefulSet %s: serviceName %q is no Service of the chart", s.Name, s.Spec.ServiceName)
		} else {
			h := svc.Typed.(*corev1.Service)
			if h.Spec.ClusterIP != corev1.ClusterIPNone || !h.Spec.PublishNotReadyAddresses {
				c.failf("StatefulSet %s: Service %s must be headless and publish not-ready addresses (peers find each other before they are ready)", s.Name, h.Name)
			}
			if !matches(h.Spec.Selector, tpl.Labels) {
				c.failf("StatefulSet %s: Service %s does not select its pods", s.Name, h.Name)
			}
		}
		if s.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
			c.failf("StatefulSet %s: updateStrategy %q, want RollingUpdate (one pod at a time)", s.Name, s.Spec.UpdateStrategy.Type)
		}
		c.podSpec("StatefulSet "+s.Name, &tpl.Spec, true)
		claims := map[string]bool{}
		for _, pvc := range s.Spec.VolumeClaimTemplates {
			claims[pvc.Name] = true
		}
		for _, ctr := range tpl.Spec.Containers {
			mounted := false
			for _, m := range ctr.VolumeMounts {
				if !claims[m.Name] && podVolume(&tpl.Spec, m.Name) == nil {
					c.failf("StatefulSet %s: volume mount %s has no volume claim template or pod volume", s.Name, m.Name)
				}
				mounted = mounted || (claims[m.Name] && m.MountPath == "/var/lib/palisade")
			}
			if !mounted {
				c.failf("StatefulSet %s: /var/lib/palisade (the image's volume, every node's state) is not on a persistent volume", s.Name)
			}
		}
		if tpl.Annotations == nil || !hasPrefixKey(tpl.Annotations, "checksum/") {
			c.failf("StatefulSet %s: no checksum annotation on the pod template (a changed secret would not roll the pods)", s.Name)
		}
		switch s.Name {
		case metaName:
			if s.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
				c.failf("StatefulSet %s: podManagementPolicy %q, want Parallel (the peers bootstrap together)", s.Name, s.Spec.PodManagementPolicy)
			}
			if n := replicas(s); n != c.want.MetaReplicas || n%2 == 0 {
				c.failf("StatefulSet %s: %d replicas, want %d (odd)", s.Name, n, c.want.MetaReplicas)
			}
		case dataName:
			if n := replicas(s); n != c.want.DataReplicas {
				c.failf("StatefulSet %s: %d replicas, want %d", s.Name, n, c.want.DataReplicas)
			}
			ctr := tpl.Spec.Containers[0]
			if ctr.StartupProbe == nil {
				c.failf("StatefulSet %s: no startupProbe (a long WAL replay would be killed by the liveness probe)", s.Name)
			} else if p := ctr.StartupProbe; p.PeriodSeconds*p.FailureThreshold < 600 {
				c.failf("StatefulSet %s: the startupProbe allows %d s, less than 10 minutes of WAL replay", s.Name, p.PeriodSeconds*p.FailureThreshold)
			}
			if g := tpl.Spec.TerminationGracePeriodSeconds; g == nil || *g < 60 {
				c.failf("StatefulSet %s: terminationGracePeriodSeconds below 60 (in-flight writes and the engine's close need time)", s.Name)
			}
			if got := envValue(ctr, "INFLUXDB_HTTP_AUTH_ENABLED"); got != fmt.Sprint(c.want.AuthEnabled) {
				c.failf("StatefulSet %s: INFLUXDB_HTTP_AUTH_ENABLED=%q, want %v", s.Name, got, c.want.AuthEnabled)
			}
			// The node serves /debug/pprof/ by default, to anyone while
			// auth is off: the chart must say false then, and the last
			// definition is the one the container gets.
			pprof, set := envLast(ctr, "INFLUXDB_HTTP_PPROF_ENABLED")
			switch want := c.want.AuthEnabled && !c.want.NoPprof; {
			case !set:
				c.failf("StatefulSet %s: INFLUXDB_HTTP_PPROF_ENABLED is not set: the node's default serves /debug/pprof/ (to anyone while auth is off)", s.Name)
			case pprof != fmt.Sprint(want):
				c.failf("StatefulSet %s: INFLUXDB_HTTP_PPROF_ENABLED=%q with auth.enabled=%v, want %v (pprof never on without auth)", s.Name, pprof, c.want.AuthEnabled, want)
			}
		default:
			c.failf("unexpected StatefulSet %s", s.Name)
		}
	})
	for _, n := range []string{metaName, dataName} {
		if !found[n] {
			c.failf("no StatefulSet %s", n)
		}
	}
}

func hasPrefixKey(m map[string]string, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func replicas(s *appsv1.StatefulSet) int {
	if s.Spec.Replicas == nil {
		return 1
	}
	return int(*s.Spec.Replicas)
}

// podSpec checks what every pod of the chart needs: the restricted
// security context, real commands, probes on real ports, resources, an image
// with a fixed tag, and (workloads) spreading over nodes.
func (c *checker) podSpec(what string, spec *corev1.PodSpec, workload bool) {
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil ||
		psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		c.failf("%s: the pod security context is not restricted (runAsNonRoot, seccomp RuntimeDefault)", what)
	}
	if workload && spec.Affinity == nil {
		c.failf("%s: no pod anti-affinity", what)
	}
	if a := spec.AutomountServiceAccountToken; a == nil || *a {
		c.failf("%s: automountServiceAccountToken is not false (the pods never call the Kubernetes API: a mounted token only helps an intruder)", what)
	}
	for _, ctr := range spec.Containers {
		w := what + " container " + ctr.Name
		sc := ctr.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			c.failf("%s: the security context is not restricted (no privilege escalation, drop ALL, read-only root)", w)
		}
		ref := ctr.Image[strings.LastIndex(ctr.Image, "/")+1:]
		if i := strings.LastIndex(ref, ":"); i < 0 || ref[i+1:] == "" || ref[i+1:] == "latest" {
			c.failf("%s: image %q has no fixed tag", w, ctr.Image)
		}
		if len(ctr.Command) == 0 || !slices.Contains(Binaries, ctr.Command[0]) {
			c.failf("%s: command %q is not one of the image's binaries %v", w, ctr.Command, Binaries)
		}
		if ctr.Resources.Limits.Memory().IsZero() {
			c.failf("%s: no memory limit", w)
		}
		ports := map[string]int32{}
		for _, p := range ctr.Ports {
			ports[p.Name] = p.ContainerPort
		}
		for name, p := range map[string]*corev1.Probe{"startup": ctr.StartupProbe, "liveness": ctr.LivenessProbe, "readiness": ctr.ReadinessProbe} {
			if p == nil {
				if workload && name != "startup" {
					c.failf("%s: no %s probe", w, name)
				}
				continue
			}
			switch {
			case p.Exec != nil:
				cmd := p.Exec.Command
				if len(cmd) < 2 || !slices.Contains(Binaries, cmd[0]) || cmd[1] != "healthcheck" {
					c.failf("%s: %s probe %q is not `<binary> healthcheck`", w, name, cmd)
				}
			case p.TCPSocket != nil:
				c.port(w+" "+name+" probe", p.TCPSocket.Port, ports)
			case p.HTTPGet != nil:
				c.port(w+" "+name+" probe", p.HTTPGet.Port, ports)
			default:
				c.failf("%s: %s probe has no handler", w, name)
			}
		}
		c.envRefs(w, ctr)
	}
}

func (c *checker) port(what string, p intstr.IntOrString, ports map[string]int32) {
	if p.Type == intstr.String {
		if _, ok := ports[p.StrVal]; !ok {
			c.failf("%s: port %q is not a container port", what, p.StrVal)
		}
		return
	}
	if !slices.Contains(slices.Collect(maps.Values(ports)), p.IntVal) {
		c.failf("%s: port %d is not a container port", what, p.IntVal)
	}
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// envRefs checks that every $(VAR) in an env value names a variable defined
// before it (Kubernetes leaves other references as they are).
func (c *checker) envRefs(what string, ctr corev1.Container) {
	defined := map[string]bool{}
	for _, e := range ctr.Env {
		for _, m := range envRef.FindAllStringSubmatch(e.Value, -1) {
			if !defined[m[1]] {
				c.failf("%s: %s refers to $(%s), not defined before it", what, e.Name, m[1])
			}
		}
		defined[e.Name] = true
	}
}

// envLast returns the value the container gets for name: its last
// definition (Kubernetes lets a later entry win).
func envLast(ctr corev1.Container, name string) (string, bool) {
	v, set := "", false
	for _, e := range ctr.Env {
		if e.Name == name {
			v, set = e.Value, true
		}
	}
	return v, set
}

func podVolume(spec *corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

func envValue(ctr corev1.Container, name string) string {
	for _, e := range ctr.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// podsOf returns the pod templates (and test pods) whose labels sel selects.
func (c *checker) podsOf(sel map[string]string) []*corev1.PodSpec {
	var out []*corev1.PodSpec
	c.each("StatefulSet", func(o *Object) {
		s := o.Typed.(*appsv1.StatefulSet)
		if matches(sel, s.Spec.Template.Labels) {
			out = append(out, &s.Spec.Template.Spec)
		}
	})
	return out
}

func (c *checker) services() {
	client := c.fullname()
	c.each("Service", func(o *Object) {
		s := o.Typed.(*corev1.Service)
		pods := c.podsOf(s.Spec.Selector)
		if len(pods) == 0 {
			c.failf("Service %s selects no pods of the chart", s.Name)
			return
		}
		for _, p := range s.Spec.Ports {
			for _, pod := range pods {
				ports := map[string]int32{}
				for _, ctr := range pod.Containers {
					for _, cp := range ctr.Ports {
						ports[cp.Name] = cp.ContainerPort
					}
				}
				c.port("Service "+s.Name+" port "+p.Name, p.TargetPort, ports)
			}
		}
		if s.Name == client && (s.Spec.PublishNotReadyAddresses || s.Spec.ClusterIP == corev1.ClusterIPNone) {
			c.failf("Service %s: the client Service must route to ready pods only, through a cluster IP", s.Name)
		}
	})
	if c.r.Find("Service", client) == nil {
		c.failf("no client Service %s", client)
	}
}

func (c *checker) pdbs() {
	covered := map[string]bool{}
	c.each("PodDisruptionBudget", func(o *Object) {
		p := o.Typed.(*policyv1.PodDisruptionBudget)
		if p.Spec.Selector == nil {
			c.failf("PodDisruptionBudget %s has no selector", p.Name)
			return
		}
		c.each("StatefulSet", func(so *Object) {
			s := so.Typed.(*appsv1.StatefulSet)
			if !matches(p.Spec.Selector.MatchLabels, s.Spec.Template.Labels) {
				return
			}
			covered[s.Name] = true
			metaName, _ := c.names()
			if s.Name == metaName {
				quorum := replicas(s)/2 + 1
				if p.Spec.MinAvailable == nil || p.Spec.MinAvailable.IntValue() != quorum {
					c.failf("PodDisruptionBudget %s: minAvailable %v, want a quorum of %d", p.Name, p.Spec.MinAvailable, quorum)
				}
			}
		})
	})
	c.each("StatefulSet", func(o *Object) {
		if metaName, _ := c.names(); o.Name == metaName && replicas(o.Typed.(*appsv1.StatefulSet)) == 1 {
			if covered[o.Name] {
				c.failf("StatefulSet %s: a budget for a single meta node blocks every drain", o.Name)
			}
			return
		}
		if !covered[o.Name] {
			c.failf("StatefulSet %s has no PodDisruptionBudget", o.Name)
		}
	})
}

// secrets checks that every secretKeyRef names a Secret the chart renders,
// with that key, or the existingSecret.
func (c *checker) secrets() {
	check := func(what string, ctrs []corev1.Container) {
		for _, ctr := range ctrs {
			for _, e := range ctr.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				if c.want.ExistingSecret != "" {
					if ref.Name != c.want.ExistingSecret {
						c.failf("%s: %s reads Secret %s, not existingSecret %s", what, e.Name, ref.Name, c.want.ExistingSecret)
					}
					continue
				}
				s := c.r.Secret(ref.Name)
				if s == nil {
					c.failf("%s: %s reads Secret %s, which the chart does not create", what, e.Name, ref.Name)
				} else if len(s.Data[ref.Key]) == 0 {
					c.failf("%s: %s reads key %s of Secret %s, which is missing or empty", what, e.Name, ref.Key, ref.Name)
				}
			}
		}
	}
	c.each("StatefulSet", func(o *Object) {
		check("StatefulSet "+o.Name, o.Typed.(*appsv1.StatefulSet).Spec.Template.Spec.Containers)
	})
	c.each("Pod", func(o *Object) { check("Pod "+o.Name, o.Typed.(*corev1.Pod).Spec.Containers) })
	if c.want.ExistingSecret != "" && c.r.Objects != nil {
		c.each("Secret", func(o *Object) { c.failf("Secret %s rendered although existingSecret is set", o.Name) })
	}
}

// identities checks the node identities and peer lists: the DNS names of the
// StatefulSets' pods, derived from the replica count.
func (c *checker) identities() {
	metaName, dataName := c.names()
	meta, data := c.r.StatefulSet(metaName), c.r.StatefulSet(dataName)
	if meta == nil || data == nil {
		return
	}
	domain := fmt.Sprintf("%s.svc.%s", c.want.Release.Namespace, c.want.ClusterDomain)
	var raft, grpc []string
	for i := range replicas(meta) {
		host := fmt.Sprintf("%s-%d.%s.%s", meta.Name, i, meta.Spec.ServiceName, domain)
		raft = append(raft, host+":8089")
		grpc = append(grpc, host+":8091")
	}
	mc, dc := meta.Spec.Template.Spec.Containers[0], data.Spec.Template.Spec.Containers[0]
	for _, tt := range []struct {
		ctr        corev1.Container
		name, want string
	}{
		{mc, "INFLUXDB_HOSTNAME", "$(POD_NAME)." + meta.Spec.ServiceName + "." + domain},
		{mc, "INFLUXDB_META_PEERS", strings.Join(raft, ",")},
		{dc, "INFLUXDB_HOSTNAME", "$(POD_NAME)." + data.Spec.ServiceName + "." + domain},
		{dc, "INFLUXDB_META_SERVERS", strings.Join(grpc, ",")},
	} {
		if got := envValue(tt.ctr, tt.name); got != tt.want {
			c.failf("container %s: %s=%q, want %q", tt.ctr.Name, tt.name, got, tt.want)
		}
	}
	for _, ctr := range []corev1.Container{mc, dc} {
		var podName bool
		for _, e := range ctr.Env {
			podName = podName || (e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
				e.ValueFrom.FieldRef.FieldPath == "metadata.name")
		}
		if !podName {
			c.failf("container %s: POD_NAME does not come from metadata.name", ctr.Name)
		}
	}
}

func (c *checker) testPod() {
	n := 0
	c.each("Pod", func(o *Object) {
		n++
		p := o.Typed.(*corev1.Pod)
		if o.Hook != "test" {
			c.failf("Pod %s is not a helm test hook", p.Name)
		}
		if p.Spec.RestartPolicy != corev1.RestartPolicyNever {
			c.failf("Pod %s: restartPolicy %q, want Never", p.Name, p.Spec.RestartPolicy)
		}
		c.podSpec("Pod "+p.Name, &p.Spec, false)
	})
	if want := map[bool]int{false: 1, true: 0}[c.want.NoTests]; n != want {
		c.failf("%d test pods, want %d", n, want)
	}
}
