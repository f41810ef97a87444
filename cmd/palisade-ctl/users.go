package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// maxPasswordLen is the longest password bcrypt can hash.
const maxPasswordLen = 72

func userCreate(fs *flag.FlagSet) action {
	var admin bool
	fs.BoolVar(&admin, "admin", false, "make the user admin (all privileges)")
	return withPassword(fs, "the user's `password` (default: read from stdin)", func(ctx context.Context, x *call, name, password string) error {
		err := changeUser(ctx, x, name, "", &metapb.Command{Op: &metapb.Command_CreateUser{CreateUser: &metapb.CreateUser{
			Name: name, Password: password, Admin: admin,
		}}})
		if err != nil {
			return err
		}
		kind := "user"
		if admin {
			kind = "admin user"
		}
		fmt.Fprintf(x.stdout, "Created %s %s.\n", kind, name)
		return nil
	})
}

func userList(ctx context.Context, x *call) error {
	data, err := x.state(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(x.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "User\tAdmin\tPrivileges")
	for _, u := range data.Users {
		dbs := make([]string, 0, len(u.Privileges))
		for db, p := range u.Privileges {
			if p != metapb.Privilege_PRIVILEGE_NONE { // a revoked grant (SHOW GRANTS: NO PRIVILEGES)
				dbs = append(dbs, db)
			}
		}
		slices.Sort(dbs)
		privs := make([]string, len(dbs))
		for i, db := range dbs {
			privs[i] = db + ":" + privilegeName(u.Privileges[db])
		}
		fmt.Fprintf(w, "%s\t%t\t%s\n", u.Name, u.Admin, orDash(strings.Join(privs, ", ")))
	}
	return w.Flush()
}

func userDrop(ctx context.Context, x *call) error {
	name := x.args[0]
	if err := changeUser(ctx, x, name, "", &metapb.Command{Op: &metapb.Command_DropUser{DropUser: &metapb.DropUser{Name: name}}}); err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "Dropped user %s.\n", name)
	return nil
}

func userPasswd(fs *flag.FlagSet) action {
	return withPassword(fs, "the new `password` (default: read from stdin)", func(ctx context.Context, x *call, name, password string) error {
		err := changeUser(ctx, x, name, "", &metapb.Command{Op: &metapb.Command_SetPassword{SetPassword: &metapb.SetPassword{
			Name: name, Password: password,
		}}})
		if err != nil {
			return err
		}
		fmt.Fprintf(x.stdout, "Changed the password of user %s.\n", name)
		return nil
	})
}

func userGrant(ctx context.Context, x *call) error {
	name, db := x.args[0], x.args[1]
	priv, ok := parsePrivilege(x.args[2])
	if !ok {
		return x.usageErr("invalid privilege %q (want READ, WRITE or ALL)", x.args[2])
	}
	if err := setPrivilege(ctx, x, name, db, priv); err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "Granted %s on %s to user %s.\n", privilegeName(priv), db, name)
	return nil
}

func userRevoke(ctx context.Context, x *call) error {
	name, db := x.args[0], x.args[1]
	if err := setPrivilege(ctx, x, name, db, metapb.Privilege_PRIVILEGE_NONE); err != nil {
		return err
	}
	fmt.Fprintf(x.stdout, "Revoked every privilege on %s from user %s.\n", db, name)
	return nil
}

func setPrivilege(ctx context.Context, x *call, name, db string, priv metapb.Privilege) error {
	return changeUser(ctx, x, name, db, &metapb.Command{Op: &metapb.Command_SetPrivilege{SetPrivilege: &metapb.SetPrivilege{
		Name: name, Database: db, Privilege: priv,
	}}})
}

// changeUser has the meta cluster apply cmd, which changes user name (and
// its privilege on db), and words its refusal for the operator.
func changeUser(ctx context.Context, x *call, name, db string, cmd *metapb.Command) error {
	if err := x.execute(ctx, cmd); err != nil {
		return userError(name, db, err)
	}
	return nil
}

func userAdmin(ctx context.Context, x *call) error {
	name := x.args[0]
	admin, err := strconv.ParseBool(x.args[1])
	if err != nil {
		return x.usageErr("invalid value %q (want true or false)", x.args[1])
	}
	if err := changeUser(ctx, x, name, "", &metapb.Command{Op: &metapb.Command_SetAdmin{SetAdmin: &metapb.SetAdmin{Name: name, Admin: admin}}}); err != nil {
		return err
	}
	if admin {
		fmt.Fprintf(x.stdout, "User %s is now admin.\n", name)
	} else {
		fmt.Fprintf(x.stdout, "User %s is no longer admin.\n", name)
	}
	return nil
}

// userError words the meta errors of user commands for the operator.
func userError(name, db string, err error) error {
	switch {
	case errors.Is(err, meta.ErrUserExists):
		return fmt.Errorf("user %s already exists (with another password or admin flag)", name)
	case errors.Is(err, meta.ErrUserNotFound):
		return fmt.Errorf("user %s not found", name)
	case errors.Is(err, meta.ErrDatabaseNotFound):
		return fmt.Errorf("database %s not found", db)
	case errors.Is(err, meta.ErrUsernameRequired):
		return errors.New("user name required")
	case errors.Is(err, meta.ErrPasswordRequired):
		return errors.New("password required")
	case errors.Is(err, meta.ErrDatabaseNameRequired):
		return errors.New("database name required")
	case errors.Is(err, meta.ErrInvalidPrivilege):
		return errors.New("invalid privilege (want READ, WRITE or ALL)")
	}
	return err
}

func parsePrivilege(s string) (metapb.Privilege, bool) {
	switch strings.ToUpper(s) {
	case "READ":
		return metapb.Privilege_PRIVILEGE_READ, true
	case "WRITE":
		return metapb.Privilege_PRIVILEGE_WRITE, true
	case "ALL", "ALL PRIVILEGES":
		return metapb.Privilege_PRIVILEGE_ALL, true
	}
	return metapb.Privilege_PRIVILEGE_NONE, false
}

func privilegeName(p metapb.Privilege) string {
	switch p {
	case metapb.Privilege_PRIVILEGE_READ:
		return "READ"
	case metapb.Privilege_PRIVILEGE_WRITE:
		return "WRITE"
	case metapb.Privilege_PRIVILEGE_ALL:
		return "ALL"
	}
	return "NONE"
}

func checkPassword(p string) error {
	switch {
	case p == "":
		return errors.New("password required (empty)")
	case len(p) > maxPasswordLen:
		return fmt.Errorf("password longer than %d bytes, which bcrypt cannot hash", maxPasswordLen)
	}
	return nil
}

// readPassword reads a password from the first line of stdin. Without
// golang.org/x/term there is no way to turn echo off portably, so a terminal
// gets a prompt saying that the input is visible.
func (a *app) readPassword(cmd, user string) (string, error) {
	if isTerminal(a.stdin) {
		fmt.Fprintf(a.stderr, "Password for %s (typing is visible; end with Enter): ", user)
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usageErr(cmd, "no password: give -password, or write it as the first line of stdin")
	}
	return line, nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// withPassword registers -password on fs and returns the action of a
// command whose argument names a user: it gets the user's password from
// -password or stdin, checks it, and passes both to do.
func withPassword(fs *flag.FlagSet, usage string, do func(ctx context.Context, x *call, name, password string) error) action {
	var pw passwordFlag
	pw.register(fs, usage)
	return func(ctx context.Context, x *call) error {
		name := x.args[0]
		password, err := pw.get(x, name)
		if err != nil {
			return err
		}
		return do(ctx, x, name, password)
	}
}

// passwordFlag is -password: given on the command line, or else read from
// stdin; either way checked before anything is sent.
type passwordFlag struct {
	value string
	set   bool
}

func (p *passwordFlag) register(fs *flag.FlagSet, usage string) {
	fs.Func("password", usage, func(s string) error {
		p.value, p.set = s, true
		return nil
	})
}

func (p *passwordFlag) get(x *call, user string) (string, error) {
	pw := p.value
	if !p.set {
		var err error
		if pw, err = x.readPassword(x.name, user); err != nil {
			return "", err
		}
	}
	if err := checkPassword(pw); err != nil {
		return "", err
	}
	return pw, nil
}
