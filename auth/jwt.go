package auth

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"

	"github.com/palisade-db/palisade/proto/metapb"
)

// ErrEmptySecret is returned by MintToken for an empty secret: a token signed
// with one would be forgeable by anybody (CVE-2019-20933).
var ErrEmptySecret = errors.New("auth: JWT secret is empty")

// MintToken returns an HS256 JWT for user that expires at exp, signed with
// secret. The header carries kid = secretID (when not empty) so that data
// nodes try that secret first. The error never contains the secret.
func MintToken(secretID string, secret []byte, user string, exp time.Time) (string, error) {
	if len(secret) == 0 {
		return "", ErrEmptySecret
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"username": user,
		"exp":      exp.Unix(),
	})
	if secretID != "" {
		t.Header["kid"] = secretID
	}
	s, err := t.SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: signing token: %w", err)
	}
	return s, nil
}

// keyring holds the secrets a JWT may be signed with. It is built once per
// state and only read afterwards. Empty secrets are never in it.
type keyring struct {
	// all is every secret: the node-local one first, then the cluster's,
	// newest first.
	all jwt.VerificationKeySet
	// byID maps a cluster secret's id to a set that starts with that secret
	// and then holds all the others, for tokens whose header names a kid.
	byID map[string]jwt.VerificationKeySet
}

func newKeyring(local []byte, secrets []*metapb.JWTSecret) *keyring {
	type idKey struct {
		id      string
		key     []byte
		created int64
	}
	var cluster []idKey
	for _, s := range secrets {
		if len(s.GetValue()) == 0 {
			continue // CVE-2019-20933: an empty secret validates nothing.
		}
		cluster = append(cluster, idKey{s.GetId(), s.GetValue(), s.GetCreated()})
	}
	// Newest first: after a rotation the new secret signs most tokens.
	slices.SortStableFunc(cluster, func(a, b idKey) int { return cmp.Compare(b.created, a.created) })

	k := &keyring{byID: make(map[string]jwt.VerificationKeySet, len(cluster))}
	if len(local) > 0 {
		k.all.Keys = append(k.all.Keys, local)
	}
	for _, s := range cluster {
		k.all.Keys = append(k.all.Keys, s.key)
	}
	for i, s := range cluster {
		if s.id == "" {
			continue
		}
		if _, dup := k.byID[s.id]; dup {
			continue
		}
		keys := make([]jwt.VerificationKey, 0, len(k.all.Keys))
		keys = append(keys, s.key)
		for j, o := range cluster {
			if j != i {
				keys = append(keys, o.key)
			}
		}
		if len(local) > 0 {
			keys = append(keys, local)
		}
		k.byID[s.id] = jwt.VerificationKeySet{Keys: keys}
	}
	return k
}

func (k *keyring) empty() bool { return k == nil || len(k.all.Keys) == 0 }

// tokenVerifier checks tokens the way InfluxDB 1.x does, with jwt/v5.
type tokenVerifier struct {
	parser *jwt.Parser
	leeway time.Duration
}

func newTokenVerifier(leeway time.Duration, now func() time.Time) *tokenVerifier {
	return &tokenVerifier{leeway: leeway, parser: jwt.NewParser(
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(), // iat is checked only when present.
	)}
}

// errUnexpectedMethod is what our key function returns for a non-HMAC alg.
type errUnexpectedMethod struct{ alg any }

func (e *errUnexpectedMethod) Error() string { return "unexpected signing method" }

// verify checks token against keys and returns the username it names. The
// user's existence is the caller's business. Every error is an *Error.
func (v *tokenVerifier) verify(keys *keyring, token string) (string, error) {
	name, _, err := v.verifyWindow(keys, token)
	return name, err
}

// validity is when a verified token may be used: unix nanoseconds, leeway
// included; from is 0 when the token has neither nbf nor iat.
type validity struct{ from, until int64 }

// verifyWindow is verify that also returns when the token is valid, so that
// the result can be remembered until then.
func (v *tokenVerifier) verifyWindow(keys *keyring, token string) (string, validity, error) {
	var w validity
	if keys.empty() {
		return "", w, ErrBearerDisabled
	}
	// jwt/v5 reports a wrong segment count only as ErrTokenMalformed; count
	// them here so that the message does not depend on its wording.
	if strings.Count(token, ".") != 2 {
		return "", w, ErrTokenSegments
	}

	claims := jwt.MapClaims{}
	t, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
			return nil, &errUnexpectedMethod{alg: t.Header["alg"]}
		}
		if kid, ok := t.Header["kid"].(string); ok && kid != "" {
			if set, ok := keys.byID[kid]; ok {
				return set, nil
			}
		}
		return keys.all, nil
	})
	if err != nil {
		return "", w, mapTokenError(t, claims, err)
	}

	name, ok := claims["username"].(string)
	switch {
	case !ok:
		return "", w, ErrTokenUsernameNotString
	case name == "":
		return "", w, ErrTokenUsernameRequired
	}
	// The parser has checked these claims; an error here cannot happen.
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		w.until = exp.Add(v.leeway).UnixNano()
	}
	for _, get := range []func() (*jwt.NumericDate, error){claims.GetNotBefore, claims.GetIssuedAt} {
		if t, err := get(); err == nil && t != nil {
			w.from = max(w.from, t.Add(-v.leeway).UnixNano())
		}
	}
	return name, w, nil
}

// mapTokenError turns a jwt/v5 error into our message. It matches jwt's
// sentinel errors with errors.Is, never their text. The checks follow jwt's
// own order: structure, algorithm, signature, then claims.
func mapTokenError(t *jwt.Token, claims jwt.MapClaims, err error) error {
	var bad *errUnexpectedMethod
	switch {
	case errors.As(err, &bad):
		return unexpectedSigningMethod(bad.alg)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrTokenMalformed
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// Our key function fails only with errUnexpectedMethod, handled
		// above: here jwt did not know the alg, or there was none.
		var alg any
		if t != nil {
			alg = t.Header["alg"]
		}
		return unexpectedSigningMethod(alg)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrTokenSignatureInvalid
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		// The signature is good: look at the claims. An exp that is missing,
		// zero or not a number is "expiration required", as in InfluxDB.
		if exp, ok := claims["exp"].(float64); !ok || exp == 0 ||
			errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
			return ErrTokenExpirationRequired
		}
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			return ErrTokenExpired
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			return ErrTokenNotValidYet
		case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
			return ErrTokenUsedBeforeIssued
		}
		return ErrTokenInvalidClaims
	}
	return ErrTokenMalformed
}

// maxAlgLen bounds how much of a client's "alg" we echo back.
const maxAlgLen = 32

func unexpectedSigningMethod(alg any) error {
	s := fmt.Sprintf("%v", alg)
	if len(s) > maxAlgLen {
		s = s[:maxAlgLen] + "..."
	}
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
	return &Error{Status: http.StatusUnauthorized, Message: unexpectedSigningMethodPrefix + s}
}
