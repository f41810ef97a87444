package auth

import (
	"net/url"
	"strings"
)

// QueryValue returns the first value of key in the raw query string, as
// url.ParseQuery(raw).Get(key) would (pairs that do not unescape, or that
// contain ';', are skipped), without building a map. It allocates only to
// unescape a value that needs it.
func QueryValue(raw, key string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if !keyIs(k, key) {
			continue
		}
		if !strings.ContainsAny(v, "%+") {
			return v, true
		}
		if u, err := url.QueryUnescape(v); err == nil {
			return u, true
		}
	}
	return "", false
}

// keyIs reports whether the escaped query key k unescapes to key.
func keyIs(k, key string) bool {
	if !strings.ContainsAny(k, "%+") {
		return k == key
	}
	u, err := url.QueryUnescape(k)
	return err == nil && u == key
}

// queryUserPass returns the first values of u and p in the raw query string,
// as QueryValue(raw, "u") and QueryValue(raw, "p") would, in one pass.
func queryUserPass(raw string) (u, p string) {
	var haveU, haveP bool
	for raw != "" && !(haveU && haveP) {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		var isU, isP bool
		switch {
		case len(k) == 1:
			isU, isP = k[0] == 'u', k[0] == 'p'
		case len(k) >= 2 && strings.ContainsAny(k, "%+"):
			isU, isP = keyIs(k, "u"), keyIs(k, "p")
		}
		if !(isU && !haveU || isP && !haveP) || strings.IndexByte(pair, ';') >= 0 {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			var err error
			if v, err = url.QueryUnescape(v); err != nil {
				continue
			}
		}
		if isU {
			u, haveU = v, true
		} else {
			p, haveP = v, true
		}
	}
	return u, p
}
