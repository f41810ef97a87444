package charttest

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Issue 17, point 11: the chart can run the nodes with TLS between them,
// lets only its own pods reach the internal ports, mounts no service
// account token, and never serves pprof without auth.

func mustRender(t *testing.T, rel Release, values string) *Rendered {
	t.Helper()
	r, err := Render(rel, parseValues(t, values), nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func containerEnv(ctr corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range ctr.Env {
		m[e.Name] = e.Value
	}
	return m
}

// TestTLSBetweenNodes: with tls.enabled, the meta nodes serve the
// MetaService and Raft with TLS, the data nodes dial them with TLS and serve
// the data service with TLS, from the Secret's files; every node and the
// helm test trust the Secret's CA alone; the meta probes still pass (they
// dial 127.0.0.1, which the certificate does not name). Without it, the
// bcrypt hashes and JWT secrets of the meta state cross the pod network in
// the clear.
func TestTLSBetweenNodes(t *testing.T) {
	off := mustRender(t, DefaultRelease, ``)
	for _, s := range []string{"palisade-meta", "palisade-data"} {
		env := containerEnv(off.StatefulSet(s).Spec.Template.Spec.Containers[0])
		for _, k := range []string{"INFLUXDB_META_HTTPS_ENABLED", "INFLUXDB_META_META_TLS_ENABLED", "INFLUXDB_CLUSTER_HTTPS_ENABLED", "SSL_CERT_FILE"} {
			if v, ok := env[k]; ok {
				t.Errorf("TLS off: StatefulSet %s sets %s=%q", s, k, v)
			}
		}
	}

	r := mustRender(t, DefaultRelease, `tls: {enabled: true, existingSecret: palisade-certs}`)
	for _, p := range Check(r, Expect{Release: DefaultRelease, ClusterDomain: "cluster.local", MetaReplicas: 3,
		DataReplicas: 2, TLSSecret: "palisade-certs"}) {
		t.Error(p)
	}
	want := map[string]map[string]string{
		"palisade-meta": {
			"INFLUXDB_META_HTTPS_ENABLED":     "true",
			"INFLUXDB_META_HTTPS_CERTIFICATE": "/etc/palisade/tls/tls.crt",
			"INFLUXDB_META_HTTPS_PRIVATE_KEY": "/etc/palisade/tls/tls.key",
			"SSL_CERT_FILE":                   "/etc/palisade/tls/ca/ca.crt",
			"SSL_CERT_DIR":                    "/etc/palisade/tls/ca",
		},
		"palisade-data": {
			"INFLUXDB_META_META_TLS_ENABLED":     "true",
			"INFLUXDB_CLUSTER_HTTPS_ENABLED":     "true",
			"INFLUXDB_CLUSTER_HTTPS_CERTIFICATE": "/etc/palisade/tls/tls.crt",
			"INFLUXDB_CLUSTER_HTTPS_PRIVATE_KEY": "/etc/palisade/tls/tls.key",
			"SSL_CERT_FILE":                      "/etc/palisade/tls/ca/ca.crt",
			"SSL_CERT_DIR":                       "/etc/palisade/tls/ca",
		},
	}
	for name, vars := range want {
		s := r.StatefulSet(name)
		spec := s.Spec.Template.Spec
		env := containerEnv(spec.Containers[0])
		for k, v := range vars {
			if env[k] != v {
				t.Errorf("StatefulSet %s: %s=%q, want %q", name, k, env[k], v)
			}
		}
		if v := podVolume(&spec, "tls"); v == nil || v.Secret == nil || v.Secret.SecretName != "palisade-certs" {
			t.Errorf("StatefulSet %s: no volume of Secret palisade-certs: %+v", name, v)
		}
	}
	probe := r.StatefulSet("palisade-meta").Spec.Template.Spec.Containers[0].ReadinessProbe.Exec.Command
	if !slices.Equal(probe, []string{"/usr/bin/palisade-meta", "healthcheck", "-tls", "-insecure-tls"}) {
		t.Errorf("meta readiness probe %q", probe)
	}
	test := r.Find("Pod", "palisade-test").Typed.(*corev1.Pod)
	for _, ctr := range test.Spec.Containers {
		if ctr.Name == "meta-cluster" && !slices.Contains(ctr.Command, "-tls") {
			t.Errorf("helm test: palisade-ctl %q without -tls cannot talk to TLS meta nodes", ctr.Command)
		}
	}
}

// TestCertManagerCertificateNamesEveryPod: tls.certManager renders a
// cert-manager Certificate, from the issuer given, into the Secret the pods
// mount, valid for every pod's DNS name (the names the nodes dial each
// other by), whatever the release, namespace and cluster domain.
func TestCertManagerCertificateNamesEveryPod(t *testing.T) {
	rel := Release{Name: "tsdb", Namespace: "monitoring"}
	r := mustRender(t, rel, `
tls: {enabled: true, certManager: {enabled: true, issuerRef: {name: internal-ca, kind: ClusterIssuer}, duration: 720h, renewBefore: 240h}}
clusterDomain: corp.internal
meta: {replicas: 5}
data: {replicas: 4}
`)
	o := r.Find("Certificate", "tsdb-palisade-tls")
	if o == nil {
		t.Fatal("no Certificate tsdb-palisade-tls")
	}
	cert := o.Typed.(*Certificate)
	if cert.APIVersion != "cert-manager.io/v1" {
		t.Errorf("apiVersion %q", cert.APIVersion)
	}
	spec := cert.Spec
	if spec.SecretName != "tsdb-palisade-tls" {
		t.Errorf("secretName %q", spec.SecretName)
	}
	if spec.IssuerRef.Name != "internal-ca" || spec.IssuerRef.Kind != "ClusterIssuer" || spec.IssuerRef.Group != "cert-manager.io" {
		t.Errorf("issuerRef %+v", spec.IssuerRef)
	}
	wantNames := []string{"*.tsdb-palisade-meta.monitoring.svc.corp.internal", "*.tsdb-palisade-data.monitoring.svc.corp.internal"}
	if !slices.Equal(spec.DNSNames, wantNames) {
		t.Errorf("dnsNames %q, want %q", spec.DNSNames, wantNames)
	}
	if spec.Duration != "720h" || spec.RenewBefore != "240h" {
		t.Errorf("duration %q renewBefore %q", spec.Duration, spec.RenewBefore)
	}
	for _, p := range Check(r, Expect{Release: rel, ClusterDomain: "corp.internal", MetaReplicas: 5, DataReplicas: 4,
		TLSSecret: "tsdb-palisade-tls", CertManager: true}) {
		t.Error(p)
	}
	// Issued ahead: the Certificate alone, before the pods use it.
	ahead := mustRender(t, DefaultRelease, `tls: {certManager: {enabled: true, issuerRef: {name: ca}}}`)
	if ahead.Find("Certificate", "palisade-tls") == nil {
		t.Error("tls.certManager.enabled without tls.enabled renders no Certificate")
	}
	if v := podVolume(&ahead.StatefulSet("palisade-meta").Spec.Template.Spec, "tls"); v != nil {
		t.Error("TLS off, yet the pods mount the certificate")
	}
}

// TestNetworkPolicyAdmitsOnlyTheChartsPods: the internal ports take only
// the chart's pods that need them (Raft the meta nodes, the MetaService the
// meta, data and helm test pods, the data service the data nodes), not a
// pod of another release or application; the client and metrics ports stay
// open unless networkPolicy.allowExternal=false.
func TestNetworkPolicyAdmitsOnlyTheChartsPods(t *testing.T) {
	for _, tt := range []struct {
		name, values string
		want         Expect
	}{
		{"defaults", ``, Expect{}},
		{"closed", `networkPolicy: {allowExternal: false}`, Expect{ClosedClientPort: true}},
		{"closed, no helm test", `{networkPolicy: {allowExternal: false}, tests: {enabled: false}}`, Expect{ClosedClientPort: true, NoTests: true}},
		{"off", `networkPolicy: {enabled: false}`, Expect{NoNetworkPolicy: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRender(t, DefaultRelease, tt.values)
			want := tt.want
			want.Release, want.ClusterDomain, want.MetaReplicas, want.DataReplicas = DefaultRelease, "cluster.local", 3, 2
			for _, p := range Check(r, want) {
				t.Error(p)
			}
			if tt.want.NoNetworkPolicy {
				return
			}
			for _, name := range []string{"palisade-meta", "palisade-data"} {
				np := r.NetworkPolicy(name)
				if np == nil {
					t.Fatalf("no NetworkPolicy %s", name)
				}
				if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
					t.Errorf("NetworkPolicy %s: policyTypes %v, want Ingress only (egress stays open: DNS)", name, np.Spec.PolicyTypes)
				}
			}
		})
	}
}

// TestNoServiceAccountToken: no pod of the chart mounts a service account
// token. The nodes never call the Kubernetes API (nothing in the server
// imports a Kubernetes client); a token would only serve an intruder.
func TestNoServiceAccountToken(t *testing.T) {
	for _, vs := range valueSets {
		r := mustRender(t, vs.rel, vs.values)
		n := 0
		for _, o := range r.Objects {
			var spec *corev1.PodSpec
			switch v := o.Typed.(type) {
			case *corev1.Pod:
				spec = &v.Spec
			case *appsv1.StatefulSet:
				spec = &v.Spec.Template.Spec
			}
			if spec == nil {
				continue
			}
			n++
			if a := spec.AutomountServiceAccountToken; a == nil || *a {
				t.Errorf("%s: %s %s mounts a service account token", vs.name, o.Kind, o.Name)
			}
		}
		if n < 2 {
			t.Errorf("%s: %d pod specs", vs.name, n)
		}
	}
}

// TestPprofNeverOnWithoutAuth: the data node serves /debug/pprof/ by
// default, to anyone while auth is off. The chart renders [http]
// pprof-enabled from auth.enabled (and data.pprof), and refuses an extraEnv
// that would override either.
func TestPprofNeverOnWithoutAuth(t *testing.T) {
	for _, tt := range []struct {
		values string
		want   string
	}{
		{``, "false"},
		{`data: {pprof: true}`, "false"},
		{`auth: {enabled: true}`, "true"},
		{`{auth: {enabled: true}, data: {pprof: false}}`, "false"},
	} {
		r := mustRender(t, DefaultRelease, tt.values)
		ctr := r.StatefulSet("palisade-data").Spec.Template.Spec.Containers[0]
		if got, set := envLast(ctr, "INFLUXDB_HTTP_PPROF_ENABLED"); !set || got != tt.want {
			t.Errorf("values %s: INFLUXDB_HTTP_PPROF_ENABLED=%q (set %v), want %q", tt.values, got, set, tt.want)
		}
	}
	_, err := Render(DefaultRelease, parseValues(t, `data: {extraEnv: [{name: INFLUXDB_HTTP_PPROF_ENABLED, value: "true"}]}`), nil)
	if err == nil || !strings.Contains(err.Error(), "pprof is never on without auth") {
		t.Errorf("extraEnv turning pprof on: %v", err)
	}
}

// TestSecurityChecksCatchBrokenCharts proves that the checks behind the
// tests above fail on a rendering that lacks each protection.
func TestSecurityChecksCatchBrokenCharts(t *testing.T) {
	base := Expect{Release: DefaultRelease, ClusterDomain: "cluster.local", MetaReplicas: 3, DataReplicas: 2}
	tlsValues := `tls: {enabled: true, certManager: {enabled: true, issuerRef: {name: ca}}}`
	tlsWant := base
	tlsWant.TLSSecret, tlsWant.CertManager = "palisade-tls", true
	setEnv := func(r *Rendered, sts, name, value string) {
		env := r.StatefulSet(sts).Spec.Template.Spec.Containers[0].Env
		for i := range env {
			if env[i].Name == name {
				env[i].Value = value
				return
			}
		}
		t.Fatalf("StatefulSet %s: no %s", sts, name)
	}
	dropEnv := func(r *Rendered, sts, name string) {
		ctr := &r.StatefulSet(sts).Spec.Template.Spec.Containers[0]
		ctr.Env = slices.DeleteFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	}
	for _, tt := range []struct {
		name    string
		values  string
		want    Expect
		break_  func(r *Rendered)
		problem string
	}{
		{"token on a workload", "", base, func(r *Rendered) {
			r.StatefulSet("palisade-data").Spec.Template.Spec.AutomountServiceAccountToken = nil
		}, "StatefulSet palisade-data: automountServiceAccountToken is not false"},
		{"token on the test pod", "", base, func(r *Rendered) {
			on := true
			r.Find("Pod", "palisade-test").Typed.(*corev1.Pod).Spec.AutomountServiceAccountToken = &on
		}, "Pod palisade-test: automountServiceAccountToken is not false"},
		{"pprof on without auth", "", base, func(r *Rendered) {
			setEnv(r, "palisade-data", "INFLUXDB_HTTP_PPROF_ENABLED", "true")
		}, "pprof never on without auth"},
		{"pprof left to the node's default", "", base, func(r *Rendered) {
			dropEnv(r, "palisade-data", "INFLUXDB_HTTP_PPROF_ENABLED")
		}, "INFLUXDB_HTTP_PPROF_ENABLED is not set"},
		{"raft open to all", "", base, func(r *Rendered) {
			r.NetworkPolicy("palisade-meta").Spec.Ingress[0].From = nil
		}, "a pod of another application reaches port 8089 of StatefulSet palisade-meta: true"},
		{"raft open to data pods", "", base, func(r *Rendered) {
			np := r.NetworkPolicy("palisade-meta")
			np.Spec.Ingress[0].From = np.Spec.Ingress[1].From
		}, "a data pod reaches port 8089"},
		{"metaservice open to other releases", "", base, func(r *Rendered) {
			delete(r.NetworkPolicy("palisade-meta").Spec.Ingress[1].From[1].PodSelector.MatchLabels, "app.kubernetes.io/instance")
			delete(r.NetworkPolicy("palisade-meta").Spec.Ingress[1].From[1].PodSelector.MatchLabels, "app.kubernetes.io/component")
		}, "a meta pod of another release reaches port 8091"},
		{"no policy for data pods", "", base, func(r *Rendered) {
			r.Objects = slices.DeleteFunc(r.Objects, func(o Object) bool { return o.Kind == "NetworkPolicy" && o.Name == "palisade-data" })
		}, "reaches port 8088 of StatefulSet palisade-data: true"},
		{"helm test shut out", "", base, func(r *Rendered) {
			np := r.NetworkPolicy("palisade-meta")
			np.Spec.Ingress[1].From = np.Spec.Ingress[1].From[:2]
		}, "the helm test pod cannot reach port 8091"},
		{"client port closed", "", base, func(r *Rendered) {
			np := r.NetworkPolicy("palisade-data")
			np.Spec.Ingress[1].From = np.Spec.Ingress[0].From
		}, "the helm test pod cannot reach port 8086"},
		{"data service in the clear", tlsValues, tlsWant, func(r *Rendered) {
			dropEnv(r, "palisade-data", "INFLUXDB_CLUSTER_HTTPS_ENABLED")
		}, `INFLUXDB_CLUSTER_HTTPS_ENABLED="", want true`},
		{"meta dialed in the clear", tlsValues, tlsWant, func(r *Rendered) {
			setEnv(r, "palisade-data", "INFLUXDB_META_META_TLS_ENABLED", "false")
		}, `INFLUXDB_META_META_TLS_ENABLED="false", want true`},
		{"key not from the Secret", tlsValues, tlsWant, func(r *Rendered) {
			setEnv(r, "palisade-meta", "INFLUXDB_META_HTTPS_PRIVATE_KEY", "/var/lib/palisade/tls.key")
		}, "INFLUXDB_META_HTTPS_PRIVATE_KEY=\"/var/lib/palisade/tls.key\" is not key tls.key of Secret palisade-tls"},
		{"public CAs trusted", tlsValues, tlsWant, func(r *Rendered) {
			dropEnv(r, "palisade-meta", "SSL_CERT_DIR")
		}, "the image's public CAs"},
		{"probe verifies 127.0.0.1", tlsValues, tlsWant, func(r *Rendered) {
			p := r.StatefulSet("palisade-meta").Spec.Template.Spec.Containers[0].LivenessProbe.Exec
			p.Command = p.Command[:3]
		}, "needs -tls -insecure-tls"},
		{"test pod gets the key", tlsValues, tlsWant, func(r *Rendered) {
			v := &r.Find("Pod", "palisade-test").Typed.(*corev1.Pod).Spec.Volumes[0]
			v.Secret.Items = append(v.Secret.Items, corev1.KeyToPath{Key: "tls.key", Path: "tls.key"})
		}, "gets key tls.key"},
		{"certificate misses the data pods", tlsValues, tlsWant, func(r *Rendered) {
			c := r.Find("Certificate", "palisade-tls").Typed.(*Certificate)
			c.Spec.DNSNames = c.Spec.DNSNames[:1]
		}, "do not cover palisade-data-0.palisade-data.default.svc.cluster.local"},
		{"certificate for another namespace", tlsValues, tlsWant, func(r *Rendered) {
			c := r.Find("Certificate", "palisade-tls").Typed.(*Certificate)
			c.Spec.DNSNames[0] = strings.Replace(c.Spec.DNSNames[0], ".default.", ".prod.", 1)
		}, "do not cover palisade-meta-0"},
		{"certificate into another Secret", tlsValues, tlsWant, func(r *Rendered) {
			r.Find("Certificate", "palisade-tls").Typed.(*Certificate).Spec.SecretName = "other"
		}, `secretName "other"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRender(t, DefaultRelease, tt.values)
			if p := Check(r, tt.want); len(p) != 0 {
				t.Fatalf("the good rendering fails: %v", p)
			}
			tt.break_(r)
			p := strings.Join(Check(r, tt.want), "\n")
			if !strings.Contains(p, tt.problem) {
				t.Errorf("problems %q, want one with %q", p, tt.problem)
			}
		})
	}
}
