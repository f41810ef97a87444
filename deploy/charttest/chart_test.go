package charttest

import (
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// valueSets are the value sets the chart must render into a working
// cluster, with what each must produce.
var valueSets = []struct {
	name   string
	rel    Release
	values string
	want   Expect
}{
	{"defaults", DefaultRelease, ``,
		Expect{MetaReplicas: 3, DataReplicas: 2}},
	{"five meta, four data, auth on", Release{Name: "tsdb", Namespace: "monitoring"}, `
meta: {replicas: 5}
data: {replicas: 4}
auth: {enabled: true, adminUser: root, adminPassword: "s3cret pass", jwtSharedSecret: jwt, internalSharedSecret: internal}
clusterDomain: example.internal
`, Expect{MetaReplicas: 5, DataReplicas: 4, AuthEnabled: true, ClusterDomain: "example.internal"}},
	{"existing secret, one meta, hard anti-affinity", Release{Name: "palisade-prod", Namespace: "db"}, `
auth: {enabled: true, existingSecret: my-palisade-secret}
meta: {replicas: 1, podAntiAffinity: hard, persistence: {storageClass: fast}}
data: {replicas: 3, podAntiAffinity: hard, extraEnv: [{name: INFLUXDB_DATA_QUERY_LOG_ENABLED, value: "false"}]}
image: {repository: registry.example.com/palisade, tag: "1.2.3"}
imagePullSecrets: [{name: regcred}]
`, Expect{MetaReplicas: 1, DataReplicas: 3, AuthEnabled: true, ExistingSecret: "my-palisade-secret"}},
	{"TLS from an existing Secret, client port closed", Release{Name: "metrics", Namespace: "tsdb"}, `
tls: {enabled: true, existingSecret: palisade-certs}
networkPolicy:
  allowExternal: false
  clientFrom: [{podSelector: {matchLabels: {app: grafana}}}]
  metricsFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
clusterDomain: example.internal
`, Expect{MetaReplicas: 3, DataReplicas: 2, ClusterDomain: "example.internal", TLSSecret: "palisade-certs", ClosedClientPort: true}},
	{"TLS from cert-manager, auth on, pprof off, no NetworkPolicy", Release{Name: "palisade", Namespace: "db"}, `
tls: {enabled: true, certManager: {enabled: true, issuerRef: {name: palisade-ca, kind: ClusterIssuer}, duration: 2160h}}
auth: {enabled: true}
meta: {replicas: 5}
data: {replicas: 3, pprof: false}
networkPolicy: {enabled: false}
`, Expect{MetaReplicas: 5, DataReplicas: 3, AuthEnabled: true, TLSSecret: "palisade-tls", CertManager: true, NoNetworkPolicy: true, NoPprof: true}},
	{"a long release name", Release{Name: "metrics-storage-for-the-production-cluster-in-region-west", Namespace: "default"}, ``,
		Expect{MetaReplicas: 3, DataReplicas: 2}},
	{"no tests, no anti-affinity preference", DefaultRelease, `
tests: {enabled: false}
meta: {podAntiAffinity: soft}
data: {podAntiAffinity: soft, replicas: 1}
`, Expect{MetaReplicas: 3, DataReplicas: 1, NoTests: true}},
}

func parseValues(t *testing.T, s string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValues([]byte(s))
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	return v
}

func TestLint(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			linter := lint.AllWithKubeVersionAndSchemaValidation(ChartDir, parseValues(t, vs.values), vs.rel.Namespace, nil, false)
			for _, m := range linter.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				} else {
					t.Logf("helm lint: %s", m)
				}
			}
		})
	}
}

func TestValueSets(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			r, err := Render(vs.rel, parseValues(t, vs.values), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := vs.want
			want.Release = vs.rel
			if want.ClusterDomain == "" {
				want.ClusterDomain = "cluster.local"
			}
			for _, p := range Check(r, want) {
				t.Error(p)
			}
			if !strings.Contains(r.Notes, "rollout status") || !strings.Contains(r.Notes, "helm -n "+vs.rel.Namespace+" test "+vs.rel.Name) {
				t.Errorf("NOTES.txt does not say how to wait and test:\n%s", r.Notes)
			}
		})
	}
}

// TestChecksCatchBrokenCharts proves the invariants can fail: each mutation
// of a good rendering is a mistake a chart change could make.
func TestChecksCatchBrokenCharts(t *testing.T) {
	want := Expect{Release: DefaultRelease, ClusterDomain: "cluster.local", MetaReplicas: 3, DataReplicas: 2}
	for _, tt := range []struct {
		name    string
		break_  func(r *Rendered)
		problem string
	}{
		{"selector", func(r *Rendered) {
			r.StatefulSet("palisade-data").Spec.Selector.MatchLabels["app.kubernetes.io/component"] = "dat"
		}, "its selector does not match"},
		{"probe command", func(r *Rendered) {
			r.StatefulSet("palisade-meta").Spec.Template.Spec.Containers[0].ReadinessProbe.Exec.Command = []string{"/bin/sh", "-c", "true"}
		}, "is not `<binary> healthcheck`"},
		{"probe port", func(r *Rendered) {
			r.StatefulSet("palisade-data").Spec.Template.Spec.Containers[0].LivenessProbe.TCPSocket.Port.StrVal = "htp"
		}, `port "htp" is not a container port`},
		{"no startup probe", func(r *Rendered) {
			r.StatefulSet("palisade-data").Spec.Template.Spec.Containers[0].StartupProbe = nil
		}, "no startupProbe"},
		{"secret key", func(r *Rendered) { delete(r.Secret("palisade-auth").Data, "jwt-shared-secret") }, "which is missing or empty"},
		{"pdb", func(r *Rendered) {
			var kept []Object
			for _, o := range r.Objects {
				if o.Kind != "PodDisruptionBudget" || o.Name != "palisade-meta" {
					kept = append(kept, o)
				}
			}
			r.Objects = kept
		}, "StatefulSet palisade-meta has no PodDisruptionBudget"},
		{"latest", func(r *Rendered) {
			r.StatefulSet("palisade-data").Spec.Template.Spec.Containers[0].Image = "palisade:latest"
		}, "has no fixed tag"},
		{"root", func(r *Rendered) {
			f := false
			r.StatefulSet("palisade-meta").Spec.Template.Spec.SecurityContext.RunAsNonRoot = &f
		}, "not restricted"},
		{"peers", func(r *Rendered) {
			env := r.StatefulSet("palisade-meta").Spec.Template.Spec.Containers[0].Env
			for i := range env {
				if env[i].Name == "INFLUXDB_META_PEERS" {
					env[i].Value = strings.Replace(env[i].Value, "palisade-meta-2", "palisade-meta-3", 1)
				}
			}
		}, "INFLUXDB_META_PEERS="},
		{"client service publishes unready pods", func(r *Rendered) {
			r.Find("Service", "palisade").Typed.(*corev1.Service).Spec.PublishNotReadyAddresses = true
		}, "ready pods only"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Render(DefaultRelease, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if p := Check(r, want); len(p) != 0 {
				t.Fatalf("the good rendering fails: %v", p)
			}
			tt.break_(r)
			p := strings.Join(Check(r, want), "\n")
			if !strings.Contains(p, tt.problem) {
				t.Errorf("problems %q, want one with %q", p, tt.problem)
			}
		})
	}
}

// TestRefusedValues: values that cannot make a working cluster are refused
// at render time (helm install fails before anything is created), naming
// the value.
func TestRefusedValues(t *testing.T) {
	for _, tt := range []struct{ values, want string }{
		{`meta: {replicas: 2}`, "meta.replicas is 2: give an odd number"},
		{`meta: {replicas: 4}`, "meta.replicas is 4: give an odd number"},
		{`meta: {replicas: 0}`, "meta.replicas"},
		{`image: {tag: latest}`, "image.tag: give a fixed tag, not latest"},
		{`data: {podAntiAffinity: sometimes}`, "at '/data/podAntiAffinity': value must be one of"},
		{`data: {replicas: -1}`, "at '/data/replicas': minimum"},
		{`auth: {enabled: "yes"}`, "at '/auth/enabled': got string, want boolean"},
		{`tls: {enabled: true}`, "tls.enabled: give tls.existingSecret (a Secret with tls.crt, tls.key and ca.crt) or set tls.certManager.enabled"},
		{`tls: {certManager: {enabled: true}}`, "tls.certManager.issuerRef.name: name the cert-manager Issuer"},
		{`tls: {existingSecret: mine, certManager: {enabled: true, issuerRef: {name: ca}}}`, "tls.existingSecret and tls.certManager.enabled: give one"},
		{`tls: {certFile: x}`, "additional properties 'certFile' not allowed"},
		{`networkPolicy: {allowExternal: "no"}`, "at '/networkPolicy/allowExternal': got string, want boolean"},
		{`data: {extraEnv: [{name: INFLUXDB_HTTP_PPROF_ENABLED, value: "true"}]}`, "data.extraEnv: INFLUXDB_HTTP_PPROF_ENABLED is set by the chart"},
		{`data: {extraEnv: [{name: INFLUXDB_HTTP_AUTH_ENABLED, value: "false"}]}`, "data.extraEnv: INFLUXDB_HTTP_AUTH_ENABLED is set by the chart"},
	} {
		_, err := Render(DefaultRelease, parseValues(t, tt.values), nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("values %s: error %v, want one with %q", tt.values, err, tt.want)
		}
	}
}

// cluster is a fake Kubernetes API for the chart's lookups: it holds the
// Secrets of an installed release.
type cluster struct {
	client *dynamicfake.FakeDynamicClient
}

func newCluster(t *testing.T, secrets ...*corev1.Secret) cluster {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	for _, s := range secrets {
		s = s.DeepCopy()
		s.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
		if s.Namespace == "" {
			s.Namespace = DefaultRelease.Namespace // helm installs it into the release's namespace
		}
		objs = append(objs, s)
	}
	return cluster{dynamicfake.NewSimpleDynamicClient(scheme, objs...)}
}

func (c cluster) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, false, err
	}
	resource := strings.ToLower(kind) + "s"
	return c.client.Resource(gv.WithResource(resource)), true, nil
}

func podAnnotation(t *testing.T, r *Rendered, sts, key string) string {
	t.Helper()
	s := r.StatefulSet(sts)
	if s == nil {
		t.Fatalf("no StatefulSet %s", sts)
	}
	v := s.Spec.Template.Annotations[key]
	if v == "" {
		t.Fatalf("StatefulSet %s: no pod annotation %s", sts, key)
	}
	return v
}

func env(t *testing.T, s *appsv1.StatefulSet, name string) string {
	t.Helper()
	for _, e := range s.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	t.Fatalf("StatefulSet %s: no %s", s.Name, name)
	return ""
}

// TestUpgradesKeepGeneratedSecrets: the admin password and the secrets
// generated at install are read back at every upgrade (through the chart's
// lookup of its Secret), so they never change by themselves and the pods are
// not rolled; explicit values win.
func TestUpgradesKeepGeneratedSecrets(t *testing.T) {
	install, err := Render(DefaultRelease, nil, newCluster(t))
	if err != nil {
		t.Fatal(err)
	}
	secret := install.Secret("palisade-auth")
	if secret == nil {
		t.Fatal("no Secret palisade-auth")
	}
	for _, k := range []string{"admin-password", "internal-shared-secret", "jwt-shared-secret"} {
		if len(secret.Data[k]) < 24 {
			t.Errorf("generated %s is %d bytes, want at least 24", k, len(secret.Data[k]))
		}
	}
	if got := string(secret.Data["admin-username"]); got != "admin" {
		t.Errorf("admin-username %q, want admin", got)
	}
	if secret.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Error("the Secret is not kept by helm uninstall: a re-install would generate an admin password the kept state does not know")
	}

	// A second install without a cluster generates other values: the
	// lookup is what keeps them.
	other, err := Render(DefaultRelease, nil, newCluster(t))
	if err != nil {
		t.Fatal(err)
	}
	if string(other.Secret("palisade-auth").Data["admin-password"]) == string(secret.Data["admin-password"]) {
		t.Fatal("two installs generated the same admin password")
	}

	upgrade := Release{Name: "palisade", Namespace: "default", Upgrade: true}
	up, err := Render(upgrade, nil, newCluster(t, secret))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range secret.Data {
		if got := string(up.Secret("palisade-auth").Data[k]); got != string(v) {
			t.Errorf("upgrade changed %s", k)
		}
	}
	for _, sts := range []string{"palisade-meta", "palisade-data"} {
		for _, key := range []string{"checksum/auth", "checksum/internal-secret"} {
			a, b := install.StatefulSet(sts).Spec.Template.Annotations[key], up.StatefulSet(sts).Spec.Template.Annotations[key]
			if a != b {
				t.Errorf("StatefulSet %s: %s changed on an upgrade that changed nothing: the pods would roll", sts, key)
			}
		}
	}

	// Explicit values win over the kept ones.
	up2, err := Render(upgrade, parseValues(t, `auth: {adminPassword: chosen}`), newCluster(t, secret))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(up2.Secret("palisade-auth").Data["admin-password"]); got != "chosen" {
		t.Errorf("admin-password %q, want the value given", got)
	}
	if got := string(up2.Secret("palisade-auth").Data["jwt-shared-secret"]); got != string(secret.Data["jwt-shared-secret"]) {
		t.Error("giving the admin password changed the JWT secret")
	}
}

// TestEnablingAuthRollsOnlyDataPods: `helm upgrade --set auth.enabled=true`
// changes the data pods' template (so the StatefulSet replaces them one at a
// time) and leaves the meta pods alone; a new internal secret rolls both.
func TestEnablingAuthRollsOnlyDataPods(t *testing.T) {
	install, err := Render(DefaultRelease, nil, newCluster(t))
	if err != nil {
		t.Fatal(err)
	}
	secret := install.Secret("palisade-auth")
	upgrade := Release{Name: "palisade", Namespace: "default", Upgrade: true}
	on, err := Render(upgrade, parseValues(t, `auth: {enabled: true}`), newCluster(t, secret))
	if err != nil {
		t.Fatal(err)
	}
	if got := env(t, on.StatefulSet("palisade-data"), "INFLUXDB_HTTP_AUTH_ENABLED"); got != "true" {
		t.Errorf("INFLUXDB_HTTP_AUTH_ENABLED=%q after enabling auth", got)
	}
	if podAnnotation(t, install, "palisade-data", "checksum/auth") == podAnnotation(t, on, "palisade-data", "checksum/auth") {
		t.Error("enabling auth left the data pods' checksum unchanged")
	}
	if podAnnotation(t, install, "palisade-meta", "checksum/internal-secret") != podAnnotation(t, on, "palisade-meta", "checksum/internal-secret") {
		t.Error("enabling auth would restart the meta pods")
	}
	rotated, err := Render(upgrade, parseValues(t, `auth: {internalSharedSecret: a-new-one}`), newCluster(t, secret))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ sts, key string }{{"palisade-meta", "checksum/internal-secret"}, {"palisade-data", "checksum/auth"}} {
		if podAnnotation(t, install, c.sts, c.key) == podAnnotation(t, rotated, c.sts, c.key) {
			t.Errorf("a new internal secret leaves %s's %s unchanged: its pods would keep the old one", c.sts, c.key)
		}
	}
}
