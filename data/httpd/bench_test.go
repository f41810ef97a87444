package httpd

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/palisade-db/palisade/auth"
)

// discardResponse is a ResponseWriter that keeps nothing, so that the
// benchmarks measure the handler rather than a recorder.
type discardResponse struct{ h http.Header }

func (d *discardResponse) Header() http.Header         { return d.h }
func (d *discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardResponse) WriteHeader(int)             {}

// BenchmarkWrite measures /write with 100 points per request, without auth
// and with each way of presenting credentials (the password already
// verified once, as for any client after its first request). The
// difference is what authentication costs per request.
func BenchmarkWrite(b *testing.B) {
	var lines strings.Builder
	for i := range 100 {
		fmt.Fprintf(&lines, "cpu,host=server%02d,region=eu usage_user=%d.5,usage_system=%di %d\n", i, i, i, 1_700_000_000_000_000_000+i)
	}
	body := lines.String()
	tok := mintToken(b, "writer", time.Now().Add(24*time.Hour))

	for _, bc := range []struct {
		name   string
		auth   bool
		target string
		header string
	}{
		{name: "auth-off", target: "/write?db=db0"},
		{name: "basic", auth: true, target: "/write?db=db0", header: basic("writer", "writerpw")},
		{name: "token", auth: true, target: "/write?db=db0", header: "Token writer:writerpw"},
		{name: "query-up", auth: true, target: "/write?db=db0&u=writer&p=writerpw"},
		{name: "bearer", auth: true, target: "/write?db=db0", header: "Bearer " + tok},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cache := newCache(b, stateOf(b, true), auth.Options{})
			s := newServerWith(b, Config{AuthEnabled: bc.auth, Version: testVersion, Build: "OSS"}, cache)
			s.eng.forget = true
			r := httptest.NewRequest(http.MethodPost, bc.target, nil)
			if bc.header != "" {
				r.Header.Set("Authorization", bc.header)
			}
			w := &discardResponse{h: http.Header{}}
			rd := strings.NewReader(body)
			serveOnce := func() {
				rd.Reset(body)
				r.Body = readCloser{rd}
				r.ContentLength = int64(len(body))
				clear(w.h)
				s.h.ServeHTTP(w, r)
			}
			serveOnce() // verifies the password once
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				serveOnce()
			}
		})
	}
}

// BenchmarkAuthenticate isolates the authentication step of a request.
func BenchmarkAuthenticate(b *testing.B) {
	cache := newCache(b, stateOf(b, true), auth.Options{})
	h := NewHandler(Config{AuthEnabled: true, Version: testVersion, Build: "OSS"}, newFakeEngine(), cache, nil)
	tok := mintToken(b, "writer", time.Now().Add(24*time.Hour))
	for _, bc := range []struct{ name, target, header string }{
		{"basic", "/write?db=db0", basic("writer", "writerpw")},
		{"token", "/write?db=db0", "Token writer:writerpw"},
		{"query-up", "/write?db=db0&u=writer&p=writerpw", ""},
		{"bearer", "/write?db=db0", "Bearer " + tok},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodPost, bc.target, nil)
			if bc.header != "" {
				r.Header.Set("Authorization", bc.header)
			}
			w := &respWriter{ResponseWriter: &discardResponse{h: http.Header{}}}
			if _, _, ok := h.authenticate(w, r); !ok {
				b.Fatal("authentication failed")
			}
			b.ReportAllocs()
			for b.Loop() {
				h.authenticate(w, r)
			}
		})
	}
}
