package auth

import (
	"errors"
	"net/http"
	"time"
)

// Error is an authentication or authorization failure as the client sees it:
// an HTTP status and the exact message of COMPAT.md. Every error this package
// returns from ParseCredentials, Cache.Authenticate, AuthorizeQuery and
// AuthorizeWrite is an *Error.
//
// Messages never contain a password, hash, token or secret. Some carry a user
// or database name, a statement with its passwords redacted, or a token's
// "alg" header.
type Error struct {
	// Status is the HTTP status code: 401, 403 or 429.
	Status int
	// Message is the body's "error" text and the X-Influxdb-Error header.
	Message string
	// RetryAfter is set on ErrTooManyFailures and ErrAuthenticationBusy:
	// how long until the client may try again. The HTTP layer sends it as a Retry-After header (seconds,
	// rounded up).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// Is reports whether target is an *Error with the same status and message, so
// that errors.Is(err, ErrTooManyFailures) holds for the copy that carries a
// RetryAfter, and errors.Is(err, ErrAuthorizationFailed) for the sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status && t.Message == e.Message
}

// Credential errors (401).
var (
	// ErrUnparsableCredentials: no credentials, or none that could be parsed.
	ErrUnparsableCredentials = &Error{Status: http.StatusUnauthorized, Message: "unable to parse authentication credentials"}
	// ErrAuthorizationFailed: wrong password or unknown user; the two are
	// indistinguishable on purpose.
	ErrAuthorizationFailed = &Error{Status: http.StatusUnauthorized, Message: "authorization failed"}
	// ErrTooManyFailures: too many failed logins for this user from this
	// client, or for any users from this client, within the failure window.
	// The returned error is a copy with RetryAfter set; match it with
	// errors.Is.
	ErrTooManyFailures = &Error{Status: http.StatusTooManyRequests, Message: "too many failed authentication attempts"}
	// ErrAuthenticationBusy: every bcrypt slot stayed taken for as long as
	// a login may wait for one. The returned error is a copy with
	// RetryAfter set; match it with errors.Is.
	ErrAuthenticationBusy = &Error{Status: http.StatusTooManyRequests, Message: "too many authentication attempts in progress"}
)

// JWT errors (401). The messages are those of InfluxDB 1.x, not jwt/v5's.
var (
	ErrBearerDisabled          = &Error{Status: http.StatusUnauthorized, Message: "bearer auth disabled"}
	ErrTokenExpired            = &Error{Status: http.StatusUnauthorized, Message: "Token is expired"}
	ErrTokenNotValidYet        = &Error{Status: http.StatusUnauthorized, Message: "Token is not valid yet"}
	ErrTokenUsedBeforeIssued   = &Error{Status: http.StatusUnauthorized, Message: "Token used before issued"}
	ErrTokenExpirationRequired = &Error{Status: http.StatusUnauthorized, Message: "token expiration required"}
	ErrTokenUsernameNotString  = &Error{Status: http.StatusUnauthorized, Message: "username in token must be a string"}
	ErrTokenUsernameRequired   = &Error{Status: http.StatusUnauthorized, Message: "token must contain a username"}
	ErrTokenSignatureInvalid   = &Error{Status: http.StatusUnauthorized, Message: "signature is invalid"}
	ErrTokenSegments           = &Error{Status: http.StatusUnauthorized, Message: "token contains an invalid number of segments"}
	ErrTokenMalformed          = &Error{Status: http.StatusUnauthorized, Message: "token is malformed"}
	ErrTokenInvalidClaims      = &Error{Status: http.StatusUnauthorized, Message: "token has invalid claims"}
	ErrUserNotFound            = &Error{Status: http.StatusUnauthorized, Message: "user not found"}
)

// unexpectedSigningMethodPrefix starts the message for a token whose "alg" is
// not HMAC (including "none"): "unexpected signing method: <alg>".
const unexpectedSigningMethodPrefix = "unexpected signing method: "

// Authorization errors (403).
const (
	// CreateAdminFirstMessage answers every statement but the admin bootstrap
	// (see IsAdminBootstrap) while auth is enabled and no admin exists.
	CreateAdminFirstMessage = "error authorizing query: create admin user first or disable authentication"

	authorizeQueryPrefix = "error authorizing query: "
)

// ErrCreateAdminFirst is the 403 for CreateAdminFirstMessage.
var ErrCreateAdminFirst = &Error{Status: http.StatusForbidden, Message: CreateAdminFirstMessage}

// HTTPError returns the status and message to answer err with. A nil error
// gives 200 and "". An error that is not an *Error gives 500 and its text.
func HTTPError(err error) (status int, message string) {
	if err == nil {
		return http.StatusOK, ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status, e.Message
	}
	return http.StatusInternalServerError, err.Error()
}
