package auth

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/influxdata/influxql"

	"github.com/palisade-db/palisade/proto/metapb"
)

func mustParse(t *testing.T, s string) *influxql.Query {
	t.Helper()
	q, err := influxql.ParseQuery(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return q
}

func testUser(name string, admin bool, privs map[string]metapb.Privilege) *User {
	return &User{name: name, admin: admin, privileges: privs, verified: &verification{}}
}

var (
	admin  = testUser("root", true, nil)
	reader = testUser("reader", false, map[string]metapb.Privilege{"db1": metapb.Privilege_PRIVILEGE_READ})
	writer = testUser("writer", false, map[string]metapb.Privilege{"db1": metapb.Privilege_PRIVILEGE_WRITE})
	owner  = testUser("owner", false, map[string]metapb.Privilege{"db1": metapb.Privilege_PRIVILEGE_ALL})
	nobody = testUser("nobody", false, nil)
)

func TestUserAuthorize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		u    *User
		p    influxql.Privilege
		db   string
		want bool
	}{
		{admin, influxql.AllPrivileges, "any", true},
		{admin, influxql.WritePrivilege, "", true},
		{reader, influxql.ReadPrivilege, "db1", true},
		{reader, influxql.WritePrivilege, "db1", false},
		{reader, influxql.AllPrivileges, "db1", false},
		{reader, influxql.ReadPrivilege, "db2", false},
		{writer, influxql.ReadPrivilege, "db1", false},
		{writer, influxql.WritePrivilege, "db1", true},
		{owner, influxql.ReadPrivilege, "db1", true},
		{owner, influxql.WritePrivilege, "db1", true},
		{owner, influxql.AllPrivileges, "db1", true},
		{owner, influxql.ReadPrivilege, "db2", false},
		{nobody, influxql.NoPrivileges, "db1", true},
		{nobody, influxql.ReadPrivilege, "db1", false},
		{nil, influxql.NoPrivileges, "db1", false},
		{reader, influxql.Privilege(99), "db1", false},
	}
	for _, tt := range tests {
		if got := tt.u.Authorize(tt.p, tt.db); got != tt.want {
			t.Errorf("%s.Authorize(%v, %q) = %v, want %v", tt.u.Name(), tt.p, tt.db, got, tt.want)
		}
	}
	if got := reader.Privilege("db1"); got != metapb.Privilege_PRIVILEGE_READ {
		t.Errorf("Privilege = %v", got)
	}
	if got := reader.Privilege("db2"); got != metapb.Privilege_PRIVILEGE_NONE {
		t.Errorf("Privilege = %v", got)
	}
}

func TestAuthorizeQuery(t *testing.T) {
	t.Parallel()
	const deny = "error authorizing query: "
	tests := []struct {
		name  string
		user  *User
		query string
		db    string
		msg   string // empty: allowed
	}{
		{name: "admin anything", user: admin, query: "DROP DATABASE db1; CREATE USER x WITH PASSWORD 'y'"},
		{name: "select with read", user: reader, query: "SELECT * FROM cpu", db: "db1"},
		{name: "select with all", user: owner, query: "SELECT * FROM cpu", db: "db1"},
		{name: "select with write only", user: writer, query: "SELECT * FROM cpu", db: "db1",
			msg: deny + "writer not authorized to execute statement 'SELECT * FROM cpu', requires READ on db1"},
		{name: "select other db", user: reader, query: `SELECT * FROM "db2"."autogen".cpu`, db: "db1",
			msg: deny + "reader not authorized to execute statement 'SELECT * FROM db2.autogen.cpu', requires READ on db2"},
		{name: "select without db", user: reader, query: "SELECT * FROM cpu",
			msg: deny + "reader not authorized to execute statement 'SELECT * FROM cpu', requires READ on "},
		{name: "select into needs write", user: reader, query: "SELECT * INTO db1..cpu2 FROM cpu", db: "db1",
			msg: deny + "reader not authorized to execute statement 'SELECT * INTO db1..cpu2 FROM cpu', requires WRITE on db1"},
		{name: "select into with all", user: owner, query: "SELECT * INTO db1..cpu2 FROM cpu", db: "db1"},
		{name: "delete needs write", user: reader, query: "DELETE FROM cpu", db: "db1",
			msg: deny + "reader not authorized to execute statement 'DELETE FROM cpu', requires WRITE on db1"},
		{name: "delete with write", user: writer, query: "DELETE FROM cpu", db: "db1"},
		{name: "drop series with write", user: writer, query: "DROP SERIES FROM cpu", db: "db1"},
		{name: "show databases for anybody", user: nobody, query: "SHOW DATABASES"},
		{name: "show measurements with read", user: reader, query: "SHOW MEASUREMENTS", db: "db1"},
		{name: "create database needs admin", user: owner, query: "CREATE DATABASE db3",
			msg: deny + "owner not authorized to execute statement 'CREATE DATABASE db3', requires admin privilege"},
		{name: "drop database needs admin", user: owner, query: "DROP DATABASE db1",
			msg: deny + "owner not authorized to execute statement 'DROP DATABASE db1', requires admin privilege"},
		{name: "create user redacts password", user: reader, query: "CREATE USER bob WITH PASSWORD 'hunter2'",
			msg: deny + "reader not authorized to execute statement 'CREATE USER bob WITH PASSWORD [REDACTED]', requires admin privilege"},
		{name: "set own password", user: reader, query: "SET PASSWORD FOR reader = 'hunter2'"},
		{name: "set own password without privileges", user: nobody, query: "SET PASSWORD FOR nobody = 'x'"},
		{name: "set other password", user: reader, query: "SET PASSWORD FOR root = 'hunter2'",
			msg: deny + "reader not authorized to execute statement 'SET PASSWORD FOR root = [REDACTED]', requires admin privilege"},
		{name: "whole query is refused", user: reader, query: "SELECT * FROM cpu; DROP MEASUREMENT cpu", db: "db1",
			msg: deny + "reader not authorized to execute statement 'DROP MEASUREMENT cpu', requires admin privilege"},
		{name: "grant needs admin", user: owner, query: "GRANT ALL ON db1 TO reader",
			msg: deny + "owner not authorized to execute statement 'GRANT ALL PRIVILEGES ON db1 TO reader', requires admin privilege"},
		{name: "show users needs admin", user: reader, query: "SHOW USERS",
			msg: deny + "reader not authorized to execute statement 'SHOW USERS', requires admin privilege"},
		{name: "no user", user: nil, query: "SHOW DATABASES", msg: deny + "no user provided"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := AuthorizeQuery(tt.user, mustParse(t, tt.query), tt.db)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			status, msg := HTTPError(err)
			if status != http.StatusForbidden || msg != tt.msg {
				t.Errorf("got %d %q\nwant 403 %q", status, msg, tt.msg)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("message %q contains a password", msg)
			}
		})
	}
}

func TestAuthorizeWrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		user *User
		db   string
		msg  string
	}{
		{admin, "db1", ""},
		{writer, "db1", ""},
		{owner, "db1", ""},
		{reader, "db1", `"reader" user is not authorized to write to database "db1"`},
		{writer, "db2", `"writer" user is not authorized to write to database "db2"`},
		{nobody, "db1", `"nobody" user is not authorized to write to database "db1"`},
	}
	for _, tt := range tests {
		err := AuthorizeWrite(tt.user, tt.db)
		if tt.msg == "" {
			if err != nil {
				t.Errorf("%s to %s: %v", tt.user.Name(), tt.db, err)
			}
			continue
		}
		if status, msg := HTTPError(err); status != http.StatusForbidden || msg != tt.msg {
			t.Errorf("%s to %s: %d %q, want 403 %q", tt.user.Name(), tt.db, status, msg, tt.msg)
		}
	}
}

func TestIsAdminBootstrap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query string
		want  bool
	}{
		{"CREATE USER admin WITH PASSWORD 'pw' WITH ALL PRIVILEGES", true},
		{`create user "my admin" with password 'pw' with all privileges`, true},
		{"CREATE USER admin WITH PASSWORD 'pw'", false},
		{"CREATE USER admin WITH PASSWORD 'pw' WITH ALL PRIVILEGES; SHOW USERS", false},
		{"SHOW USERS; CREATE USER admin WITH PASSWORD 'pw' WITH ALL PRIVILEGES", false},
		{"SHOW DATABASES", false},
		{"GRANT ALL PRIVILEGES TO admin", false},
	}
	for _, tt := range tests {
		if got := IsAdminBootstrap(mustParse(t, tt.query)); got != tt.want {
			t.Errorf("IsAdminBootstrap(%q) = %v, want %v", tt.query, got, tt.want)
		}
	}
	if IsAdminBootstrap(nil) || IsAdminBootstrap(&influxql.Query{}) {
		t.Error("empty query is a bootstrap")
	}
	if status, msg := HTTPError(ErrCreateAdminFirst); status != http.StatusForbidden ||
		msg != "error authorizing query: create admin user first or disable authentication" {
		t.Errorf("ErrCreateAdminFirst = %d %q", status, msg)
	}
}

// TestShowStatementsNeedReadOnTheirDatabase (issue 6, point 3): every SHOW
// form is authorized against the database it really reads, its ON clause or
// else the request's db, plus every database a FROM source names. InfluxDB
// 1.x checked only the FROM sources of the [EXACT] CARDINALITY forms, so
// "SHOW TAG KEY CARDINALITY ON other" needed no privilege at all and, with
// a WHERE regex, leaked measurement names and tag values.
func TestShowStatementsNeedReadOnTheirDatabase(t *testing.T) {
	t.Parallel()
	// Each form is written with %[1]s for its ON clause and %[2]s for a
	// source: FROM, or WITH MEASUREMENT for SHOW MEASUREMENTS.
	forms := []struct{ stmt, source string }{
		{"SHOW MEASUREMENTS%[1]s%[2]s", " WITH MEASUREMENT = %s"},
		{"SHOW MEASUREMENT CARDINALITY%[1]s%[2]s", " FROM %s"},
		{"SHOW MEASUREMENT EXACT CARDINALITY%[1]s%[2]s", " FROM %s"},
		{"SHOW SERIES%[1]s%[2]s", " FROM %s"},
		{"SHOW SERIES CARDINALITY%[1]s%[2]s", " FROM %s"},
		{"SHOW SERIES EXACT CARDINALITY%[1]s%[2]s", " FROM %s"},
		{"SHOW TAG KEYS%[1]s%[2]s", " FROM %s"},
		{"SHOW TAG KEY CARDINALITY%[1]s%[2]s", " FROM %s"},
		{"SHOW TAG KEY EXACT CARDINALITY%[1]s%[2]s", " FROM %s"},
		{"SHOW TAG VALUES%[1]s%[2]s WITH KEY = host", " FROM %s"},
		{"SHOW TAG VALUES CARDINALITY%[1]s%[2]s WITH KEY = host", " FROM %s"},
		{"SHOW TAG VALUES EXACT CARDINALITY%[1]s%[2]s WITH KEY = host WHERE host =~ /^a/", " FROM %s"},
		{"SHOW FIELD KEYS%[1]s%[2]s", " FROM %s"},
		{"SHOW FIELD KEY CARDINALITY%[1]s%[2]s", " FROM %s"},
		{"SHOW FIELD KEY EXACT CARDINALITY%[1]s%[2]s", " FROM %s"},
		{"SHOW RETENTION POLICIES%[1]s", ""},
	}
	type check struct {
		user  *User
		on    string // ON database, "" for none
		from  string // source, "" for none
		db    string // the request's db parameter
		allow bool
		deny  string // the database whose READ is missing
	}
	checks := []check{
		{user: reader, on: "db1", allow: true},
		{user: reader, db: "db1", allow: true},
		{user: reader, on: "db1", db: "db2", allow: true},
		{user: reader, on: "db1", from: "cpu", db: "db2", allow: true},
		{user: reader, on: "db1", from: "db1..cpu", allow: true},
		{user: owner, on: "db1", allow: true},
		{user: admin, on: "db2", allow: true},
		{user: reader, on: "db2", db: "db1", deny: "db2"},
		{user: reader, db: "db2", deny: "db2"},
		{user: reader, deny: ""}, // no database at all
		{user: reader, on: "db1", from: "db2..cpu", deny: "db2"},
		{user: reader, on: "db1", from: `"db2"."autogen".cpu`, deny: "db2"},
		{user: reader, on: "db1", from: "db2../c.*/", deny: "db2"},
		{user: writer, on: "db1", deny: "db1"},
		{user: nobody, on: "db1", deny: "db1"},
	}
	const deny = "error authorizing query: "
	for _, f := range forms {
		for _, c := range checks {
			if c.from != "" && f.source == "" {
				continue
			}
			var on, from string
			if c.on != "" {
				on = " ON " + c.on
			}
			if c.from != "" {
				from = fmt.Sprintf(f.source, c.from)
			}
			text := fmt.Sprintf(f.stmt, on, from)
			q := mustParse(t, text)
			err := AuthorizeQuery(c.user, q, c.db)
			if c.allow {
				if err != nil {
					t.Errorf("%s as %s (db=%q): refused: %v", text, c.user.Name(), c.db, err)
				}
				continue
			}
			want := fmt.Sprintf("%s%s not authorized to execute statement '%s', requires READ on %s",
				deny, c.user.Name(), q.Statements[0], c.deny)
			if status, msg := HTTPError(err); status != http.StatusForbidden || msg != want {
				t.Errorf("%s as %s (db=%q):\n got %d %q\nwant 403 %q", text, c.user.Name(), c.db, status, msg, want)
			}
		}
	}
}

// TestStatementPrivilegesMatchInfluxDB covers the SHOW statements that read
// no single database and the other statements whose checks COMPAT.md fixes:
// what InfluxDB 1.x allows, except where it leaked.
func TestStatementPrivilegesMatchInfluxDB(t *testing.T) {
	t.Parallel()
	const deny = "error authorizing query: reader not authorized to execute statement '"
	admin := func(stmt string) string { return deny + stmt + "', requires admin privilege" }
	tests := []struct {
		query string
		db    string
		msg   string // "" allowed
	}{
		{query: "SHOW DATABASES"},
		{query: "SHOW QUERIES", db: "db1"},
		{query: "SHOW QUERIES", msg: deny + "SHOW QUERIES', requires READ on "},
		{query: "SHOW QUERIES", db: "db2", msg: deny + "SHOW QUERIES', requires READ on db2"},
		{query: "SHOW CONTINUOUS QUERIES", db: "db1"},
		{query: "SHOW CONTINUOUS QUERIES", msg: deny + "SHOW CONTINUOUS QUERIES', requires READ on "},
		// The engine lets a non-admin kill only their own queries.
		{query: "KILL QUERY 12", db: "db2"},
		{query: "KILL QUERY 12 ON localhost"},
		{query: "SHOW MEASUREMENTS ON *.*", db: "db1", msg: admin("SHOW MEASUREMENTS ON *.*")},
		{query: "SHOW MEASUREMENTS ON db1.*", db: "db2"},
		{query: "SHOW USERS", db: "db1", msg: admin("SHOW USERS")},
		{query: "SHOW GRANTS FOR reader", db: "db1", msg: admin("SHOW GRANTS FOR reader")},
		{query: "SHOW SHARDS", db: "db1", msg: admin("SHOW SHARDS")},
		{query: "SHOW SHARD GROUPS", db: "db1", msg: admin("SHOW SHARD GROUPS")},
		{query: "SHOW STATS", db: "db1", msg: admin("SHOW STATS")},
		{query: "SHOW STATS FOR 'shard'", db: "db1", msg: admin("SHOW STATS FOR 'shard'")},
		{query: "SHOW DIAGNOSTICS", db: "db1", msg: admin("SHOW DIAGNOSTICS")},
		{query: "SHOW SUBSCRIPTIONS", db: "db1", msg: admin("SHOW SUBSCRIPTIONS")},
		{query: "SELECT * FROM db1..cpu", db: "db2"},
		{query: "SELECT * FROM (SELECT * FROM db2..cpu)", db: "db1",
			msg: deny + "SELECT * FROM (SELECT * FROM db2..cpu)', requires READ on db2"},
		{query: "EXPLAIN SELECT * FROM db2..cpu", db: "db1",
			msg: deny + "EXPLAIN SELECT * FROM db2..cpu', requires READ on db2"},
	}
	for _, tt := range tests {
		err := AuthorizeQuery(reader, mustParse(t, tt.query), tt.db)
		if tt.msg == "" {
			if err != nil {
				t.Errorf("%s (db=%q): refused: %v", tt.query, tt.db, err)
			}
			continue
		}
		if status, msg := HTTPError(err); status != http.StatusForbidden || msg != tt.msg {
			t.Errorf("%s (db=%q):\n got %d %q\nwant 403 %q", tt.query, tt.db, status, msg, tt.msg)
		}
	}
}

// TestShowSourcesFromHandBuiltStatements: a subquery in a SHOW statement's
// sources (the parser never makes one) is authorized like a statement.
func TestShowSourcesFromHandBuiltStatements(t *testing.T) {
	t.Parallel()
	sub := mustParse(t, "SELECT * FROM db2..cpu").Statements[0].(*influxql.SelectStatement)
	stmt := &influxql.ShowSeriesStatement{Database: "db1", Sources: influxql.Sources{&influxql.SubQuery{Statement: sub}}}
	err := AuthorizeQuery(reader, &influxql.Query{Statements: influxql.Statements{stmt}}, "")
	if status, msg := HTTPError(err); status != http.StatusForbidden ||
		msg != "error authorizing query: reader not authorized to execute statement 'SELECT * FROM db2..cpu', requires READ on db2" {
		t.Errorf("got %d %q", status, msg)
	}
}
