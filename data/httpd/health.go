package httpd

import (
	"encoding/json"
	"math"
	"net/http"
	"time"
)

// MetaStatus says whether the node's meta state (users, privileges,
// databases) can be used to serve requests.
type MetaStatus struct {
	// Refuse, when not empty, is why requests that need the meta state are
	// answered 503 with it: /query, /write, /api/v2/write (and /ping,
	// /health with ping-auth-enabled). Authenticating against a state the
	// node does not have, or no longer trusts, would let the wrong people in.
	Refuse string
	// Unhealthy, when not empty, makes /health answer 503 "fail" with this
	// message. It is set whenever Refuse is.
	Unhealthy string
	// Age is how long ago the node last confirmed that its state was the
	// cluster's newest; negative when it has none.
	Age time.Duration
}

// refuseWithoutMetaState answers 503 when the node cannot serve requests
// that need its meta state, or cannot confirm it is not behind a change
// acknowledged elsewhere (Config.Fresh), and reports whether it did.
func (h *Handler) refuseWithoutMetaState(w *respWriter, r *http.Request) bool {
	refuse := ""
	if h.cfg.MetaStatus != nil {
		refuse = h.cfg.MetaStatus().Refuse
	}
	if refuse == "" && h.cfg.Fresh != nil {
		if err := h.cfg.Fresh(r.Context()); err != nil {
			refuse = err.Error()
		}
	}
	if refuse != "" {
		w.Header().Set("Retry-After", "1")
		h.httpError(w, http.StatusServiceUnavailable, refuse)
		return true
	}
	return false
}

// serveHealth answers /health like InfluxDB 1.8 ({"name","message","status",
// "checks","version"}), plus meta_state_age_seconds: how long ago the node
// last confirmed its meta state current (0 for a standalone node, -1 when
// it has no state). A node that cannot trust its meta state answers 503
// with status "fail" and the reason as the message.
func (h *Handler) serveHealth(w *respWriter, r *http.Request) {
	if h.pingAuth {
		if _, _, ok := h.authenticate(w, r); !ok {
			return
		}
	}
	var st MetaStatus
	if h.cfg.MetaStatus != nil {
		st = h.cfg.MetaStatus()
	}
	status, code, msg := "pass", http.StatusOK, "ready for queries and writes"
	if st.Unhealthy != "" {
		status, code, msg = "fail", http.StatusServiceUnavailable, st.Unhealthy
		w.Header().Set("X-Influxdb-Error", errorHeader(msg))
	}
	age := -1.0
	if st.Age >= 0 {
		age = math.Round(st.Age.Seconds()*1000) / 1000
	}
	b, _ := json.Marshal(struct {
		Name                string   `json:"name"`
		Message             string   `json:"message"`
		Status              string   `json:"status"`
		Checks              []string `json:"checks"`
		Version             string   `json:"version"`
		MetaStateAgeSeconds float64  `json:"meta_state_age_seconds"`
	}{"influxdb", msg, status, []string{}, h.cfg.Version, age})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	w.Write(b)
}
