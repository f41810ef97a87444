package data_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/palisade-db/palisade/configs"
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
	const secret = "bench-jwt-secret-0123456789abcdef"
	var lines strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&lines, "cpu,host=server%04d,region=eu usage_user=%d.5,usage_system=%di %d\n",
			i%1000, i, i, 1_700_000_000_000_000_000+int64(i)*1_000_000)
	}
	body := lines.String()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"username": "bench", "exp": time.Now().Add(24 * time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		b.Fatal(err)
	}
	basicCreds := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench:bench-pw"))

	for _, auth := range []struct{ name, header string }{
		{"auth-off", ""}, {"basic", basicCreds}, {"token", "Token bench:bench-pw"}, {"bearer", "Bearer " + tok},
	} {
		d := testcluster.StartStandalone(b, testcluster.DataOptions{Configure: func(c *configs.Data) {
			c.HTTP.AuthEnabled = auth.header != ""
			c.HTTP.SharedSecret = secret
		}})
		h := d.Handler()
		serve := func(r *http.Request) int {
			w := &discard{h: http.Header{}}
			h.ServeHTTP(w, r)
			if w.status == 0 {
				w.status = http.StatusOK
			}
			return w.status
		}
		post := func(target, body string) *http.Request {
			r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}
		for _, q := range []string{
			"CREATE USER bench WITH PASSWORD 'bench-pw' WITH ALL PRIVILEGES", // the bootstrap: no credentials
			"CREATE DATABASE db0",
		} {
			r := post("/query", url.Values{"q": {q}}.Encode())
			if auth.header != "" && !strings.HasPrefix(q, "CREATE USER") {
				r.Header.Set("Authorization", auth.header)
			}
			if s := serve(r); s != http.StatusOK {
				b.Fatalf("%s: %q: %d", auth.name, q, s)
			}
		}

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
		d.Kill()
	}
}
