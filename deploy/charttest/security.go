package charttest

import (
	"fmt"
	"path"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The node settings for TLS between the nodes (configs/meta.go,
// data/metastate/config.go, cluster/config.go), as INFLUXDB_* variables. The
// nodes have no setting for
// a CA file: they verify their peers against Go's system roots, which
// SSL_CERT_FILE and SSL_CERT_DIR replace.
var (
	metaTLSEnv = map[string]string{
		"INFLUXDB_META_HTTPS_ENABLED":     "true",
		"INFLUXDB_META_HTTPS_CERTIFICATE": "tls.crt",
		"INFLUXDB_META_HTTPS_PRIVATE_KEY": "tls.key",
		"SSL_CERT_FILE":                   "ca.crt",
	}
	dataTLSEnv = map[string]string{
		"INFLUXDB_META_META_TLS_ENABLED":     "true",
		"INFLUXDB_CLUSTER_HTTPS_ENABLED":     "true",
		"INFLUXDB_CLUSTER_HTTPS_CERTIFICATE": "tls.crt",
		"INFLUXDB_CLUSTER_HTTPS_PRIVATE_KEY": "tls.key",
		"SSL_CERT_FILE":                      "ca.crt",
	}
)

// secretFile returns the Secret and key whose file a container sees at
// file: a volume mount of a Secret volume and its items.
func secretFile(spec *corev1.PodSpec, ctr corev1.Container, file string) (secret, key string) {
	for _, m := range ctr.VolumeMounts {
		v := podVolume(spec, m.Name)
		if v == nil || v.Secret == nil {
			continue
		}
		for _, it := range v.Secret.Items {
			if path.Join(m.MountPath, it.Path) == file {
				return v.Secret.SecretName, it.Key
			}
		}
		if len(v.Secret.Items) == 0 && path.Dir(file) == path.Clean(m.MountPath) {
			return v.Secret.SecretName, path.Base(file)
		}
	}
	return "", ""
}

// tls checks TLS between the nodes: with it, every node serves and dials
// with TLS, its certificate, key and CA are files of the TLS Secret, the
// CA is the only one trusted, the probes still work, and the helm test
// pod dials with TLS and gets no private key; without it, none of this.
func (c *checker) tls() {
	metaName, dataName := c.names()
	on := c.want.TLSSecret != ""
	for _, k := range []struct {
		sts  string
		want map[string]string
	}{{metaName, metaTLSEnv}, {dataName, dataTLSEnv}} {
		s := c.r.StatefulSet(k.sts)
		if s == nil {
			continue
		}
		spec := &s.Spec.Template.Spec
		ctr := spec.Containers[0]
		for name, want := range k.want {
			got, set := envLast(ctr, name)
			switch {
			case !on && set && got != "false":
				c.failf("StatefulSet %s: %s=%q with TLS off", s.Name, name, got)
			case !on:
			case want == "true":
				if got != "true" {
					c.failf("StatefulSet %s: %s=%q, want true (TLS between the nodes)", s.Name, name, got)
				}
			default:
				if secret, key := secretFile(spec, ctr, got); secret != c.want.TLSSecret || key != want {
					c.failf("StatefulSet %s: %s=%q is not key %s of Secret %s (got %q %q)", s.Name, name, got, want, c.want.TLSSecret, secret, key)
				}
			}
		}
		if on {
			c.trustsOnly("StatefulSet "+s.Name, ctr)
		}
		if s.Name == metaName {
			for _, p := range []*corev1.Probe{ctr.ReadinessProbe, ctr.LivenessProbe} {
				if p == nil || p.Exec == nil {
					continue
				}
				// The probe dials 127.0.0.1, which the certificate does
				// not name: with TLS it must skip verifying it.
				tlsFlags := slices.Contains(p.Exec.Command, "-tls") && slices.Contains(p.Exec.Command, "-insecure-tls")
				if on != tlsFlags {
					c.failf("StatefulSet %s: probe %q with TLS %v: a probe of 127.0.0.1 needs -tls -insecure-tls exactly when the node serves TLS", s.Name, p.Exec.Command, on)
				}
			}
		}
		if !on {
			for _, v := range spec.Volumes {
				if v.Secret != nil {
					c.failf("StatefulSet %s: Secret volume %s with TLS off", s.Name, v.Name)
				}
			}
		}
	}
	c.each("Pod", func(o *Object) {
		p := o.Typed.(*corev1.Pod)
		for _, ctr := range p.Spec.Containers {
			if len(ctr.Command) == 0 || ctr.Command[0] != "/usr/bin/palisade-ctl" {
				continue
			}
			if slices.Contains(ctr.Command, "-tls") != on {
				c.failf("Pod %s container %s: palisade-ctl %q with TLS %v", p.Name, ctr.Name, ctr.Command, on)
			}
			if on {
				c.trustsOnly("Pod "+p.Name, ctr)
			}
		}
		for _, v := range p.Spec.Volumes {
			if v.Secret == nil {
				continue
			}
			for _, it := range v.Secret.Items {
				if it.Key != "ca.crt" {
					c.failf("Pod %s: gets key %s of Secret %s; it needs ca.crt only", p.Name, it.Key, v.Secret.SecretName)
				}
			}
			if len(v.Secret.Items) == 0 {
				c.failf("Pod %s: mounts all of Secret %s (the private key too); it needs ca.crt only", p.Name, v.Secret.SecretName)
			}
		}
	})
	c.certificate()
}

// trustsOnly checks that the container trusts the TLS Secret's ca.crt and
// nothing else for its peers: SSL_CERT_FILE is that file and SSL_CERT_DIR
// a directory that holds only it.
func (c *checker) trustsOnly(what string, ctr corev1.Container) {
	spec := c.specOf(what)
	if spec == nil {
		return
	}
	file, _ := envLast(ctr, "SSL_CERT_FILE")
	if secret, key := secretFile(spec, ctr, file); secret != c.want.TLSSecret || key != "ca.crt" {
		c.failf("%s container %s: SSL_CERT_FILE=%q is not ca.crt of Secret %s", what, ctr.Name, file, c.want.TLSSecret)
	}
	dir, _ := envLast(ctr, "SSL_CERT_DIR")
	if dir == "" || dir != path.Dir(file) {
		c.failf("%s container %s: SSL_CERT_DIR=%q, want %q (else the image's public CAs in /etc/ssl/certs are trusted for peers too)", what, ctr.Name, dir, path.Dir(file))
		return
	}
	for _, m := range ctr.VolumeMounts {
		v := podVolume(spec, m.Name)
		if v == nil || v.Secret == nil {
			continue
		}
		for _, it := range v.Secret.Items {
			if f := path.Join(m.MountPath, it.Path); path.Dir(f) == dir && it.Key != "ca.crt" {
				c.failf("%s container %s: %s is in SSL_CERT_DIR %s: it would be trusted as a CA", what, ctr.Name, f, dir)
			}
		}
	}
}

// specOf returns the pod spec of "StatefulSet name" or "Pod name".
func (c *checker) specOf(what string) *corev1.PodSpec {
	if name, ok := strings.CutPrefix(what, "Pod "); ok {
		if o := c.r.Find("Pod", name); o != nil {
			return &o.Typed.(*corev1.Pod).Spec
		}
		return nil
	}
	if s := c.r.StatefulSet(strings.TrimPrefix(what, "StatefulSet ")); s != nil {
		return &s.Spec.Template.Spec
	}
	return nil
}

// certificate checks the cert-manager Certificate: it writes the Secret the
// pods mount, for names that cover every pod of both StatefulSets.
func (c *checker) certificate() {
	n := 0
	c.each("Certificate", func(o *Object) {
		n++
		cert := o.Typed.(*Certificate)
		if cert.Spec.SecretName != c.want.TLSSecret {
			c.failf("Certificate %s: secretName %q, want %q (the Secret the pods mount)", cert.Name, cert.Spec.SecretName, c.want.TLSSecret)
		}
		if cert.Spec.IssuerRef.Name == "" {
			c.failf("Certificate %s: no issuerRef.name", cert.Name)
		}
		if len(cert.Spec.Usages) > 0 && !slices.Contains(cert.Spec.Usages, "server auth") {
			c.failf("Certificate %s: usages %v lack server auth", cert.Name, cert.Spec.Usages)
		}
		metaName, dataName := c.names()
		for _, name := range []string{metaName, dataName} {
			s := c.r.StatefulSet(name)
			if s == nil {
				continue
			}
			for i := range max(replicas(s), 1) {
				host := fmt.Sprintf("%s-%d.%s.%s.svc.%s", s.Name, i, s.Spec.ServiceName, c.want.Release.Namespace, c.want.ClusterDomain)
				if !slices.ContainsFunc(cert.Spec.DNSNames, func(p string) bool { return dnsMatch(p, host) }) {
					c.failf("Certificate %s: dnsNames %v do not cover %s", cert.Name, cert.Spec.DNSNames, host)
				}
			}
		}
	})
	if want := map[bool]int{false: 0, true: 1}[c.want.CertManager]; n != want {
		c.failf("%d cert-manager Certificates, want %d", n, want)
	}
}

// dnsMatch reports whether a certificate's DNS name (a wildcard stands for
// exactly one leftmost label) covers host.
func dnsMatch(pattern, host string) bool {
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		label, domain, ok := strings.Cut(host, ".")
		return ok && label != "" && domain == rest
	}
	return pattern == host
}

// source is a pod that may try to connect: its labels (in the release's
// namespace) or, when outside is set, anything elsewhere.
type source struct {
	what    string
	labels  map[string]string
	outside bool
}

// allows reports whether the NetworkPolicies let src reach port of the pods
// of spec with labels dst. A pod no policy selects for Ingress takes
// everything; a peer with a namespaceSelector or an ipBlock is taken to
// match any source outside.
func (c *checker) allows(dst map[string]string, spec *corev1.PodSpec, port int32, src source) bool {
	selected := false
	allowed := false
	c.each("NetworkPolicy", func(o *Object) {
		np := o.Typed.(*networkingv1.NetworkPolicy)
		if !selects(np.Spec.PodSelector, dst) || !slices.Contains(ingressTypes(np), networkingv1.PolicyTypeIngress) {
			return
		}
		selected = true
		for _, rule := range np.Spec.Ingress {
			if ruleHasPort(rule.Ports, port, spec) && ruleHasPeer(rule.From, src) {
				allowed = true
			}
		}
	})
	return !selected || allowed
}

// ingressTypes is a policy's types, with the API's default when none are
// given (Ingress, plus Egress when it has egress rules).
func ingressTypes(np *networkingv1.NetworkPolicy) []networkingv1.PolicyType {
	if len(np.Spec.PolicyTypes) > 0 {
		return np.Spec.PolicyTypes
	}
	return []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
}

func selects(sel metav1.LabelSelector, lbls map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(&sel)
	return err == nil && s.Matches(labels.Set(lbls))
}

func ruleHasPort(ports []networkingv1.NetworkPolicyPort, port int32, spec *corev1.PodSpec) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.Int:
			if end := p.EndPort; end != nil && port >= p.Port.IntVal && port <= *end {
				return true
			}
			if p.Port.IntVal == port {
				return true
			}
		default:
			for _, ctr := range spec.Containers {
				for _, cp := range ctr.Ports {
					if cp.Name == p.Port.StrVal && cp.ContainerPort == port {
						return true
					}
				}
			}
		}
	}
	return false
}

func ruleHasPeer(peers []networkingv1.NetworkPolicyPeer, src source) bool {
	if len(peers) == 0 {
		return true // no from: every source
	}
	for _, p := range peers {
		switch {
		case p.IPBlock != nil || p.NamespaceSelector != nil:
			if src.outside {
				return true
			}
		case p.PodSelector != nil:
			if !src.outside && selects(*p.PodSelector, src.labels) {
				return true
			}
		}
	}
	return false
}

// networkPolicies checks who reaches which port: the internal ports only
// the chart's pods that need them, the client and metrics ports anyone
// unless closed, and the helm test pod what it calls.
func (c *checker) networkPolicies() {
	n := 0
	c.each("NetworkPolicy", func(*Object) { n++ })
	if c.want.NoNetworkPolicy {
		if n != 0 {
			c.failf("%d NetworkPolicies with networkPolicy.enabled=false", n)
		}
		return
	}
	metaName, dataName := c.names()
	meta, data := c.r.StatefulSet(metaName), c.r.StatefulSet(dataName)
	if meta == nil || data == nil {
		return
	}
	metaPod := source{"a meta pod", meta.Spec.Template.Labels, false}
	dataPod := source{"a data pod", data.Spec.Template.Labels, false}
	var testPod *source
	c.each("Pod", func(o *Object) {
		testPod = &source{"the helm test pod", o.Typed.(*corev1.Pod).Labels, false}
	})
	other := map[string]string{}
	for k, v := range meta.Spec.Template.Labels {
		other[k] = v
	}
	other["app.kubernetes.io/instance"] = c.want.Release.Name + "-other"
	strangers := []source{
		{"a pod of another application", map[string]string{"app": "intruder"}, false},
		{"a meta pod of another release", other, false},
		{"a client outside the namespace", nil, true},
	}
	type reach struct {
		sts     *appsv1.StatefulSet
		port    int32
		from    []source
		anybody bool // strangers too
		// internal: no peer outside the namespace either. The client and
		// metrics ports, closed, may take the peers given
		// (networkPolicy.clientFrom, metricsFrom) from elsewhere.
		internal bool
	}
	open := !c.want.ClosedClientPort
	checks := []reach{
		{meta, 8089, []source{metaPod}, false, true},
		{meta, 8091, []source{metaPod, dataPod}, false, true},
		{data, 8088, []source{dataPod}, false, true},
		{data, 8086, nil, open, false},
		{meta, 8092, nil, open, false},
	}
	if testPod != nil {
		checks[1].from = append(checks[1].from, *testPod)
		checks[3].from = append(checks[3].from, *testPod)
	}
	for _, r := range checks {
		spec := &r.sts.Spec.Template.Spec
		dst := r.sts.Spec.Template.Labels
		for _, src := range r.from {
			if !c.allows(dst, spec, r.port, src) {
				c.failf("NetworkPolicy: %s cannot reach port %d of StatefulSet %s", src.what, r.port, r.sts.Name)
			}
		}
		for _, src := range strangers {
			if src.outside && !r.anybody && !r.internal {
				continue
			}
			if got := c.allows(dst, spec, r.port, src); got != r.anybody {
				c.failf("NetworkPolicy: %s reaches port %d of StatefulSet %s: %v, want %v", src.what, r.port, r.sts.Name, got, r.anybody)
			}
		}
	}
	// Raft only between meta nodes, the data service only between data
	// nodes.
	for _, r := range []struct {
		sts  *appsv1.StatefulSet
		port int32
		src  source
	}{{meta, 8089, dataPod}, {data, 8088, metaPod}} {
		if c.allows(r.sts.Spec.Template.Labels, &r.sts.Spec.Template.Spec, r.port, r.src) {
			c.failf("NetworkPolicy: %s reaches port %d of StatefulSet %s, which only its own kind needs", r.src.what, r.port, r.sts.Name)
		}
	}
}
