package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/palisade-db/palisade/proto/metapb"
)

var (
	testNow     = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	testSecret1 = []byte("first-cluster-secret-0123456789")
	testSecret2 = []byte("second-cluster-secret-987654321")
	testLocal   = []byte("node-local-secret-abcdefghijklm")
)

// signToken signs claims with method and key, adding header entries.
func signToken(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

// rawToken builds a token from a literal header and claims and a fake
// signature, for algorithms we do not sign with.
func rawToken(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	enc := func(v map[string]any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString([]byte("sig"))
}

func validClaims() jwt.MapClaims {
	return jwt.MapClaims{"username": "alice", "exp": testNow.Add(time.Hour).Unix()}
}

func withClaims(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := validClaims()
	edit(c)
	return c
}

func testSecrets() []*metapb.JWTSecret {
	return []*metapb.JWTSecret{
		{Id: "s1", Value: testSecret1, Created: 1},
		{Id: "s2", Value: testSecret2, Created: 2},
	}
}

func TestVerifyToken(t *testing.T) {
	t.Parallel()
	hs256 := func(key []byte, claims jwt.MapClaims) string {
		return signToken(t, jwt.SigningMethodHS256, key, nil, claims)
	}
	withKid := func(kid string, key []byte) string {
		return signToken(t, jwt.SigningMethodHS256, key, map[string]any{"kid": kid}, validClaims())
	}
	noneToken := signToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, validClaims())
	good := hs256(testSecret1, validClaims())

	tests := []struct {
		name    string
		local   []byte
		secrets []*metapb.JWTSecret
		leeway  time.Duration
		token   string
		user    string
		msg     string // expected error message; empty for success
	}{
		{name: "HS256", secrets: testSecrets(), token: good, user: "alice"},
		{name: "HS384", secrets: testSecrets(), user: "alice",
			token: signToken(t, jwt.SigningMethodHS384, testSecret2, nil, validClaims())},
		{name: "HS512", secrets: testSecrets(), user: "alice",
			token: signToken(t, jwt.SigningMethodHS512, testSecret1, nil, validClaims())},
		{name: "local secret", local: testLocal, token: hs256(testLocal, validClaims()), user: "alice"},
		{name: "local and cluster secrets", local: testLocal, secrets: testSecrets(),
			token: hs256(testSecret2, validClaims()), user: "alice"},
		{name: "kid names the secret", secrets: testSecrets(), token: withKid("s2", testSecret2), user: "alice"},
		{name: "kid names another secret", secrets: testSecrets(), token: withKid("s1", testSecret2), user: "alice"},
		{name: "unknown kid", secrets: testSecrets(), token: withKid("nope", testSecret1), user: "alice"},
		{name: "kid not a string", secrets: testSecrets(), user: "alice",
			token: signToken(t, jwt.SigningMethodHS256, testSecret1, map[string]any{"kid": 7}, validClaims())},

		{name: "no secret", token: good, msg: "bearer auth disabled"},
		{name: "only empty secrets", secrets: []*metapb.JWTSecret{{Id: "e", Value: nil}, {Id: "f", Value: []byte{}}},
			token: good, msg: "bearer auth disabled"},
		{name: "signed with empty key", secrets: append(testSecrets(), &metapb.JWTSecret{Id: "e"}),
			token: hs256([]byte{}, validClaims()), msg: "signature is invalid"},
		{name: "empty key named by kid", secrets: append(testSecrets(), &metapb.JWTSecret{Id: "e"}),
			token: signToken(t, jwt.SigningMethodHS256, []byte{}, map[string]any{"kid": "e"}, validClaims()),
			msg:   "signature is invalid"},
		{name: "wrong secret", secrets: testSecrets(), token: hs256([]byte("other"), validClaims()),
			msg: "signature is invalid"},
		{name: "removed secret", secrets: testSecrets()[1:], token: withKid("s1", testSecret1),
			msg: "signature is invalid"},
		{name: "tampered claims", secrets: testSecrets(), msg: "signature is invalid",
			token: func() string {
				p := strings.Split(good, ".")
				evil := hs256([]byte("x"), withClaims(func(c jwt.MapClaims) { c["username"] = "root" }))
				return p[0] + "." + strings.Split(evil, ".")[1] + "." + p[2]
			}()},
		{name: "expired", secrets: testSecrets(), msg: "Token is expired",
			token: hs256(testSecret1, withClaims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Second).Unix() }))},
		{name: "expired without username", secrets: testSecrets(), msg: "Token is expired",
			token: hs256(testSecret1, jwt.MapClaims{"exp": testNow.Add(-time.Second).Unix()})},
		{name: "expired within leeway", secrets: testSecrets(), leeway: time.Minute, user: "alice",
			token: hs256(testSecret1, withClaims(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Second).Unix() }))},
		{name: "exp missing", secrets: testSecrets(), msg: "token expiration required",
			token: hs256(testSecret1, withClaims(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{name: "exp zero", secrets: testSecrets(), msg: "token expiration required",
			token: hs256(testSecret1, withClaims(func(c jwt.MapClaims) { c["exp"] = 0 }))},
		{name: "exp string", secrets: testSecrets(), msg: "token expiration required",
			token: hs256(testSecret1, withClaims(func(c jwt.MapClaims) { c["exp"] = "tomorrow" }))},
		{name: "nbf in future", secrets: testSecrets(), msg: "Token is not valid yet",
			token: hs256(testSecret1, withClaims(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Minute).Unix() }))},
		{name: "nbf in past", secrets: testSecrets(), user: "alice",
			token: hs256(testSecret1, withClaims(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(-time.Minute).Unix() }))},
		{name: "iat in future", secrets: testSecrets(), msg: "Token used before issued",
			token: hs256(testSecret1, withClaims(func(c jwt.MapClaims) { c["iat"] = testNow.Add(time.Minute).Unix() }))},
		{name: "iat in past", secrets: testSecrets(), user: "alice",
			token: hs256(testSecret1, withClaims(func(c jwt.MapClaims) { c["iat"] = testNow.Add(-time.Minute).Unix() }))},
		{name: "nbf not a number", secrets: testSecrets(), msg: "token has invalid claims",
			token: hs256(testSecret1, withClaims(func(c jwt.MapClaims) { c["nbf"] = "soon" }))},
		{name: "username missing", secrets: testSecrets(), msg: "username in token must be a string",
			token: hs256(testSecret1, withClaims(func(c jwt.MapClaims) { delete(c, "username") }))},
		{name: "username number", secrets: testSecrets(), msg: "username in token must be a string",
			token: hs256(testSecret1, withClaims(func(c jwt.MapClaims) { c["username"] = 42 }))},
		{name: "username empty", secrets: testSecrets(), msg: "token must contain a username",
			token: hs256(testSecret1, withClaims(func(c jwt.MapClaims) { c["username"] = "" }))},

		{name: "empty token", secrets: testSecrets(), token: "", msg: "token contains an invalid number of segments"},
		{name: "one segment", secrets: testSecrets(), token: "abc", msg: "token contains an invalid number of segments"},
		{name: "two segments", secrets: testSecrets(), token: "abc.def", msg: "token contains an invalid number of segments"},
		{name: "four segments", secrets: testSecrets(), token: good + ".x", msg: "token contains an invalid number of segments"},
		{name: "no secret beats a bad token", token: "x", msg: "bearer auth disabled"},
		{name: "bad base64", secrets: testSecrets(), token: "!!!.###.$$$", msg: "token is malformed"},
		{name: "bad json", secrets: testSecrets(), msg: "token is malformed",
			token: base64.RawURLEncoding.EncodeToString([]byte("{")) + ".e30.c2ln"},

		{name: "alg none", secrets: testSecrets(), token: noneToken, msg: "unexpected signing method: none"},
		{name: "alg none unsigned", secrets: testSecrets(), msg: "unexpected signing method: none",
			token: rawToken(t, map[string]any{"alg": "none"}, validClaims())},
		{name: "alg RS256", secrets: testSecrets(), msg: "unexpected signing method: RS256",
			token: rawToken(t, map[string]any{"alg": "RS256", "typ": "JWT"}, validClaims())},
		{name: "alg ES256", secrets: testSecrets(), msg: "unexpected signing method: ES256",
			token: rawToken(t, map[string]any{"alg": "ES256"}, validClaims())},
		{name: "alg unknown", secrets: testSecrets(), msg: "unexpected signing method: HS1",
			token: rawToken(t, map[string]any{"alg": "HS1"}, validClaims())},
		{name: "alg missing", secrets: testSecrets(), msg: "unexpected signing method: <nil>",
			token: rawToken(t, map[string]any{"typ": "JWT"}, validClaims())},
		{name: "alg long and odd", secrets: testSecrets(),
			msg:   "unexpected signing method: " + strings.Repeat("A", 31) + "?...",
			token: rawToken(t, map[string]any{"alg": strings.Repeat("A", 31) + "\n" + strings.Repeat("B", 100)}, validClaims())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newTokenVerifier(tt.leeway, func() time.Time { return testNow })
			user, err := v.verify(newKeyring(tt.local, tt.secrets), tt.token)
			if tt.msg == "" {
				if err != nil || user != tt.user {
					t.Fatalf("verify = %q, %v; want %q", user, err, tt.user)
				}
				return
			}
			if err == nil {
				t.Fatalf("verify = %q, want error %q", user, tt.msg)
			}
			status, msg := HTTPError(err)
			if status != http.StatusUnauthorized || msg != tt.msg {
				t.Errorf("error = %d %q, want 401 %q", status, msg, tt.msg)
			}
			for _, secret := range [][]byte{testSecret1, testSecret2, testLocal} {
				if strings.Contains(msg, string(secret)) {
					t.Errorf("message %q contains a secret", msg)
				}
			}
			if len(tt.token) > 20 && strings.Contains(msg, tt.token) {
				t.Errorf("message %q contains the token", msg)
			}
		})
	}
}

func TestMintToken(t *testing.T) {
	t.Parallel()
	exp := testNow.Add(time.Hour)
	s, err := MintToken("s2", testSecret2, "alice", exp)
	if err != nil {
		t.Fatal(err)
	}
	v := newTokenVerifier(0, func() time.Time { return testNow })
	if user, err := v.verify(newKeyring(nil, testSecrets()), s); err != nil || user != "alice" {
		t.Fatalf("verify = %q, %v", user, err)
	}

	tok, _, err := jwt.NewParser().ParseUnverified(s, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header["kid"] != "s2" || tok.Header["alg"] != "HS256" {
		t.Errorf("header = %v", tok.Header)
	}
	if got, _ := tok.Claims.GetExpirationTime(); got == nil || !got.Equal(exp) {
		t.Errorf("exp = %v, want %v", got, exp)
	}

	if _, err := v.verify(newKeyring(nil, testSecrets()), mustMint(t, "", testSecret1, "alice", testNow.Add(-time.Minute))); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("expired minted token: %v", err)
	}
	if _, err := MintToken("s1", nil, "alice", exp); !errors.Is(err, ErrEmptySecret) {
		t.Errorf("MintToken with empty secret: %v", err)
	}
}

func mustMint(t testing.TB, id string, secret []byte, user string, exp time.Time) string {
	t.Helper()
	s, err := MintToken(id, secret, user, exp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func FuzzVerifyToken(f *testing.F) {
	f.Add(mustMint(f, "s1", testSecret1, "alice", testNow.Add(time.Hour)))
	f.Add(mustMint(f, "s2", testSecret1, "alice", testNow.Add(-time.Hour)))
	f.Add(mustMint(f, "", testSecret2, "", testNow.Add(time.Hour)))
	f.Add(signToken(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, validClaims()))
	f.Add(signToken(f, jwt.SigningMethodHS512, testSecret2, map[string]any{"kid": 1}, jwt.MapClaims{"exp": "x", "nbf": 1e300, "iat": -1e300}))
	f.Add(rawToken(f, map[string]any{"alg": "RS256"}, validClaims()))
	f.Add("a.b.c")
	f.Add("..")
	f.Add("")
	v := newTokenVerifier(time.Second, func() time.Time { return testNow })
	keys := newKeyring(testLocal, testSecrets())
	f.Fuzz(func(t *testing.T, token string) {
		user, err := v.verify(keys, token)
		if err == nil {
			if user == "" {
				t.Fatal("accepted a token without a username")
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Message == "" {
			t.Fatalf("error %#v is not a 401 *Error", err)
		}
	})
}

// FuzzVerifySignedClaims signs arbitrary header and claims JSON with a secret
// the verifier knows, so that the claim checks see fuzzed input past the
// signature.
func FuzzVerifySignedClaims(f *testing.F) {
	f.Add(`{"alg":"HS256","kid":"s1"}`, `{"username":"alice","exp":1e12}`)
	f.Add(`{"alg":"HS384"}`, `{"username":"alice","exp":"1"}`)
	f.Add(`{"alg":"HS512","kid":null}`, `{"username":7,"exp":1e300,"nbf":-1e300,"iat":[]}`)
	f.Add(`{"alg":"HS256"}`, `{"username":"","exp":0}`)
	f.Add(`{"alg":"none"}`, `{}`)
	f.Add(`{}`, `null`)
	v := newTokenVerifier(0, func() time.Time { return testNow })
	keys := newKeyring(nil, testSecrets())
	f.Fuzz(func(t *testing.T, header, claims string) {
		signing := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." +
			base64.RawURLEncoding.EncodeToString([]byte(claims))
		sig, err := jwt.SigningMethodHS256.Sign(signing, testSecret1)
		if err != nil {
			t.Fatal(err)
		}
		token := signing + "." + base64.RawURLEncoding.EncodeToString(sig)
		user, err := v.verify(keys, token)
		if err == nil {
			if user == "" {
				t.Fatal("accepted a token without a username")
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Message == "" {
			t.Fatalf("error %#v is not a 401 *Error", err)
		}
	})
}

func TestKeyringOrder(t *testing.T) {
	t.Parallel()
	secrets := append(testSecrets(), &metapb.JWTSecret{Id: "empty", Created: 3})
	k := newKeyring(testLocal, secrets)
	names := func(set jwt.VerificationKeySet) []string {
		var out []string
		for _, key := range set.Keys {
			out = append(out, string(key.([]byte)))
		}
		return out
	}
	want := []string{string(testLocal), string(testSecret2), string(testSecret1)}
	if got := names(k.all); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("all = %v, want local then newest first", got)
	}
	want = []string{string(testSecret1), string(testSecret2), string(testLocal)}
	if got := names(k.byID["s1"]); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("byID[s1] = %v, want s1 first", got)
	}
	if _, ok := k.byID["empty"]; ok {
		t.Error("empty secret is in the keyring")
	}
}
