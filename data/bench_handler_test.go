package data_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/palisade-db/palisade/data"
	"github.com/palisade-db/palisade/internal/testcluster"
)

// discard is a ResponseWriter that keeps nothing, so that the benchmark
// measures the handler and the engine, not a recorder.
type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(s int)           { d.status = s }

// BenchmarkHandlerAuthCost measures what authentication costs a whole
// request on the real embedded engine, without sockets: /query?q=SHOW
// DATABASES and a 5,000-point /write, with auth off and with Basic, Token
// and Bearer (JWT) credentials already verified once (as for any client
// after its first request). Compare ns/op and allocs/op of each case with
// auth-off of the same endpoint (docs/benchmarks.md).
func BenchmarkHandlerAuthCost(b *testing.B) {
	body, creds := authCostInputs(b)
	for _, auth := range append([]struct{ name, header string }{{"auth-off", ""}}, creds...) {
		serve, stop := startAuthCostNode(b, auth.header)
		b.Run("query/"+auth.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/query?q=SHOW+DATABASES", nil)
			if auth.header != "" {
				r.Header.Set("Authorization", auth.header)
			}
			if s := serve(r); s != http.StatusOK {
				b.Fatalf("SHOW DATABASES: %d", s)
			}
			b.ReportAllocs()
			for b.Loop() {
				serve(r)
			}
		})
		b.Run("write-5000/"+auth.name, func(b *testing.B) {
			rd := strings.NewReader(body)
			r := httptest.NewRequest(http.MethodPost, "/write?db=db0", nil)
			if auth.header != "" {
				r.Header.Set("Authorization", auth.header)
			}
			once := func() int {
				rd.Reset(body)
				r.Body = io.NopCloser(rd)
				r.ContentLength = int64(len(body))
				return serve(r)
			}
			if s := once(); s != http.StatusNoContent {
				b.Fatalf("write: %d", s)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				once()
			}
		})
		stop()
	}
}

const authCostSecret = "bench-jwt-secret-0123456789abcdef"

// authCostInputs returns the 5,000-point body and the Basic, Token and
// Bearer credentials of the user that startAuthCostNode creates.
func authCostInputs(b *testing.B) (string, []struct{ name, header string }) {
	var lines strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&lines, "cpu,host=server%04d,region=eu usage_user=%d.5,usage_system=%di %d\n",
			i%1000, i, i, 1_700_000_000_000_000_000+int64(i)*1_000_000)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"username": "bench", "exp": time.Now().Add(24 * time.Hour).Unix(),
	}).SignedString([]byte(authCostSecret))
	if err != nil {
		b.Fatal(err)
	}
	basicCreds := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench:bench-pw"))
	return lines.String(), []struct{ name, header string }{
		{"basic", basicCreds}, {"token", "Token bench:bench-pw"}, {"bearer", "Bearer " + tok},
	}
}

// startAuthCostNode starts a standalone node, with auth on when header (the
// credentials of the admin it creates) is not empty, creates database db0,
// and returns a function that serves a request and returns the status, and
// one that stops the node (else it stops when b ends).
func startAuthCostNode(b *testing.B, header string) (serve func(*http.Request) int, stop func()) {
	d := testcluster.StartStandalone(b, testcluster.DataOptions{Configure: func(c *data.Config) {
		c.HTTP.AuthEnabled = header != ""
		c.HTTP.SharedSecret = authCostSecret
	}})
	h := d.Handler()
	serve = func(r *http.Request) int {
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, r)
		if w.status == 0 {
			w.status = http.StatusOK
		}
		return w.status
	}
	for _, q := range []string{
		"CREATE USER bench WITH PASSWORD 'bench-pw' WITH ALL PRIVILEGES", // the bootstrap: no credentials
		"CREATE DATABASE db0",
	} {
		r := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(url.Values{"q": {q}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if header != "" && !strings.HasPrefix(q, "CREATE USER") {
			r.Header.Set("Authorization", header)
		}
		if s := serve(r); s != http.StatusOK {
			b.Fatalf("%q: %d", q, s)
		}
	}
	return serve, d.Kill
}

// BenchmarkHandlerAuthCostPaired measures the same requests as
// BenchmarkHandlerAuthCost, but on three nodes at once (two with auth off,
// one with auth on) and interleaved request by request: each iteration
// serves the request once on each auth-off node and once with each of
// Basic, Token and Bearer, in an order that rotates, timing each request. Drift on a shared
// machine then hits every case alike. The metrics are the median time of a
// request in each case (ns/req; a median, so that the rare request that a
// GC cycle or a neighbour stalls does not decide it) and the difference of
// the medians to auth off (%), within one run; control-vs-off-% (two
// identical nodes) shows the method's own error. Use it for timing, and
// BenchmarkHandlerAuthCost for allocations (and for means).
func BenchmarkHandlerAuthCostPaired(b *testing.B) {
	body, creds := authCostInputs(b)
	off, _ := startAuthCostNode(b, "")
	on, _ := startAuthCostNode(b, creds[0].header)
	// control is a second auth-off node, measured like the others: its
	// difference to off is what the method cannot tell from zero.
	control, _ := startAuthCostNode(b, "")
	cases := append([]struct{ name, header string }{{"off", ""}, {"control", "-"}}, creds...)

	run := func(b *testing.B, prepare func(r *http.Request), target string, want int) {
		reqs := make([]*http.Request, len(cases))
		serves := make([]func(*http.Request) int, len(cases))
		for i, c := range cases {
			reqs[i] = httptest.NewRequest(http.MethodGet, target, nil)
			serves[i] = on
			if c.header == "" {
				serves[i] = off
			} else if c.header == "-" {
				serves[i] = control
			} else {
				reqs[i].Header.Set("Authorization", c.header)
			}
			prepare(reqs[i])
			if s := serves[i](reqs[i]); s != want {
				b.Fatalf("%s %s: %d", c.name, target, s)
			}
		}
		took := make([][]time.Duration, len(cases))
		n := 0
		for b.Loop() {
			for k := range cases {
				i := (k + n) % len(cases)
				prepare(reqs[i])
				t0 := time.Now()
				serves[i](reqs[i])
				took[i] = append(took[i], time.Since(t0))
			}
			n++
		}
		median := func(d []time.Duration) float64 {
			slices.Sort(d)
			return float64(d[len(d)/2]+d[(len(d)-1)/2]) / 2
		}
		base := median(took[0])
		b.ReportMetric(base, "off-ns/req")
		for i, c := range cases[1:] {
			ns := median(took[i+1])
			b.ReportMetric(ns, c.name+"-ns/req")
			b.ReportMetric(100*(ns-base)/base, c.name+"-vs-off-%")
		}
	}
	b.Run("query", func(b *testing.B) {
		run(b, func(*http.Request) {}, "/query?q=SHOW+DATABASES", http.StatusOK)
	})
	b.Run("write-5000", func(b *testing.B) {
		rd := make(map[*http.Request]*strings.Reader)
		run(b, func(r *http.Request) {
			r.Method = http.MethodPost
			if rd[r] == nil {
				rd[r] = strings.NewReader(body)
			}
			rd[r].Reset(body)
			r.Body = io.NopCloser(rd[r])
			r.ContentLength = int64(len(body))
		}, "/write?db=db0", http.StatusNoContent)
	})
}

// BenchmarkWriteTelegraf is the write load of scripts/bench-http.sh's
// telegraf scenario in-process: 5,000-point batches (one line, five float
// fields, per point) over 10,000 series, a new timestamp every two batches,
// plain and gzip, auth on with Basic. Every series exists before the timer
// starts. Profile it with -cpuprofile / -memprofile and -cpu 1 to see where
// a point's CPU goes on one core.
func BenchmarkWriteTelegraf(b *testing.B) {
	_, creds := authCostInputs(b)
	serve, _ := startAuthCostNode(b, creds[0].header)
	regions := []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1"}
	const batches = 40
	plain := make([][]byte, batches)
	for i := range batches {
		var sb strings.Builder
		ts := 1_700_000_000_000_000_000 + int64(i/2)*10_000_000_000
		for s := (i % 2) * 5000; s < (i%2)*5000+5000; s++ {
			f := float64(s%97) + 0.25
			fmt.Fprintf(&sb, "cpu,host=host-%05d,region=%s usage_user=%.4f,usage_system=%.4f,usage_idle=%.4f,usage_iowait=%.4f,usage_steal=%.4f %d\n",
				s, regions[s%len(regions)], f/2, f/5, 100-f, f/40, f/300, ts)
		}
		plain[i] = []byte(sb.String())
	}
	gz := make([][]byte, batches)
	for i, p := range plain {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(p)
		zw.Close()
		gz[i] = buf.Bytes()
	}
	for _, enc := range []struct {
		name   string
		bodies [][]byte
	}{{"plain", plain}, {"gzip", gz}} {
		b.Run(enc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodPost, "/write?db=db0", nil)
			r.Header.Set("Authorization", creds[0].header)
			if enc.name == "gzip" {
				r.Header.Set("Content-Encoding", "gzip")
			}
			rd := bytes.NewReader(nil)
			i := 0
			once := func() int {
				body := enc.bodies[i%batches]
				i++
				rd.Reset(body)
				r.Body = io.NopCloser(rd)
				r.ContentLength = int64(len(body))
				return serve(r)
			}
			for range 2 {
				if s := once(); s != http.StatusNoContent {
					b.Fatalf("write: %d", s)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				once()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*5000), "ns/point")
		})
	}
}
