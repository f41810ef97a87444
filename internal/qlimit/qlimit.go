// Package qlimit bounds how deeply an InfluxQL text or tree nests, so that
// no query, wherever it comes from (the HTTP API, a peer's RPC, a continuous
// query in the meta state), can overflow a stack. The InfluxQL parser
// recurses once per parenthesis, and a stack overflow is a fatal error that
// no recover catches: one query with 1,000,000 of them killed a node. Every
// later walk of a tree (String, rewriting, evaluation) recurses as deep as
// the tree, and String copies the text of each level: a 1 MiB "a+a+a+..."
// would take minutes.
//
// Check the text before parsing it (NestsDeeperThan) and the tree right
// after (QueryDeeperThan, ExprDeeperThan), or use ParseStatement and
// ParseExpr, which do both.
package qlimit

import (
	"errors"
	"math"
	"math/bits"

	"github.com/influxdata/influxql"
)

// MaxNesting bounds how deeply a query nests: its parentheses (grouping,
// function calls, subqueries), counted before parsing, and its parsed
// expression trees, which chains of operators deepen too, after.
const MaxNesting = 1000

// ErrNestingTooDeep is what a query deeper than MaxNesting gets; its text is
// InfluxDB-style, as the HTTP API answers it (400).
var ErrNestingTooDeep = errors.New("error parsing query: nesting too deep")

// ParseStatement parses one statement within MaxNesting.
func ParseStatement(text string) (influxql.Statement, error) {
	return parseWithin(text, influxql.ParseStatement, func(s influxql.Statement) bool { return nodeDeeperThan(s, MaxNesting) })
}

// ParseExpr parses one expression within MaxNesting.
func ParseExpr(text string) (influxql.Expr, error) {
	return parseWithin(text, influxql.ParseExpr, func(e influxql.Expr) bool { return ExprDeeperThan(e, MaxNesting) })
}

// parseWithin parses text with parse unless its parentheses nest deeper
// than MaxNesting, and refuses a tree deeper than that (long operator
// chains, which nest without parentheses).
func parseWithin[T any](text string, parse func(string) (T, error), tooDeep func(T) bool) (T, error) {
	var zero T
	if NestsDeeperThan(text, MaxNesting) {
		return zero, ErrNestingTooDeep
	}
	v, err := parse(text)
	if err != nil {
		return zero, err
	}
	if tooDeep(v) {
		return zero, ErrNestingTooDeep
	}
	return v, nil
}

// lexState is where InfluxQL's scanner may be at a byte of a query's text.
type lexState uint8

const (
	lexCode             lexState = iota // between tokens
	lexCodeSlash                        // after a '/': a '*' opens a comment
	lexCodeDash                         // after a '-': a '-' opens a comment
	lexString                           // in '...'
	lexStringEscape                     // in '...' after a backslash
	lexIdent                            // in "..."
	lexIdentEscape                      // in "..." after a backslash
	lexRegex                            // in /.../
	lexRegexEscape                      // in /.../ after a backslash
	lexLineComment                      // after "--", up to a newline
	lexBlockComment                     // in /* ... */
	lexBlockCommentStar                 // in /* ... */ after a '*'
	lexStates
)

// lexSpecial marks the bytes that may change the state of code.
var lexSpecial = [256]bool{'(': true, ')': true, '\'': true, '"': true, '-': true, '/': true}

// NestsDeeperThan reports whether text holds more than limit nested
// parentheses outside strings, quoted identifiers, regular expressions and
// comments, as InfluxQL's scanner reads them. Whether a '/' opens a regular
// expression depends on where the parser is, which a scan cannot know, so
// the scan follows every reading at once: each '/' in code both divides and
// opens a regex, and the depth kept for a state is the largest of the
// readings that reach it. The parser's own reading is always among them, so
// the result is never lower than the depth the parser reaches; a reading
// that meets what the scanner refuses (a newline in a string, a bad escape,
// an unterminated comment) ends there, as the parse would. It does not
// allocate.
func NestsDeeperThan(text string, limit int) bool {
	lim := int32(min(limit, math.MaxInt32-1))
	var cur, next [lexStates]int32 // depth per state; valid where the mask has its bit
	var live uint32 = 1 << lexCode
	for i := 0; i < len(text); i++ {
		if live == 1<<lexCode {
			for i < len(text) && !lexSpecial[text[i]] {
				i++
			}
			if i == len(text) {
				break
			}
		}
		c := text[i]
		var nextLive uint32
		for m := live; m != 0; m &= m - 1 {
			s := lexState(bits.TrailingZeros32(m))
			if lexStep(&next, &nextLive, s, c, cur[s]) > lim {
				return true
			}
		}
		if nextLive == 0 {
			return false // every reading fails to scan: the parse stops here
		}
		cur, live = next, nextLive
	}
	return false
}

// lexStep moves one reading from state s at depth d over byte c into next,
// and returns the depth it reached.
func lexStep(next *[lexStates]int32, live *uint32, s lexState, c byte, d int32) int32 {
	newline := c == '\n' || c == '\r' // the scanner reads "\r" as "\n"
	switch s {
	case lexCodeSlash:
		if c == '*' {
			lexTo(next, live, lexBlockComment, d)
			return d
		}
		return lexCodeStep(next, live, c, d)
	case lexCodeDash:
		if c == '-' {
			lexTo(next, live, lexLineComment, d)
			return d
		}
		return lexCodeStep(next, live, c, d)
	case lexCode:
		return lexCodeStep(next, live, c, d)
	case lexString, lexIdent:
		quote := byte('\'')
		if s == lexIdent {
			quote = '"'
		}
		switch {
		case c == quote:
			lexTo(next, live, lexCode, d)
		case c == '\\':
			lexTo(next, live, s+1, d) // the escape state follows its string state
		case newline || c == 0: // the scanner takes a NUL for the end
		default:
			lexTo(next, live, s, d)
		}
	case lexStringEscape, lexIdentEscape:
		switch c {
		case 'n', '\\', '"', '\'':
			lexTo(next, live, s-1, d)
		}
	case lexRegex, lexRegexEscape:
		switch {
		case c == '/' && s == lexRegex:
			lexTo(next, live, lexCode, d)
		case c == '\\':
			lexTo(next, live, lexRegexEscape, d)
		case newline || c == 0:
		default:
			lexTo(next, live, lexRegex, d)
		}
	case lexLineComment:
		if newline || c == 0 {
			lexTo(next, live, lexCode, d)
		} else {
			lexTo(next, live, lexLineComment, d)
		}
	case lexBlockComment, lexBlockCommentStar:
		switch {
		case c == '/' && s == lexBlockCommentStar:
			lexTo(next, live, lexCode, d)
		case c == '*':
			lexTo(next, live, lexBlockCommentStar, d)
		case c == 0:
		default:
			lexTo(next, live, lexBlockComment, d)
		}
	}
	return d
}

// lexCodeStep moves a reading in code over c.
func lexCodeStep(next *[lexStates]int32, live *uint32, c byte, d int32) int32 {
	switch c {
	case '(':
		d++
		lexTo(next, live, lexCode, d)
	case ')':
		lexTo(next, live, lexCode, max(d-1, 0))
	case '\'':
		lexTo(next, live, lexString, d)
	case '"':
		lexTo(next, live, lexIdent, d)
	case '-':
		lexTo(next, live, lexCodeDash, d)
	case '/':
		lexTo(next, live, lexCodeSlash, d)
		lexTo(next, live, lexRegex, d)
	default:
		lexTo(next, live, lexCode, d)
	}
	return d
}

// lexTo records that a reading reaches state s at depth d; of several, the
// deepest counts.
func lexTo(next *[lexStates]int32, live *uint32, s lexState, d int32) {
	if *live&(1<<s) == 0 || d > next[s] {
		next[s] = d
		*live |= 1 << s
	}
}

// QueryDeeperThan reports whether q nests deeper than limit, counting a level
// for each operator, parenthesis and call an expression is in and each
// subquery a statement is in, so that a query within the parenthesis limit
// passes unless it chains operators.
// Chains of operators ("a + a + ...", "x OR y OR ...") cost the parser no
// recursion, so NestsDeeperThan cannot see them, but the tree they make is
// as deep as they are long. The walk keeps its own stack and does not
// recurse.
func QueryDeeperThan(q *influxql.Query, limit int) bool {
	return nodeDeeperThan(q, limit)
}

// ExprDeeperThan is QueryDeeperThan for one expression.
func ExprDeeperThan(e influxql.Expr, limit int) bool {
	return e != nil && nodeDeeperThan(e, limit)
}

func nodeDeeperThan(root influxql.Node, limit int) bool {
	type item struct {
		node  influxql.Node
		depth int
	}
	stack := make([]item, 0, 32)
	push := func(n influxql.Node, depth int) {
		if n != nil {
			stack = append(stack, item{n, depth})
		}
	}
	pushExpr := func(e influxql.Expr, depth int) {
		if e != nil {
			stack = append(stack, item{e, depth})
		}
	}
	// pushCondition pushes a cardinality statement's WHERE and GROUP BY.
	pushCondition := func(cond influxql.Expr, dims influxql.Dimensions, depth int) {
		pushExpr(cond, depth)
		for _, dim := range dims {
			pushExpr(dim.Expr, depth)
		}
	}
	pushSources := func(srcs influxql.Sources, depth int) {
		for _, src := range srcs {
			if sq, ok := src.(*influxql.SubQuery); ok && sq.Statement != nil {
				push(sq.Statement, depth+1)
			}
		}
	}
	if q, ok := root.(*influxql.Query); ok {
		for _, stmt := range q.Statements {
			push(stmt, 0)
		}
	} else {
		push(root, 0)
	}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.depth > limit {
			return true
		}
		d := it.depth + 1
		switch n := it.node.(type) {
		case *influxql.BinaryExpr:
			pushExpr(n.LHS, d)
			pushExpr(n.RHS, d)
		case *influxql.ParenExpr:
			pushExpr(n.Expr, d)
		case *influxql.Call:
			for _, arg := range n.Args {
				pushExpr(arg, d)
			}
		case *influxql.SelectStatement:
			for _, f := range n.Fields {
				pushExpr(f.Expr, it.depth)
			}
			for _, dim := range n.Dimensions {
				pushExpr(dim.Expr, it.depth)
			}
			pushExpr(n.Condition, it.depth)
			pushSources(n.Sources, it.depth)
		case *influxql.ExplainStatement:
			if n.Statement != nil {
				push(n.Statement, it.depth)
			}
		case *influxql.CreateContinuousQueryStatement:
			if n.Source != nil {
				push(n.Source, it.depth)
			}
		case *influxql.DeleteSeriesStatement:
			pushExpr(n.Condition, it.depth)
		case *influxql.DropSeriesStatement:
			pushExpr(n.Condition, it.depth)
		case *influxql.DeleteStatement:
			pushExpr(n.Condition, it.depth)
		case *influxql.ShowMeasurementsStatement:
			pushExpr(n.Condition, it.depth)
		case *influxql.ShowSeriesStatement:
			pushExpr(n.Condition, it.depth)
		case *influxql.ShowTagKeysStatement:
			pushExpr(n.Condition, it.depth)
			pushExpr(n.TagKeyExpr, it.depth)
		case *influxql.ShowTagValuesStatement:
			pushExpr(n.Condition, it.depth)
		case *influxql.ShowMeasurementCardinalityStatement:
			pushCondition(n.Condition, n.Dimensions, it.depth)
		case *influxql.ShowSeriesCardinalityStatement:
			pushCondition(n.Condition, n.Dimensions, it.depth)
		case *influxql.ShowTagKeyCardinalityStatement:
			pushCondition(n.Condition, n.Dimensions, it.depth)
		case *influxql.ShowTagValuesCardinalityStatement:
			pushCondition(n.Condition, n.Dimensions, it.depth)
		case *influxql.ShowFieldKeyCardinalityStatement:
			pushCondition(n.Condition, n.Dimensions, it.depth)
		}
	}
	return false
}
