package charttest

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes from the chart (make manifests)")

// plainManifests is how deploy/kubernetes/palisade.yaml is rendered: the
// chart's defaults, release "palisade" in namespace "default", and a Secret
// the operator creates (a file in git must not carry generated secrets).
const (
	plainManifests = "../kubernetes/palisade.yaml"
	plainValues    = `auth: {existingSecret: palisade-auth}`
	plainHeader    = `# Palisade on Kubernetes without Helm: 3 meta nodes and 2 data nodes.
# GENERATED from deploy/helm/palisade by ` + "`make manifests`" + ` (release "palisade", namespace
# "default", auth.existingSecret=palisade-auth); do not edit: a test compares it
# with the chart. The node identities name the namespace: apply it in "default",
# or render the chart for yours. Create the Secret first (docs/kubernetes.md):
#   kubectl create secret generic palisade-auth \
#     --from-literal=internal-shared-secret="$(openssl rand -hex 24)" \
#     --from-literal=jwt-shared-secret="$(openssl rand -hex 24)" \
#     --from-literal=admin-username=admin \
#     --from-literal=admin-password="$(openssl rand -hex 12)"
`
)

// TestPlainManifestsMatchTheChart keeps deploy/kubernetes in step with the
// chart.
func TestPlainManifestsMatchTheChart(t *testing.T) {
	r, err := Render(DefaultRelease, parseValues(t, plainValues), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Manifests(plainHeader)
	if *update {
		if err := os.WriteFile(plainManifests, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(plainManifests)
	if err != nil {
		t.Fatalf("%v (run `make manifests`)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the chart's rendering: run `make manifests` and commit the result", plainManifests)
	}
	for _, p := range Check(r, Expect{Release: DefaultRelease, ClusterDomain: "cluster.local", MetaReplicas: 3,
		DataReplicas: 2, ExistingSecret: "palisade-auth"}) {
		t.Error(p)
	}
}
