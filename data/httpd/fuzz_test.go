package httpd

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-db/palisade/auth"
)

// fuzzServer is shared by the fuzz iterations: hashing users for every input
// would make the fuzzer crawl. High failure thresholds keep the throttles
// from turning every later input into a 429.
var (
	fuzzOnce sync.Once
	fuzzSrv  *server
)

func fuzzServerFor(t *testing.T) *server {
	fuzzOnce.Do(func() {
		cache := newCache(t, stateOf(t, true), auth.Options{FailureThreshold: 1 << 20, ClientFailureThreshold: 1 << 20})
		fuzzSrv = newServerWith(t, Config{AuthEnabled: true, MaxBodySize: 1 << 16, MaxQuerySize: 1 << 16, Version: testVersion, Build: "OSS"}, cache)
		fuzzSrv.eng.forget = true
	})
	return fuzzSrv
}

// FuzzRequest throws arbitrary query strings, Authorization headers and
// bodies at /query, /write and /api/v2/write. The handler must never panic
// (a recovered panic would show as a 500), must answer with a status the
// API uses, and every response must carry the headers COMPAT.md requires
// (checked by serve).
func FuzzRequest(f *testing.F) {
	tok, _ := auth.MintToken("k1", jwtSecret, "admin", time.Now().Add(24*time.Hour))
	seeds := []struct {
		path    uint8
		raw     string
		authz   string
		body    string
		gzipped bool
	}{
		{0, "q=SHOW+DATABASES", basic("admin", "adminpw"), "", false},
		{0, "q=SELECT+*+FROM+cpu&db=db0&epoch=ms&chunked=true&chunk_size=1", "Token reader:readerpw", "", false},
		{0, "q=SELECT+*+FROM+cpu+WHERE+host%3D%24h&params=%7B%22h%22%3A1.5%7D&u=admin&p=adminpw", "", "", false},
		{0, "q=CREATE+USER+x+WITH+PASSWORD+%27y%27&u=reader&p=readerpw", "", "", false},
		{0, "q=SELEC&u=admin&p=adminpw", "", "", false},
		{0, "q=%zz&u=admin&p=admin%zz", "Bearer " + tok, "", false},
		{0, "q=SHOW+DATABASES", "Bearer a.b", "", false},
		{0, "q=SHOW+DATABASES", "Basic !!!", "", false},
		{1, "db=db0&precision=s&consistency=all", basic("writer", "writerpw"), "cpu,host=a v=1 1\nmem f=2i", false},
		{1, "db=db0", "Token writer:writerpw", "cpu v=1", true},
		{1, "db=nope;x&db=db0", "Token writer:", "bad line", false},
		{1, "db=db0&u=writer&p=writerpw", "", "cpu v=1 99999999999999999999", false},
		{2, "bucket=db0/autogen&precision=us&org=x", "Token writer:writerpw", "cpu v=1 1", false},
		{2, "bucket=%2F", "Bearer " + tok, "cpu v=1", false},
	}
	for _, s := range seeds {
		f.Add(s.path, s.raw, s.authz, []byte(s.body), s.gzipped)
	}
	paths := []string{"/query", "/write", "/api/v2/write"}
	allowed := map[int]bool{200: true, 204: true, 400: true, 401: true, 403: true, 404: true, 405: true, 413: true, 429: true}

	f.Fuzz(func(t *testing.T, path uint8, raw, authz string, body []byte, gzipped bool) {
		s := fuzzServerFor(t)
		method := http.MethodPost
		if path&4 != 0 {
			method = http.MethodGet
		}
		r := &http.Request{
			Method:     method,
			URL:        &url.URL{Path: paths[int(path)%len(paths)], RawQuery: raw},
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     http.Header{},
			Body:       http.NoBody,
			Host:       "example.com",
			RemoteAddr: "192.0.2.1:1234",
		}
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if len(body) > 0 {
			r.Body = readCloser{strings.NewReader(string(body))}
			r.ContentLength = int64(len(body))
		}
		if gzipped {
			r.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, r)
		res := response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
		checkCommon(t, r, res)
		if !allowed[res.status] {
			t.Fatalf("%s %s?%s: status %d, body %q", method, r.URL.Path, raw, res.status, res.body)
		}
	})
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// FuzzQueryValue: the map-free query-string scan agrees with url.ParseQuery.
func FuzzQueryValue(f *testing.F) {
	for _, s := range []string{"db=x", "a=1&db=x&db=y", "d%62=x", "db=%zz&db=ok", "db=x;y&db=z", "db=a+b", "=&&=", "%"} {
		f.Add(s, "db")
	}
	f.Fuzz(func(t *testing.T, raw, key string) {
		got, _ := queryValue(raw, key)
		std, _ := url.ParseQuery(raw)
		if want := std.Get(key); got != want {
			t.Fatalf("queryValue(%q, %q) = %q, url.ParseQuery gives %q", raw, key, got, want)
		}
	})
}
