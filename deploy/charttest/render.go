// Package charttest renders Palisade's Helm chart (deploy/helm/palisade) with
// the Helm Go library and decodes every object strictly into the k8s.io/api
// types, for the chart's tests. It is its own Go module, so that the server
// module does not depend on Helm and Kubernetes. Its tests also check
// deploy/compose's files (compose_test.go).
package charttest

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// ChartDir is the chart, relative to this package.
const ChartDir = "../helm/palisade"

// Release names the release a chart is rendered for.
type Release struct {
	Name, Namespace string
	// Upgrade renders as `helm upgrade` does (Release.IsUpgrade).
	Upgrade bool
}

// DefaultRelease is the release of the plain manifests and most tests.
var DefaultRelease = Release{Name: "palisade", Namespace: "default"}

// Object is one rendered Kubernetes object.
type Object struct {
	Template string // the chart file it came from
	Kind     string
	Name     string
	Hook     string // the helm.sh/hook annotation, "" for a plain object
	YAML     []byte
	// Typed is a *appsv1.StatefulSet, *corev1.Service, *corev1.Secret,
	// *corev1.Pod, *policyv1.PodDisruptionBudget, *networkingv1.NetworkPolicy
	// or *Certificate.
	Typed any
}

// Rendered is a chart's objects, in a stable order (by template, then as
// they appear in it).
type Rendered struct {
	Objects []Object
	Notes   string
}

// newTyped returns an empty object of the API type for apiVersion and kind:
// the chart may render only these.
func newTyped(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	case "v1/Secret":
		return &corev1.Secret{}, nil
	case "v1/Pod":
		return &corev1.Pod{}, nil
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	case "cert-manager.io/v1/Certificate":
		return &Certificate{}, nil
	}
	return nil, fmt.Errorf("unexpected object %s %s", apiVersion, kind)
}

// Certificate is cert-manager's Certificate (cert-manager.io/v1), which
// k8s.io/api does not know, reduced to the fields the chart may render: the
// names are cert-manager's (docs: cert-manager.io/docs/usage/certificate), so
// strict decoding still catches a misspelled or unexpected field.
type Certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretName string `json:"secretName"`
		IssuerRef  struct {
			Name  string `json:"name"`
			Kind  string `json:"kind"`
			Group string `json:"group"`
		} `json:"issuerRef"`
		DNSNames    []string `json:"dnsNames"`
		Usages      []string `json:"usages"`
		Duration    string   `json:"duration,omitempty"`
		RenewBefore string   `json:"renewBefore,omitempty"`
	} `json:"spec"`
}

// LoadChart loads the chart from its directory.
func LoadChart() (*chart.Chart, error) {
	return loader.Load(ChartDir)
}

// Render renders the chart for rel with the user values vals (nil: the
// chart's defaults), as `helm install` or `helm upgrade` would, with
// lookups answered by cp (nil: no cluster, as `helm template`). Every object
// is decoded strictly: an unknown or misspelled field is an error.
func Render(rel Release, vals map[string]any, cp engine.ClientProvider) (*Rendered, error) {
	chrt, err := LoadChart()
	if err != nil {
		return nil, err
	}
	if vals == nil {
		vals = map[string]any{}
	}
	opts := chartutil.ReleaseOptions{Name: rel.Name, Namespace: rel.Namespace, Revision: 1,
		IsInstall: !rel.Upgrade, IsUpgrade: rel.Upgrade}
	if rel.Upgrade {
		opts.Revision = 2
	}
	top, err := chartutil.ToRenderValues(chrt, vals, opts, chartutil.DefaultCapabilities.Copy())
	if err != nil {
		return nil, err
	}
	var files map[string]string
	if cp != nil {
		files, err = engine.RenderWithClientProvider(chrt, top, cp)
	} else {
		e := engine.Engine{Strict: true}
		files, err = e.Render(chrt, top)
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	out := &Rendered{}
	for _, name := range names {
		base := filepath.Base(name)
		switch {
		case base == "NOTES.txt":
			out.Notes = files[name]
			continue
		case strings.HasPrefix(base, "_"):
			continue
		}
		manifests := releaseutil.SplitManifests(files[name])
		keys := make([]string, 0, len(manifests))
		for k := range manifests {
			keys = append(keys, k)
		}
		sort.Sort(releaseutil.BySplitManifestsOrder(keys))
		for _, k := range keys {
			doc := manifests[k]
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			obj, err := decode(name, []byte(doc))
			if err != nil {
				return nil, err
			}
			out.Objects = append(out.Objects, obj)
		}
	}
	return out, nil
}

// decode decodes one YAML document strictly into its API type.
func decode(template string, doc []byte) (Object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name        string            `json:"name"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return Object{}, fmt.Errorf("%s: %w", template, err)
	}
	typed, err := newTyped(head.APIVersion, head.Kind)
	if err != nil {
		return Object{}, fmt.Errorf("%s: %w", template, err)
	}
	if err := yaml.UnmarshalStrict(doc, typed); err != nil {
		return Object{}, fmt.Errorf("%s: %s %s: %w", template, head.Kind, head.Metadata.Name, err)
	}
	return Object{Template: template, Kind: head.Kind, Name: head.Metadata.Name,
		Hook: head.Metadata.Annotations["helm.sh/hook"], YAML: doc, Typed: typed}, nil
}

// stripComments drops the YAML comment lines of doc.
func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Manifests joins the objects that are not hooks into one multi-document
// YAML file (what `kubectl apply -f` takes).
func (r *Rendered) Manifests(header string) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	for _, o := range r.Objects {
		if o.Hook != "" {
			continue
		}
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", o.Template, strings.TrimSpace(string(o.YAML)))
	}
	return b.Bytes()
}

// Find returns the object of kind and name, or nil.
func (r *Rendered) Find(kind, name string) *Object {
	for i := range r.Objects {
		if r.Objects[i].Kind == kind && r.Objects[i].Name == name {
			return &r.Objects[i]
		}
	}
	return nil
}

// StatefulSet returns the StatefulSet name, or nil.
func (r *Rendered) StatefulSet(name string) *appsv1.StatefulSet {
	if o := r.Find("StatefulSet", name); o != nil {
		return o.Typed.(*appsv1.StatefulSet)
	}
	return nil
}

// NetworkPolicy returns the NetworkPolicy name, or nil.
func (r *Rendered) NetworkPolicy(name string) *networkingv1.NetworkPolicy {
	if o := r.Find("NetworkPolicy", name); o != nil {
		return o.Typed.(*networkingv1.NetworkPolicy)
	}
	return nil
}

// Secret returns the Secret name, or nil.
func (r *Rendered) Secret(name string) *corev1.Secret {
	if o := r.Find("Secret", name); o != nil {
		return o.Typed.(*corev1.Secret)
	}
	return nil
}
