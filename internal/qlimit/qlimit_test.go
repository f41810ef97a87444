package qlimit

import (
	"errors"
	"strings"
	"testing"
)

// TestParseWithinTheLimit: the parse helpers refuse, before parsing, text
// nested past MaxNesting (which overflowed the parser's stack), and after
// parsing, trees deepened past it by chains of operators; they parse what
// is within it.
func TestParseWithinTheLimit(t *testing.T) {
	parens := func(n int) string { return strings.Repeat("(", n) + "a = 1" + strings.Repeat(")", n) }
	for _, tc := range []struct {
		name string
		expr string
		ok   bool
	}{
		{"at the limit", parens(MaxNesting - 1), true},
		{"past the limit", parens(MaxNesting + 1), false},
		{"3,000,000 parentheses", parens(3_000_000), false},
		{"a chain of 100,000 ORs", strings.Repeat("a = 1 OR ", 100_000) + "a = 2", false},
		{"parentheses in a string do not count", "a = '" + strings.Repeat("(", 5000) + "'", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseExpr(tc.expr)
			if tc.ok != (err == nil) {
				t.Fatalf("ParseExpr: %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, ErrNestingTooDeep) {
				t.Fatalf("ParseExpr: %v, want ErrNestingTooDeep", err)
			}
			_, err = ParseStatement("SELECT v FROM m WHERE " + tc.expr)
			if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrNestingTooDeep)) {
				t.Fatalf("ParseStatement: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
