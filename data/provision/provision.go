package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	imeta "github.com/influxdata/influxdb/services/meta"

	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/auth"
	"github.com/palisade-db/palisade/cluster"
	"github.com/palisade-db/palisade/data/metastate"
	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// Plan is what the official influxdb image creates at first start, from
// INFLUXDB_ADMIN_USER, INFLUXDB_DB, INFLUXDB_USER, INFLUXDB_READ_USER,
// INFLUXDB_WRITE_USER and their passwords. Each thing it asks for (a user,
// the database, a privilege) is done once per cluster and recorded in the
// meta state: a restart with the variables still set simply starts, and
// what an operator dropped or revoked afterwards stays so. A changed
// variable set does what is new in it. Only what is missing is created: an
// existing user keeps its password (a different one is logged, never
// applied).
type Plan struct {
	AdminUser, AdminPassword string
	// Database is created when missing; the users below get their
	// privilege on it.
	Database                     string
	User, UserPassword           string // ALL PRIVILEGES on Database
	ReadUser, ReadUserPassword   string // READ on Database
	WriteUser, WriteUserPassword string // WRITE on Database
}

// FromEnv reads Plan from getenv: each password from
// INFLUXDB_<X>_PASSWORD or from the file INFLUXDB_<X>_PASSWORD_FILE names
// (a Docker or Kubernetes secret; one trailing newline is dropped). Both set,
// an unreadable file, a user without a password or a password without a
// user, and users without INFLUXDB_DB are errors: the node refuses to start
// rather than start without what was asked.
func FromEnv(getenv func(string) string) (Plan, error) {
	var p Plan
	var errs []error
	read := func(user, pw *string, prefix string) {
		*user = getenv(prefix + "_USER")
		v, f := getenv(prefix+"_USER_PASSWORD"), getenv(prefix+"_USER_PASSWORD_FILE")
		if prefix == "INFLUXDB_ADMIN" {
			v, f = getenv(prefix+"_PASSWORD"), getenv(prefix+"_PASSWORD_FILE")
		}
		name := prefix + "_PASSWORD"
		if prefix != "INFLUXDB_ADMIN" {
			name = prefix + "_USER_PASSWORD"
		}
		switch {
		case v != "" && f != "":
			errs = append(errs, fmt.Errorf("%s and %s_FILE are both set: set one", name, name))
			return
		case f != "":
			b, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s_FILE: %w", name, err))
				return
			}
			v = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		}
		*pw = v
		switch {
		case *user != "" && *pw == "":
			errs = append(errs, fmt.Errorf("%s_USER is set but %s is empty", prefix, name))
		case *user == "" && *pw != "":
			errs = append(errs, fmt.Errorf("%s is set but %s_USER is empty", name, prefix))
		}
	}
	read(&p.AdminUser, &p.AdminPassword, "INFLUXDB_ADMIN")
	read(&p.User, &p.UserPassword, "INFLUXDB")
	read(&p.ReadUser, &p.ReadUserPassword, "INFLUXDB_READ")
	read(&p.WriteUser, &p.WriteUserPassword, "INFLUXDB_WRITE")
	p.Database = getenv("INFLUXDB_DB")
	if p.Database == "" && (p.User != "" || p.ReadUser != "" || p.WriteUser != "") {
		errs = append(errs, errors.New("INFLUXDB_USER, INFLUXDB_READ_USER and INFLUXDB_WRITE_USER get privileges on INFLUXDB_DB, which is empty"))
	}
	return p, errors.Join(errs...)
}

// provisionStep is one thing Plan asks for. key names it in the meta
// state once it is done (Data.provisioned), so that it is done once per
// cluster: a user or privilege an operator removes afterwards stays removed
// through every restart with the variables still set.
type provisionStep struct {
	key string
	run func() (done bool, err error)
}

// provisionKey is a step's record: a digest of its names (never of a
// password).
func provisionKey(parts ...string) string {
	h := sha256.New()
	h.Write([]byte("palisade-provision-v1"))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// steps lists what p asks for, in order.
func (r *run) steps(p Plan) []provisionStep {
	var steps []provisionStep
	if p.AdminUser != "" {
		steps = append(steps, provisionStep{provisionKey("admin", p.AdminUser),
			func() (bool, error) { return r.ensureUser(p.AdminUser, p.AdminPassword, true) }})
	}
	if p.Database != "" {
		steps = append(steps, provisionStep{provisionKey("database", p.Database),
			func() (bool, error) { return r.ensureDatabase(p.Database) }})
	}
	for _, u := range []struct {
		name, pw string
		priv     influxql.Privilege
	}{{p.User, p.UserPassword, influxql.AllPrivileges}, {p.ReadUser, p.ReadUserPassword, influxql.ReadPrivilege}, {p.WriteUser, p.WriteUserPassword, influxql.WritePrivilege}} {
		if u.name == "" {
			continue
		}
		steps = append(steps,
			provisionStep{provisionKey("user", u.name), func() (bool, error) { return r.ensureUser(u.name, u.pw, false) }},
			provisionStep{provisionKey("grant", u.name, p.Database, u.priv.String()),
				func() (bool, error) { return r.ensureGrant(u.name, p.Database, u.priv) }})
	}
	return steps
}

// Config is what provisioning works with.
type Config struct {
	View *metastate.View
	// Exec records each step done in the meta state.
	Exec metastate.Executor
	// Meta makes the changes (the engine's meta client): each returns once
	// this node's view has the change.
	Meta Changer
	// AuthEnabled: [http] auth-enabled.
	AuthEnabled bool
	Log         *slog.Logger
}

// Changer makes the changes a Plan asks for.
type Changer interface {
	CreateDatabase(name string) (*imeta.DatabaseInfo, error)
	CreateUser(name, password string, admin bool) (imeta.User, error)
	SetPrivilege(username, database string, p influxql.Privilege) error
}

// run is one provisioning.
type run struct {
	Config
	ctx context.Context
}

// Run does what p asks for and was not done before in this cluster,
// retrying (every second) while the meta state is not there or a change
// fails for a reason that may pass (meta nodes unreachable); a change that
// can never succeed (an invalid name) is logged and given up. Until it has
// finished, the node answers requests that need the meta state 503: with
// auth on and no admin yet, the API would otherwise take an
// unauthenticated CREATE USER … WITH ALL PRIVILEGES before the admin of
// INFLUXDB_ADMIN_USER exists. The other steps are done all the same. Runs
// until done or ctx ends; it returns whether the node may serve: false
// only when the admin step failed for good with auth on.
func Run(ctx context.Context, p Plan, cfg Config) bool {
	r := &run{Config: cfg, ctx: ctx}
	open := true // false once the admin step failed for good with auth on
	for _, step := range r.steps(p) {
		for attempt := 0; ; attempt++ {
			if ctx.Err() != nil {
				return true
			}
			if r.View.Index() == 0 {
				cluster.Sleep(ctx, 100*time.Millisecond) // no state yet
				continue
			}
			if meta.Provisioned(r.View.Data(), step.key) {
				break
			}
			index := r.View.Index()
			done, err := step.run()
			if done {
				r.record(step.key)
				break
			}
			if errors.Is(err, errChanged) {
				// Check the change once the state has it (at most a
				// second later: a follower's view may lag).
				wctx, cancel := context.WithTimeout(ctx, time.Second)
				_ = r.View.WaitForIndex(wctx, index+1)
				cancel()
				attempt = -1
				continue
			}
			if err != nil && permanentProvisionError(err) {
				r.Log.Error("first-start provisioning: giving up on a step that cannot succeed", "err", err)
				if step.key == provisionKey("admin", p.AdminUser) && r.AuthEnabled {
					// Serving now would open the admin bootstrap to anyone.
					r.Log.Error("first-start provisioning: without the admin of INFLUXDB_ADMIN_USER the node keeps " +
						"answering 503; fix the variable and restart")
					open = false
				}
				break
			}
			if err != nil && attempt == 0 {
				r.Log.Warn("first-start provisioning failed; retrying every second", "err", err)
			}
			cluster.Sleep(ctx, time.Second)
		}
	}
	return open
}

// record records in the meta state that the step key was done.
// A cluster below feature level 6 cannot record it: the step is then done
// again (creating only what is missing) at the next start.
func (r *run) record(key string) {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	_, err := r.Exec.Execute(ctx, &metapb.Command{Op: &metapb.Command_RecordProvisioning{
		RecordProvisioning: &metapb.RecordProvisioning{Fingerprint: key}}})
	if err != nil {
		r.Log.Warn("first-start provisioning: recording a step in the meta state failed; it runs again at the next start", "err", err)
	}
}

// errChanged: a step changed the state; it checks it again at once (the
// change is in this node's view when the meta client returns).
var errChanged = errors.New("changed")

func permanentProvisionError(err error) bool {
	return errors.Is(err, meta.ErrInvalidCommand) || errors.Is(err, meta.ErrUsernameRequired) ||
		errors.Is(err, meta.ErrDatabaseNameRequired) || errors.Is(err, meta.ErrPasswordRequired)
}

// ensureDatabase creates db unless the state has it.
func (r *run) ensureDatabase(db string) (bool, error) {
	if meta.FindDatabase(r.View.Data(), db) != nil {
		return true, nil
	}
	if _, err := r.Meta.CreateDatabase(db); err != nil {
		return false, fmt.Errorf("creating database %s from INFLUXDB_DB: %w", db, err)
	}
	r.Log.Info("created database from INFLUXDB_DB", "db", db)
	return false, errChanged
}

// ensureUser creates user name (an admin when admin) unless it exists. An
// existing user's password and admin flag are never changed.
func (r *run) ensureUser(name, pw string, admin bool) (bool, error) {
	u := meta.FindUser(r.View.Data(), name)
	if u == nil {
		_, err := r.Meta.CreateUser(name, pw, admin)
		if err != nil && !errors.Is(err, meta.ErrUserExists) {
			return false, fmt.Errorf("creating user %s: %w", name, err)
		}
		if err == nil {
			r.Log.Info("created user from the environment", "user", name, "admin", admin)
		}
		return false, errChanged
	}
	if !auth.CheckPassword(u.Hash, pw) {
		r.Log.Warn("a user from the environment exists with another password; leaving it unchanged", "user", name)
	}
	if admin && !u.Admin {
		r.Log.Warn("the user from INFLUXDB_ADMIN_USER exists but is not an admin; leaving it unchanged", "user", name)
	}
	return true, nil
}

// ensureGrant gives user name priv on db unless it holds it.
func (r *run) ensureGrant(name, db string, priv influxql.Privilege) (bool, error) {
	d := r.View.Data()
	u := meta.FindUser(d, name)
	if u == nil {
		return true, nil // dropped since it was created: nothing to grant
	}
	if holds(u, db, priv) {
		return true, nil
	}
	if meta.FindDatabase(d, db) == nil {
		if meta.Provisioned(d, provisionKey("database", db)) {
			// Created once, dropped by an operator since: not created
			// again, so nothing to grant on.
			r.Log.Warn("first-start provisioning: INFLUXDB_DB was dropped after it was created; not granting on it",
				"db", db, "user", name)
			return true, nil
		}
		return false, nil // INFLUXDB_DB first
	}
	if err := r.Meta.SetPrivilege(name, db, priv); err != nil {
		return false, fmt.Errorf("granting %s on %s to %s: %w", priv, db, name, err)
	}
	r.Log.Info("granted a privilege from the environment", "user", name, "db", db, "privilege", priv.String())
	return false, errChanged
}

// holds reports whether u has p on db (ALL holds READ and WRITE).
func holds(u *metapb.User, db string, p influxql.Privilege) bool {
	have := metastate.EnginePrivilege(u.GetPrivileges()[db])
	return have == p || have == influxql.AllPrivileges
}
