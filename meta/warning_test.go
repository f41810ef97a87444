package meta_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/palisade-db/palisade/meta"
)

// With no internal shared secret, RPCs and the Raft port are open and the
// node says so at start (both of them, so that an operator does not take the
// Raft port for protected); with one, it does not.
func TestOpenRPCWarning(t *testing.T) {
	for _, tc := range []struct {
		secret string
		warns  bool
	}{{"", true}, {"some-internal-secret", false}} {
		var buf bytes.Buffer
		srv, _ := meta.NewGRPCServer(nil, meta.ServerOptions{InternalSecret: tc.secret, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		srv.Stop()
		if got := strings.Contains(buf.String(), "internal-shared-secret is empty"); got != tc.warns {
			t.Errorf("secret %q: warning logged = %v, want %v (log: %s)", tc.secret, got, tc.warns, buf.String())
		}
		if tc.warns && !strings.Contains(buf.String(), "the Raft port are open") {
			t.Errorf("the warning does not say that the Raft port is open: %s", buf.String())
		}
		if tc.secret != "" && strings.Contains(buf.String(), tc.secret) {
			t.Errorf("the secret reached the log")
		}
	}
}
