package auth

import (
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
		u, _ := QueryValue(r.URL.RawQuery, "u")
		p, _ := QueryValue(r.URL.RawQuery, "p")
		if u != "" && p != "" {
			return Credentials{Method: UserPass, Username: u, Password: p}, nil
		}
	}

	s := r.Header.Get("Authorization")
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
	if u, p, ok := r.BasicAuth(); ok {
		return Credentials{Method: Basic, Username: u, Password: p}, nil
	}
	return Credentials{}, ErrUnparsableCredentials
}
