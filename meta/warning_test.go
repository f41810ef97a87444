package meta_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/palisade-db/palisade/meta"
)

// With no internal shared secret, RPCs are open and the node says so at start;
// with one, it does not.
func TestOpenRPCWarning(t *testing.T) {
	for _, tc := range []struct {
		secret string
		warns  bool
	}{{"", true}, {"some-internal-secret", false}} {
		var buf bytes.Buffer
		srv := meta.NewGRPCServer(nil, meta.ServerOptions{InternalSecret: tc.secret, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		srv.Stop()
		if got := strings.Contains(buf.String(), "internal-shared-secret is empty"); got != tc.warns {
			t.Errorf("secret %q: warning logged = %v, want %v (log: %s)", tc.secret, got, tc.warns, buf.String())
		}
		if tc.secret != "" && strings.Contains(buf.String(), tc.secret) {
			t.Errorf("the secret reached the log")
		}
	}
}
