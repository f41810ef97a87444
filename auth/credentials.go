package auth

import (
	"encoding/base64"
	"net/http"
	"strings"
)

// Method is how a request presented its credentials.
type Method int

const (
	// UserPass: the u and p URL query parameters.
	UserPass Method = iota + 1
	// Basic: "Authorization: Basic base64(user:password)".
	Basic
	// Bearer: "Authorization: Bearer <jwt>".
	Bearer
	// Token: "Authorization: Token <user>:<password>" (InfluxDB 2.x style
	// compatibility API). It is checked exactly like Basic.
	Token
)

func (m Method) String() string {
	switch m {
	case UserPass:
		return "userpass"
	case Basic:
		return "basic"
	case Bearer:
		return "bearer"
	case Token:
		return "token"
	}
	return "none"
}

// Credentials are what ParseCredentials found in a request. Username and
// Password are set for UserPass, Basic and Token; Token is set for Bearer.
//
// Credentials hold secrets: never log or print them.
type Credentials struct {
	Method   Method
	Username string
	Password string
	Token    string
}

// String describes c without its password or token, so that printing
// credentials by mistake does not leak them.
func (c Credentials) String() string {
	if c.Method == Bearer {
		return "bearer [REDACTED]"
	}
	return c.Method.String() + " " + c.Username + " [REDACTED]"
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// ParseCredentials extracts credentials from r in the order InfluxDB 1.8+
// uses:
//
//  1. u and p from the URL query string, when both are non-empty (a form
//     body is never consulted);
//  2. the Authorization header, split on one space into exactly two parts:
//     "Bearer <jwt>", or "Token <user>:<password>" (split at the first
//     colon); anything else is tried as HTTP Basic.
//
// When nothing parses it returns ErrUnparsableCredentials.
func ParseCredentials(r *http.Request) (Credentials, error) {
	if r.URL != nil && r.URL.RawQuery != "" {
		if u, p := queryUserPass(r.URL.RawQuery); u != "" && p != "" {
			return Credentials{Method: UserPass, Username: u, Password: p}, nil
		}
	}

	// r.Header.Get without canonicalizing a key that already is canonical.
	var s string
	if v := r.Header["Authorization"]; len(v) > 0 {
		s = v[0]
	}
	if s == "" {
		return Credentials{}, ErrUnparsableCredentials
	}
	if scheme, rest, ok := strings.Cut(s, " "); ok && !strings.Contains(rest, " ") {
		switch scheme {
		case "Bearer":
			return Credentials{Method: Bearer, Token: rest}, nil
		case "Token":
			if u, p, ok := strings.Cut(rest, ":"); ok {
				return Credentials{Method: Token, Username: u, Password: p}, nil
			}
		}
	}
	if u, p, ok := parseBasic(s); ok {
		return Credentials{Method: Basic, Username: u, Password: p}, nil
	}
	return Credentials{}, ErrUnparsableCredentials
}

// parseBasic is http.Request.BasicAuth on the header value s: the scheme
// "Basic " in any case, then base64 (standard, padded) of user:password,
// split at the first colon. BasicAuth allocates twice (the decoded bytes,
// then the string); here credentials of up to basicStackLen bytes are
// decoded on the stack, so the string is the one allocation.
func parseBasic(s string) (username, password string, ok bool) {
	const prefix = "Basic "
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", "", false
	}
	enc := s[len(prefix):]
	var cs string
	if base64.StdEncoding.DecodedLen(len(enc)) <= basicStackLen {
		var buf [basicStackLen]byte
		n, err := base64.StdEncoding.Decode(buf[:], []byte(enc))
		if err != nil {
			return "", "", false
		}
		cs = string(buf[:n])
	} else {
		c, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return "", "", false
		}
		cs = string(c)
	}
	username, password, ok = strings.Cut(cs, ":")
	if !ok {
		return "", "", false
	}
	return username, password, true
}

// basicStackLen bounds the decoded Basic credentials that parseBasic
// decodes on the stack.
const basicStackLen = 192
