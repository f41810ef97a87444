package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func basicHeader(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func TestParseCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		query  string
		header string // Authorization; empty for none
		body   string // form body, POSTed
		want   Credentials
		err    error
	}{
		{name: "nothing", err: ErrUnparsableCredentials},
		{name: "query u and p", query: "u=alice&p=pw",
			want: Credentials{Method: UserPass, Username: "alice", Password: "pw"}},
		{name: "query escaped", query: "u=al%20ice&p=p%26w%3D",
			want: Credentials{Method: UserPass, Username: "al ice", Password: "p&w="}},
		{name: "query u only", query: "u=alice", err: ErrUnparsableCredentials},
		{name: "query empty p", query: "u=alice&p=", err: ErrUnparsableCredentials},
		{name: "query empty u", query: "u=&p=pw", err: ErrUnparsableCredentials},
		{name: "query wins over header", query: "u=alice&p=pw", header: basicHeader("bob", "x"),
			want: Credentials{Method: UserPass, Username: "alice", Password: "pw"}},
		{name: "incomplete query falls back to header", query: "u=alice", header: basicHeader("bob", "x"),
			want: Credentials{Method: Basic, Username: "bob", Password: "x"}},
		{name: "form body is not consulted", body: "u=alice&p=pw", err: ErrUnparsableCredentials},
		{name: "bearer", header: "Bearer abc.def.ghi",
			want: Credentials{Method: Bearer, Token: "abc.def.ghi"}},
		{name: "bearer empty token", header: "Bearer ",
			want: Credentials{Method: Bearer, Token: ""}},
		{name: "bearer three parts", header: "Bearer abc def", err: ErrUnparsableCredentials},
		{name: "bearer is case sensitive", header: "bearer abc", err: ErrUnparsableCredentials},
		{name: "token", header: "Token alice:pw",
			want: Credentials{Method: Token, Username: "alice", Password: "pw"}},
		{name: "token split at first colon", header: "Token alice:p:w:",
			want: Credentials{Method: Token, Username: "alice", Password: "p:w:"}},
		{name: "token empty password", header: "Token alice:",
			want: Credentials{Method: Token, Username: "alice", Password: ""}},
		{name: "token without colon", header: "Token alice", err: ErrUnparsableCredentials},
		{name: "token two spaces", header: "Token  alice:pw", err: ErrUnparsableCredentials},
		{name: "basic", header: basicHeader("alice", "pw"),
			want: Credentials{Method: Basic, Username: "alice", Password: "pw"}},
		{name: "basic colon in password", header: basicHeader("alice", "p:w"),
			want: Credentials{Method: Basic, Username: "alice", Password: "p:w"}},
		{name: "basic lower case scheme", header: "basic " + base64.StdEncoding.EncodeToString([]byte("a:b")),
			want: Credentials{Method: Basic, Username: "a", Password: "b"}},
		{name: "basic without colon", header: "Basic " + base64.StdEncoding.EncodeToString([]byte("alice")),
			err: ErrUnparsableCredentials},
		{name: "basic bad base64", header: "Basic !!!", err: ErrUnparsableCredentials},
		{name: "unknown scheme", header: "Digest abc", err: ErrUnparsableCredentials},
		{name: "no space", header: "Bearer", err: ErrUnparsableCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := "/query"
			if tt.query != "" {
				target += "?" + tt.query
			}
			var r *http.Request
			if tt.body != "" {
				r = httptest.NewRequest(http.MethodPost, target, strings.NewReader(tt.body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				r = httptest.NewRequest(http.MethodGet, target, nil)
			}
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			got, err := ParseCredentials(r)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("credentials = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseCredentialsMessage(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "/query", nil)
	_, err := ParseCredentials(r)
	if status, msg := HTTPError(err); status != http.StatusUnauthorized || msg != "unable to parse authentication credentials" {
		t.Errorf("HTTPError = %d %q", status, msg)
	}
}

func TestCredentialsStringRedacts(t *testing.T) {
	t.Parallel()
	for _, c := range []Credentials{
		{Method: Basic, Username: "alice", Password: "hunter2"},
		{Method: Bearer, Token: "hunter2.hunter2.hunter2"},
	} {
		//lint:ignore S1025 the test checks what fmt prints for %s
		for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%s", c)} {
			if strings.Contains(s, "hunter2") {
				t.Errorf("%q leaks the secret", s)
			}
		}
	}
}

// TestParseBasicIsBasicAuth: parseBasic, which decodes on the stack, reads
// every header as net/http's Request.BasicAuth does (the scheme in any case,
// padded standard base64, the first colon), on both sides of its stack
// buffer's size.
func TestParseBasicIsBasicAuth(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", basicStackLen)
	for _, h := range []string{
		"", "Basic", "Basic ", "basic " + base64.StdEncoding.EncodeToString([]byte("a:b")),
		"BASIC " + base64.StdEncoding.EncodeToString([]byte("a:b")), "Basic  " + base64.StdEncoding.EncodeToString([]byte("a:b")),
		basicHeader("alice", "pw"), basicHeader("alice", ""), basicHeader("", "pw"), basicHeader("a:b", "c:d"),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")),
		"Basic " + base64.RawStdEncoding.EncodeToString([]byte("a:bc")), "Basic " + base64.URLEncoding.EncodeToString([]byte("a:b>?")),
		"Basic !!!", "Basic YWxpY2U6cHc=\n", "Bearer x", "Basicx YTpi",
		basicHeader("alice", long[:basicStackLen-6]), basicHeader("alice", long[:basicStackLen-5]),
		basicHeader("alice", long[:basicStackLen-4]), basicHeader(long, long),
	} {
		r := &http.Request{Header: http.Header{"Authorization": {h}}}
		wu, wp, wok := r.BasicAuth()
		if u, p, ok := parseBasic(h); u != wu || p != wp || ok != wok {
			t.Errorf("parseBasic(%q) = %q, %q, %v; BasicAuth: %q, %q, %v", h, u, p, ok, wu, wp, wok)
		}
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add("", "")
	f.Add("u=alice&p=pw", "")
	f.Add("u=alice", basicHeader("bob", "x"))
	f.Add("", "Bearer a.b.c")
	f.Add("", "Bearer a b")
	f.Add("", "Token alice:p:w")
	f.Add("", "Token alice")
	f.Add("", basicHeader("alice", "pw"))
	f.Add("", "Basic !!!")
	f.Add("%zz&u=a&p=b;", "Basic")
	f.Fuzz(func(t *testing.T, rawQuery, header string) {
		r := &http.Request{URL: &url.URL{Path: "/query", RawQuery: rawQuery}, Header: http.Header{}}
		if header != "" {
			r.Header["Authorization"] = []string{header}
		}
		c, err := ParseCredentials(r)
		if err != nil {
			if err != ErrUnparsableCredentials {
				t.Fatalf("unexpected error %v", err)
			}
			if c != (Credentials{}) {
				t.Fatalf("credentials %+v with error", c)
			}
			return
		}
		switch c.Method {
		case UserPass:
			if c.Username == "" || c.Password == "" {
				t.Fatalf("userpass with empty part: %+v", c)
			}
		case Bearer:
			if header != "Bearer "+c.Token {
				t.Fatalf("bearer token %q from header %q", c.Token, header)
			}
		case Token:
			if header != "Token "+c.Username+":"+c.Password || strings.Contains(c.Username, ":") {
				t.Fatalf("token %+v from header %q", c, header)
			}
		case Basic:
			u, p, ok := r.BasicAuth()
			if !ok || c.Username != u || c.Password != p {
				t.Fatalf("basic %+v from header %q; BasicAuth says %q %q %v", c, header, u, p, ok)
			}
		default:
			t.Fatalf("method %v", c.Method)
		}
	})
}

// FuzzQueryUserPass checks the one-pass u/p lookup against url.ParseQuery,
// which is what InfluxDB reads them with.
func FuzzQueryUserPass(f *testing.F) {
	for _, s := range []string{
		"", "u=alice&p=pw", "p=pw&u=alice", "u=a&u=b&p=c&p=d", "u=%zz&u=b&p=c", "%75=a&%70=b",
		"u=a;b&u=c&p=d", "+u=a&p=b", "u+=a", "u=a+b&p=%41", "q=SHOW+DATABASES&u=x&p=y&db=z", "u&p", "u=&p=x&u=y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		vals, _ := url.ParseQuery(raw)
		u, p := queryUserPass(raw)
		if u != vals.Get("u") || p != vals.Get("p") {
			t.Fatalf("queryUserPass(%q) = %q, %q; url.ParseQuery gives %q, %q", raw, u, p, vals.Get("u"), vals.Get("p"))
		}
	})
}
