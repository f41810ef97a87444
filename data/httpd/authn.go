package httpd

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxdb/services/meta"
	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/auth"
)

// authMode is how a request is authorized.
type authMode uint8

const (
	// authOff: authentication is disabled; everything is allowed.
	authOff authMode = iota
	// authBootstrap: authentication is enabled but no admin exists yet. No
	// credentials are asked for; only the admin bootstrap query may run.
	authBootstrap
	// authOn: the request has authenticated as a user whose privileges
	// decide.
	authOn
)

// authenticate decides r's authMode and, when it is authOn, the user. When
// ok is false an error response (503 without a usable meta state, 401 or
// 429) has been written.
//
// Whether an admin exists is read once, here, so that a request is handled
// under one answer even if the state changes meanwhile.
func (h *Handler) authenticate(w *respWriter, r *http.Request) (u *auth.User, mode authMode, ok bool) {
	if h.refuseWithoutMetaState(w, r) {
		return nil, authOff, false
	}
	if !h.cfg.AuthEnabled {
		return nil, authOff, true
	}
	if !h.cache.AdminExists() {
		return nil, authBootstrap, true
	}
	creds, err := auth.ParseCredentials(r)
	if err == nil {
		u, err = h.cache.Authenticate(r.Context(), creds, clientIP(r.RemoteAddr))
		if status, _ := auth.HTTPError(err); status == http.StatusUnauthorized {
			// The user or password may be newer than this node's state.
			advanced, serr := h.sync(r)
			if serr != nil {
				h.refuseBehind(w, serr)
				return nil, authOn, false
			}
			if advanced {
				u, err = h.cache.Authenticate(r.Context(), creds, clientIP(r.RemoteAddr))
			}
		}
	}
	if err != nil {
		h.authError(w, err)
		return nil, authOn, false
	}
	w.user = u.Name()
	return u, authOn, true
}

// sync brings the meta state up to the leader's before a negative answer
// (Config.Sync); advanced says the state moved on, so the answer must be
// decided again.
func (h *Handler) sync(r *http.Request) (advanced bool, err error) {
	if h.cfg.Sync == nil {
		return false, nil
	}
	return h.cfg.Sync(r.Context())
}

// refuseBehind answers 503 for a node that could not bring its meta state
// up to the leader's.
func (h *Handler) refuseBehind(w *respWriter, err error) {
	w.Header().Set("Retry-After", "1")
	h.httpError(w, http.StatusServiceUnavailable, err.Error())
}

// authorizeFresh runs authorize for u and, when it refuses, once more for
// u as the newest meta state has it (a privilege granted through another
// node a moment ago). It returns the error to answer (nil: allowed), and
// whether it already answered (503: the state could not be brought up).
func (h *Handler) authorizeFresh(w *respWriter, r *http.Request, u *auth.User, authorize func(*auth.User) error) (answered bool, err error) {
	if err = authorize(u); err == nil {
		return false, nil
	}
	advanced, serr := h.sync(r)
	if serr != nil {
		h.refuseBehind(w, serr)
		return true, serr
	}
	if advanced {
		if nu := h.cache.Lookup(u.Name()); nu != nil {
			err = authorize(nu)
		}
	}
	return false, err
}

// authError answers with the status and message of an auth error, adding
// Retry-After (whole seconds, rounded up) to a 429.
func (h *Handler) authError(w *respWriter, err error) {
	status, msg := auth.HTTPError(err)
	switch status {
	case http.StatusUnauthorized:
		h.stats.authFail.Add(1)
	case http.StatusTooManyRequests:
		h.stats.authThrottled.Add(1)
	}
	var ae *auth.Error
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(ae.RetryAfter), 10))
	} else if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	h.httpError(w, status, msg)
}

func retryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// clientIP is the host part of a RemoteAddr ("1.2.3.4:5678", "[::1]:5678"),
// or the whole of it when it has no port. It does not allocate.
func clientIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// coarseUser lets the engine ask what the authenticated user may do with a
// database: SHOW DATABASES (and SHOW CONTINUOUS QUERIES) list only the
// databases the user may read or write; admins see all. It also tells the
// engine who runs the query (ID, AuthorizeUnrestricted, as InfluxDB's
// meta.User): SHOW QUERIES and KILL QUERY let a non-admin see and kill only
// their own queries. A nil *coarseUser (the admin bootstrap, which has no
// user) is allowed nothing.
type coarseUser auth.User

var _ query.CoarseAuthorizer = (*coarseUser)(nil)

// AuthorizeDatabase implements query.CoarseAuthorizer.
func (u *coarseUser) AuthorizeDatabase(p influxql.Privilege, name string) bool {
	return (*auth.User)(u).Authorize(p, name)
}

// ID is the user's name ("" for a nil *coarseUser).
func (u *coarseUser) ID() string { return (*auth.User)(u).Name() }

// AuthorizeUnrestricted reports whether the user is an admin.
func (u *coarseUser) AuthorizeUnrestricted() bool { return (*auth.User)(u).Admin() }

// Authorizers returns the engine's authorizers for a query that u runs
// outside a request (a continuous query); u nil: authentication was off
// where the query was made, and it runs with every privilege, as the
// node's own (a remote read then says so).
func Authorizers(u *auth.User) (query.FineAuthorizer, query.CoarseAuthorizer) {
	if u == nil {
		return query.OpenAuthorizer, query.OpenCoarseAuthorizer
	}
	return (*metaUser)(u), (*coarseUser)(u)
}

// coarseAuthorizer returns the engine's database-level authorizer for mode.
// The conversion does not allocate.
func coarseAuthorizer(mode authMode, u *auth.User) query.CoarseAuthorizer {
	if mode == authOff {
		return query.OpenCoarseAuthorizer
	}
	return (*coarseUser)(u)
}

// fineAuthorizer is the query's series-level authorizer: open, as every
// series is in InfluxDB 1.x, but carrying the user (with auth on) so that
// a remote read tells the shard's owner who runs the query.
func fineAuthorizer(mode authMode, u *auth.User) query.FineAuthorizer {
	if mode == authOn && u != nil {
		return (*metaUser)(u)
	}
	return query.OpenAuthorizer
}

// metaUser presents an authenticated user to the engine's points writer,
// which wants a meta.User. Series-level authorization is Enterprise-only in
// InfluxDB; here every series is open.
type metaUser auth.User

var _ meta.User = (*metaUser)(nil)

// ID is the user's name.
func (u *metaUser) ID() string { return (*auth.User)(u).Name() }

// AuthorizeUnrestricted reports whether the user is an admin.
func (u *metaUser) AuthorizeUnrestricted() bool { return (*auth.User)(u).Admin() }

// AuthorizeSeriesRead implements query.FineAuthorizer: always true.
func (u *metaUser) AuthorizeSeriesRead(string, []byte, models.Tags) bool { return true }

// AuthorizeSeriesWrite implements query.FineAuthorizer: always true.
func (u *metaUser) AuthorizeSeriesWrite(string, []byte, models.Tags) bool { return true }

// IsOpen implements query.FineAuthorizer: always true.
func (u *metaUser) IsOpen() bool { return true }

// engineUser is u as a meta.User, or a nil interface (not a typed nil) when
// there is no user.
func engineUser(u *auth.User) meta.User {
	if u == nil {
		return nil
	}
	return (*metaUser)(u)
}

// debugAuth decides access to /debug/*: open unless auth is
// enabled and guarded; then the request must authenticate, as an admin
// when admin is set. It answers 401, 403 or 429 itself.
func (h *Handler) debugAuth(w *respWriter, r *http.Request, guarded, admin bool) bool {
	if !guarded || !h.cfg.AuthEnabled {
		return true
	}
	u, mode, ok := h.authenticate(w, r)
	if !ok {
		return false
	}
	if admin && mode != authOn {
		// No admin exists yet: nobody can be one.
		h.httpError(w, http.StatusUnauthorized, fmt.Sprintf("%s needs an admin's credentials: create an admin user first", r.URL.Path))
		return false
	}
	if admin && !u.Admin() {
		h.httpError(w, http.StatusForbidden, fmt.Sprintf("user %q is not an admin: %s needs admin privileges", u.Name(), r.URL.Path))
		return false
	}
	return true
}
