package auth

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestHTTPError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		msg    string
	}{
		{"nil", nil, http.StatusOK, ""},
		{"unparsable", ErrUnparsableCredentials, http.StatusUnauthorized, "unable to parse authentication credentials"},
		{"failed", ErrAuthorizationFailed, http.StatusUnauthorized, "authorization failed"},
		{"wrapped", fmt.Errorf("login: %w", ErrAuthorizationFailed), http.StatusUnauthorized, "authorization failed"},
		{"too many", tooManyFailures(time.Second), http.StatusTooManyRequests, "too many failed authentication attempts"},
		{"bearer disabled", ErrBearerDisabled, http.StatusUnauthorized, "bearer auth disabled"},
		{"forbidden", forbidden("no"), http.StatusForbidden, "no"},
		{"other", errors.New("boom"), http.StatusInternalServerError, "boom"},
	}
	for _, tt := range tests {
		if status, msg := HTTPError(tt.err); status != tt.status || msg != tt.msg {
			t.Errorf("%s: HTTPError = %d %q, want %d %q", tt.name, status, msg, tt.status, tt.msg)
		}
	}
}

func TestErrorIs(t *testing.T) {
	t.Parallel()
	err := tooManyFailures(3 * time.Second)
	if !errors.Is(err, ErrTooManyFailures) {
		t.Error("copy with RetryAfter is not ErrTooManyFailures")
	}
	if errors.Is(err, ErrAuthorizationFailed) || errors.Is(ErrAuthorizationFailed, ErrUserNotFound) {
		t.Error("different errors match")
	}
	var e *Error
	if !errors.As(fmt.Errorf("x: %w", err), &e) || e.RetryAfter != 3*time.Second {
		t.Errorf("RetryAfter lost: %+v", e)
	}
}
