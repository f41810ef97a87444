package auth

import (
	"fmt"
	"net/http"

	"github.com/influxdata/influxql"
)

// AuthorizeQuery checks every statement of q before any of them runs: one
// statement the user may not execute refuses the whole query with a 403
// *Error. defaultDB is the request's db parameter, used for privileges whose
// statement names no database.
//
// Admins may execute everything. A non-admin may change their own password
// with SET PASSWORD FOR <self> (InfluxDB 1.x required admin, influxdb#7584).
// The statement text in a message is its canonical String(), in which
// passwords read [REDACTED].
func AuthorizeQuery(u *User, q *influxql.Query, defaultDB string) error {
	if u == nil {
		return forbidden(authorizeQueryPrefix + "no user provided")
	}
	if u.admin || q == nil {
		return nil
	}
	for _, stmt := range q.Statements {
		if sp, ok := stmt.(*influxql.SetPasswordUserStatement); ok && sp.Name == u.name {
			continue
		}
		privs, err := stmt.RequiredPrivileges()
		if err != nil {
			return forbidden(authorizeQueryPrefix + err.Error())
		}
		for _, p := range privs {
			if p.Admin {
				return forbidden(fmt.Sprintf("%s%s not authorized to execute statement '%s', requires admin privilege",
					authorizeQueryPrefix, u.name, stmt))
			}
			db := p.Name
			if db == "" {
				db = defaultDB
			}
			if !u.Authorize(p.Privilege, db) {
				return forbidden(fmt.Sprintf("%s%s not authorized to execute statement '%s', requires %s on %s",
					authorizeQueryPrefix, u.name, stmt, p.Privilege, db))
			}
		}
	}
	return nil
}

// AuthorizeWrite checks that u may write points to database db.
func AuthorizeWrite(u *User, db string) error {
	if u.Authorize(influxql.WritePrivilege, db) {
		return nil
	}
	return forbidden(fmt.Sprintf("%q user is not authorized to write to database %q", u.Name(), db))
}

// IsAdminBootstrap reports whether q is the one query allowed while auth is
// enabled and no admin exists: a single
// CREATE USER <name> WITH PASSWORD '<pw>' WITH ALL PRIVILEGES.
// Every other query is then refused with ErrCreateAdminFirst.
func IsAdminBootstrap(q *influxql.Query) bool {
	if q == nil || len(q.Statements) != 1 {
		return false
	}
	cu, ok := q.Statements[0].(*influxql.CreateUserStatement)
	return ok && cu.Admin
}

func forbidden(msg string) error {
	return &Error{Status: http.StatusForbidden, Message: msg}
}
