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
// Admins may execute everything. For a non-admin:
//   - Every SHOW statement that reads a database (measurements, series, tag
//     keys and values, field keys, retention policies, and every [EXACT]
//     CARDINALITY form) needs READ on the database it really reads: the one
//     of its ON clause, else defaultDB; and READ on every database a FROM
//     source names. InfluxDB 1.x checked only the FROM sources of the
//     cardinality forms, so "SHOW TAG KEY CARDINALITY ON other" (no FROM)
//     needed nothing, and "SHOW SERIES ON mine FROM other..m" read other.
//   - SHOW MEASUREMENTS ON *.* (every database) needs admin.
//   - CREATE CONTINUOUS QUERY needs READ on its ON database and what its
//     SELECT … INTO needs when sent to that database (READ on every
//     source, WRITE on the target).
//   - KILL QUERY needs nothing here: the engine lets a non-admin kill only
//     their own queries.
//   - SET PASSWORD FOR <self> is allowed (InfluxDB 1.x required admin,
//     influxdb#7584).
//   - Any other statement needs what its RequiredPrivileges says, with
//     defaultDB for a privilege that names no database.
//
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
		if err := authorizeStatement(u, stmt, defaultDB); err != nil {
			return err
		}
	}
	return nil
}

// authorizeStatement checks one statement for a non-admin.
func authorizeStatement(u *User, stmt influxql.Statement, defaultDB string) error {
	switch s := stmt.(type) {
	case *influxql.SetPasswordUserStatement:
		if s.Name == u.name {
			return nil
		}
	case *influxql.KillQueryStatement:
		return nil
	case *influxql.ShowMeasurementsStatement:
		if s.WildcardDatabase {
			return requiresAdmin(u, stmt)
		}
	case *influxql.CreateContinuousQueryStatement:
		return authorizeContinuousQuery(u, s)
	}
	if db, sources, ok := showReads(stmt, defaultDB); ok {
		if err := requireRead(u, stmt, db); err != nil {
			return err
		}
		return authorizeSources(u, stmt, sources, defaultDB)
	}

	privs, err := stmt.RequiredPrivileges()
	if err != nil {
		return forbidden(authorizeQueryPrefix + err.Error())
	}
	return requirePrivileges(u, stmt, privs, defaultDB)
}

// requirePrivileges checks that u holds privs, which stmt needs; a
// privilege that names no database is on defaultDB.
func requirePrivileges(u *User, stmt influxql.Statement, privs influxql.ExecutionPrivileges, defaultDB string) error {
	for _, p := range privs {
		if p.Admin {
			return requiresAdmin(u, stmt)
		}
		db := p.Name
		if db == "" {
			db = defaultDB
		}
		if !u.Authorize(p.Privilege, db) {
			return notAuthorized(u, stmt, p.Privilege, db)
		}
	}
	return nil
}

// authorizeContinuousQuery checks CREATE CONTINUOUS QUERY as InfluxDB does
// (READ on its ON database), and its SELECT … INTO exactly as the same
// statement sent by u to the ON database: READ on every source's database,
// WRITE on the target's. InfluxDB 1.x checked only the ON database and a
// qualified target, so READ on one database let a user copy another's data
// into it with a continuous query.
func authorizeContinuousQuery(u *User, s *influxql.CreateContinuousQueryStatement) error {
	if err := requireRead(u, s, s.Database); err != nil {
		return err
	}
	if s.Source == nil {
		return nil
	}
	privs, err := s.Source.RequiredPrivileges()
	if err != nil {
		return forbidden(authorizeQueryPrefix + err.Error())
	}
	return requirePrivileges(u, s, privs, s.Database)
}

// showReads returns the database that a SHOW statement which reads one
// reads (its ON clause, else defaultDB), and the statement's FROM sources.
// ok is false for every other statement.
func showReads(stmt influxql.Statement, defaultDB string) (db string, sources influxql.Sources, ok bool) {
	on := func(db string) string {
		if db == "" {
			return defaultDB
		}
		return db
	}
	switch s := stmt.(type) {
	case *influxql.ShowMeasurementsStatement:
		if s.Source != nil {
			sources = influxql.Sources{s.Source}
		}
		return on(s.Database), sources, true
	case *influxql.ShowMeasurementCardinalityStatement:
		return on(s.Database), s.Sources, true
	case *influxql.ShowSeriesStatement:
		return on(s.Database), s.Sources, true
	case *influxql.ShowSeriesCardinalityStatement:
		return on(s.Database), s.Sources, true
	case *influxql.ShowTagKeysStatement:
		return on(s.Database), s.Sources, true
	case *influxql.ShowTagKeyCardinalityStatement:
		return on(s.Database), s.Sources, true
	case *influxql.ShowTagValuesStatement:
		return on(s.Database), s.Sources, true
	case *influxql.ShowTagValuesCardinalityStatement:
		return on(s.Database), s.Sources, true
	case *influxql.ShowFieldKeysStatement:
		return on(s.Database), s.Sources, true
	case *influxql.ShowFieldKeyCardinalityStatement:
		return on(s.Database), s.Sources, true
	case *influxql.ShowRetentionPoliciesStatement:
		return on(s.Database), nil, true
	}
	return "", nil, false
}

// authorizeSources checks READ on every database a FROM source of stmt
// names. The parser allows only measurements there; a subquery (which a
// hand-built statement could hold) is checked as a statement of its own.
func authorizeSources(u *User, stmt influxql.Statement, sources influxql.Sources, defaultDB string) error {
	for _, src := range sources {
		switch src := src.(type) {
		case *influxql.Measurement:
			if src.Database != "" {
				if err := requireRead(u, stmt, src.Database); err != nil {
					return err
				}
			}
		case *influxql.SubQuery:
			if err := authorizeStatement(u, src.Statement, defaultDB); err != nil {
				return err
			}
		default:
			return forbidden(fmt.Sprintf("%sinvalid source: %s", authorizeQueryPrefix, src))
		}
	}
	return nil
}

func requireRead(u *User, stmt influxql.Statement, db string) error {
	if u.Authorize(influxql.ReadPrivilege, db) {
		return nil
	}
	return notAuthorized(u, stmt, influxql.ReadPrivilege, db)
}

func requiresAdmin(u *User, stmt influxql.Statement) error {
	return forbidden(fmt.Sprintf("%s%s not authorized to execute statement '%s', requires admin privilege",
		authorizeQueryPrefix, u.name, stmt))
}

func notAuthorized(u *User, stmt influxql.Statement, p influxql.Privilege, db string) error {
	return forbidden(fmt.Sprintf("%s%s not authorized to execute statement '%s', requires %s on %s",
		authorizeQueryPrefix, u.name, stmt, p, db))
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
