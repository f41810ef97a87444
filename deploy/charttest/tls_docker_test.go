//go:build docker

package charttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// TestKubernetesTLS (issue 17, point 11) runs the chart's pods with
// tls.enabled, as TestKubernetesIdentity does without it. The test plays
// cert-manager: it signs a certificate for exactly the dnsNames of the
// chart's Certificate with a private CA and gives the pods the Secret the
// Certificate names. It proves that the real binaries in the FROM scratch
// image bootstrap Raft, follow the meta nodes and replicate writes between
// data nodes over TLS with that certificate; that they trust the private CA
// through SSL_CERT_FILE and SSL_CERT_DIR (the nodes have no CA setting of
// their own), and only through them; that the meta probes pass; that a
// client without TLS is refused; and that the helm test pod passes with
// the CA alone.
//
//	make chart-docker
func TestKubernetesTLS(t *testing.T) {
	image := os.Getenv("PALISADE_IMAGE")
	if image == "" {
		t.Fatal("PALISADE_IMAGE is not set: run `make chart-docker`, which builds the image")
	}
	repo, tag, _ := strings.Cut(image, ":")
	vals := parseValues(t, fmt.Sprintf(`
image: {repository: %q, tag: %q, pullPolicy: Never}
auth: {enabled: true, adminUser: admin, adminPassword: tls-admin-pass, internalSharedSecret: tls-internal, jwtSharedSecret: tls-jwt}
tls: {enabled: true, certManager: {enabled: true, issuerRef: {name: test-ca}}}
`, repo, tag))
	r, err := Render(DefaultRelease, vals, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert := r.Find("Certificate", "palisade-tls").Typed.(*Certificate)
	meta, data := r.StatefulSet("palisade-meta"), r.StatefulSet("palisade-data")
	k := &kube{t: t, r: r, prefix: fmt.Sprintf("pk8stls%d", os.Getpid()), secret: r.Secret("palisade-auth"),
		files: map[string]map[string][]byte{cert.Spec.SecretName: issue(t, cert.Spec.DNSNames)},
		ctl:   []string{"-tls", "-bind", fmt.Sprintf("%s-0.%s.default.svc.cluster.local:8091", meta.Name, meta.Spec.ServiceName)}}
	k.network()
	for _, s := range []*appsv1.StatefulSet{meta, data} {
		for i := range replicas(s) {
			k.start(s, i)
		}
	}
	for _, s := range []*appsv1.StatefulSet{meta, data} {
		for i := range replicas(s) {
			k.ready(s, i) // the meta probes: -tls -insecure-tls to 127.0.0.1
		}
	}
	_, ids := k.show() // palisade-ctl -tls, verifying meta-0 against the CA
	if len(ids) != replicas(data) {
		t.Fatalf("%d data nodes registered over TLS, want %d: %v", len(ids), replicas(data), ids)
	}

	// Writes with consistency=all reach both owners: data-0 sends data-1's
	// copy over the data service, which serves TLS only.
	// The data nodes create the admin from the Secret at start: wait until
	// it is in data-0's copy of the meta state.
	c0 := k.client(data, 0)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		code, body := c0.query("", "SHOW DATABASES", true)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admin from the Secret: %d %s", code, body)
		}
	}
	c0.mustQuery("", "CREATE DATABASE k8s WITH REPLICATION 2")
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("cpu,host=h%d value=%d %d", i%5, i, int64(1_700_000_000_000_000_000)+int64(i)*int64(time.Second)))
	}
	c0.write("k8s", strings.Join(lines, "\n"))
	k.expectPoints(data, 50, ids)
	if code, _ := c0.do(mustRequest(t, c0.base+"/debug/pprof/"), false); code != http.StatusUnauthorized {
		t.Errorf("/debug/pprof/ without credentials: %d, want 401", code)
	}

	// What would fail without the chart's settings: a client without TLS,
	// and one with TLS but the image's own roots instead of the CA.
	ctl := func(env []string, flags ...string) (string, error) {
		args := []string{"exec"}
		for _, e := range env {
			args = append(args, "-e", e)
		}
		args = append(args, k.container(meta, 0), "/usr/bin/palisade-ctl", "-timeout", "5s")
		out, err := exec.Command("docker", append(append(args, flags...), "show")...).CombinedOutput()
		return string(out), err
	}
	if out, err := ctl(nil, k.ctl[1:]...); err == nil {
		t.Errorf("palisade-ctl without -tls reached a meta node that serves TLS:\n%s", out)
	}
	if out, err := ctl([]string{"SSL_CERT_FILE=", "SSL_CERT_DIR="}, k.ctl...); err == nil || !strings.Contains(out, "certificate") {
		t.Errorf("palisade-ctl -tls with the image's public roots: %v\n%s\nwant a certificate error: the private CA must come from SSL_CERT_FILE", err, out)
	}
	k.helmTest()
}

func mustRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// issue plays cert-manager with a CA issuer: a new CA, and a certificate
// for dnsNames signed by it, as the keys of a kubernetes.io/tls Secret.
func issue(t *testing.T, dnsNames []string) map[string][]byte {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "palisade test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     dnsNames,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"ca.crt":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}
}
