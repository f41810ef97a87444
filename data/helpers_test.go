package data_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// cred is how a request authenticates.
type cred func(*http.Request)

func noCred(*http.Request) {}

func basic(user, pw string) cred {
	return func(r *http.Request) { r.SetBasicAuth(user, pw) }
}

func userPass(user, pw string) cred {
	return func(r *http.Request) {
		q := r.URL.Query()
		q.Set("u", user)
		q.Set("p", pw)
		r.URL.RawQuery = q.Encode()
	}
}

func tokenAuth(user, pw string) cred {
	return func(r *http.Request) { r.Header.Set("Authorization", "Token "+user+":"+pw) }
}

func bearer(tok string) cred {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// response is what a test looks at.
type response struct {
	status int
	header http.Header
	body   string
}

// errorMessage returns the "error" field of a JSON error body.
func (r response) errorMessage() string {
	var v struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(r.body), &v)
	return v.Error
}

// statementError returns the first statement's error of a /query response.
func (r response) statementError() string {
	var v struct {
		Results []struct {
			Error string `json:"error"`
		} `json:"results"`
	}
	_ = json.Unmarshal([]byte(r.body), &v)
	if len(v.Results) == 0 {
		return ""
	}
	return v.Results[0].Error
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func do(t testing.TB, method, u string, c cred, body io.Reader, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c(req)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func query(t testing.TB, base, q string, c cred) response {
	t.Helper()
	return do(t, http.MethodPost, base+"/query", c, strings.NewReader(url.Values{"q": {q}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

func queryDB(t testing.TB, base, db, q string, c cred) response {
	t.Helper()
	return do(t, http.MethodPost, base+"/query?db="+url.QueryEscape(db), c, strings.NewReader(url.Values{"q": {q}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

func write(t testing.TB, base, db, lines string, c cred) response {
	t.Helper()
	return do(t, http.MethodPost, base+"/write?db="+url.QueryEscape(db), c, bytes.NewBufferString(lines), nil)
}

// mustQuery runs q and fails unless it returns 200 without a statement error.
func mustQuery(t testing.TB, base, q string, c cred) response {
	t.Helper()
	r := query(t, base, q, c)
	if r.status != http.StatusOK || r.statementError() != "" {
		t.Fatalf("%q: status %d body %s", q, r.status, r.body)
	}
	return r
}

// signJWT signs claims with secret using method.
func signJWT(t testing.TB, method jwt.SigningMethod, claims jwt.MapClaims, secret []byte) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seriesValues returns the values of the first series of the first result.
func seriesValues(t testing.TB, r response) [][]any {
	t.Helper()
	var v struct {
		Results []struct {
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
	if len(v.Results) == 0 || len(v.Results[0].Series) == 0 {
		return nil
	}
	return v.Results[0].Series[0].Values
}
