package main

import (
	"slices"
	"testing"
)

// TestEveryCommandHasHelp: the command table and the help (helpTexts)
// name the same commands, so that no command goes without help and no help
// tells of a command that is not there.
func TestEveryCommandHasHelp(t *testing.T) {
	var names []string
	var walk func(prefix string, cmds []command)
	walk = func(prefix string, cmds []command) {
		for _, c := range cmds {
			names = append(names, prefix+c.name)
			walk(prefix+c.name+" ", c.subs)
		}
	}
	walk("", commands)
	for _, n := range names {
		if helpFor(n).summary == "" {
			t.Errorf("command %q has no help", n)
		}
	}
	for _, h := range helpTexts {
		if !slices.Contains(names, h.name) {
			t.Errorf("the help tells of %q, which is no command", h.name)
		}
	}
}
