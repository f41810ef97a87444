package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"slices"
	"strings"

	"github.com/palisade-db/palisade/proto/metapb"
)

// commands are palisade-ctl's commands; helpTexts tells about them.
var commands = []command{
	{name: "show", run: show},
	{name: "show-shards", run: showShards},
	{name: "add-meta", args: 1, run: addMeta},
	{name: "remove-meta", args: 1, run: removeMeta},
	{name: "remove-data", args: 1, run: removeData},
	{name: "user", subs: []command{
		{name: "create", args: 1, flags: userCreate},
		{name: "list", run: userList},
		{name: "drop", args: 1, run: userDrop},
		{name: "passwd", args: 1, flags: userPasswd},
		{name: "grant", args: 3, run: userGrant},
		{name: "revoke", args: 2, run: userRevoke},
		{name: "admin", args: 2, run: userAdmin},
	}},
	{name: "secret", subs: []command{
		{name: "add", flags: secretAdd},
		{name: "list", run: secretList},
		{name: "remove", args: 1, run: secretRemove},
	}},
	{name: "token", flags: mintToken},
	{name: "help", rawArgs: true, run: help},
}

// command is one of palisade-ctl's commands, or a subcommand of a group:
// what it takes on the command line and what it does. Its flags (its own
// and the global ones, anywhere among its arguments) are parsed and its
// arguments counted before its action runs. The action checks what it can
// on its own, then connects to the meta nodes (call.connect, call.state,
// call.execute).
type command struct {
	name string // in its group: "create" is "user create"
	args int    // how many arguments it takes
	// run is the action of a command without flags of its own.
	run action
	// flags, for a command with flags of its own, registers them on fs and
	// returns the action, which reads their values.
	flags func(fs *flag.FlagSet) action
	// subs are the subcommands of a group ("user").
	subs []command
	// rawArgs: the action takes the arguments unparsed (help's are command
	// names).
	rawArgs bool
}

// action does one command.
type action func(ctx context.Context, x *call) error

// call is one command being done in a run of palisade-ctl.
type call struct {
	*app
	name string   // as the help names it: "user create"
	args []string // as many as the command takes
}

// usageErr is a mistake in the command's arguments.
func (x *call) usageErr(format string, args ...any) error {
	return usageErr(x.name, x.name+": "+format, args...)
}

// state connects and fetches the cluster state from a meta node.
func (x *call) state(ctx context.Context) (*metapb.Data, error) {
	_, _, data, err := x.connectState(ctx)
	return data, err
}

// execute connects and has the meta cluster apply cmd, then waits for the
// data nodes to have it (awaitDataNodes).
func (x *call) execute(ctx context.Context, cmd *metapb.Command) error {
	ctx, c, err := x.connect(ctx)
	if err != nil {
		return err
	}
	resp, err := c.Execute(ctx, cmd)
	if err != nil {
		return err
	}
	x.awaitDataNodes(ctx, c, resp.Index)
	return nil
}

// findCommand returns the command called name among cmds.
func findCommand(cmds []command, name string) (command, bool) {
	i := slices.IndexFunc(cmds, func(c command) bool { return c.name == name })
	if i < 0 {
		return command{}, false
	}
	return cmds[i], true
}

// do does cmd, called name ("user create"), with the arguments that follow
// its name.
func (a *app) do(ctx context.Context, name string, cmd command, args []string) error {
	switch {
	case cmd.subs != nil:
		return a.doGroup(ctx, name, cmd.subs, args)
	case cmd.rawArgs:
		return cmd.run(ctx, &call{app: a, name: name, args: args})
	}
	fs := newFlagSet(name)
	run := cmd.run
	if cmd.flags != nil {
		run = cmd.flags(fs)
	}
	pos, err := a.parse(fs, args, cmd.args)
	if err != nil {
		return err
	}
	return run(ctx, &call{app: a, name: name, args: pos})
}

// doGroup does the subcommand of group name that args start with; global
// flags may come before it.
func (a *app) doGroup(ctx context.Context, name string, subs []command, args []string) error {
	if len(args) == 0 {
		return usageErr(name, "%s: missing subcommand (usage: palisade-ctl %s %s)", name, name, helpFor(name).args)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printCommandHelp(a.stdout, name)
		return errHelpShown
	}
	sub, ok := findCommand(subs, args[0])
	if !ok {
		if strings.HasPrefix(args[0], "-") {
			// Global flags may come before the subcommand.
			fs := newFlagSet(name)
			a.globals.register(fs)
			if err := fs.Parse(args); err != nil {
				return usageErr(name, "%s: %v", name, err)
			}
			if fs.NArg() < len(args) {
				return a.doGroup(ctx, name, subs, fs.Args())
			}
		}
		return usageErr(name, "%s: unknown subcommand %q (usage: palisade-ctl %s %s)", name, args[0], name, helpFor(name).args)
	}
	return a.do(ctx, name+" "+sub.name, sub, args[1:])
}

// newFlagSet returns a flag set for command name that prints nothing: the
// errors it returns are reported as usage errors.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses the flags of fs's command (its own, set on fs, and the
// global ones), which may come before, between or after its arguments,
// and checks that it has n arguments.
func (a *app) parse(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	cmd := fs.Name()
	a.globals.register(fs)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printCommandHelp(a.stdout, cmd)
				return nil, errHelpShown
			}
			return nil, usageErr(cmd, "%s: %v", cmd, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	switch {
	case len(pos) < n:
		return nil, usageErr(cmd, "%s: missing argument (usage: palisade-ctl %s %s)", cmd, cmd, helpFor(cmd).args)
	case len(pos) > n:
		return nil, usageErr(cmd, "%s: unexpected argument %q", cmd, pos[n])
	}
	return pos, nil
}
