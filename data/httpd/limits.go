package httpd

import (
	"errors"
	"math"

	"github.com/palisade-db/palisade/internal/qlimit"
)

// Limits on a query's text and shape, checked before and right after
// parsing, so that no query can take the node down (issue 6, point 4).

// defaultMultipartMemory is what r.FormValue gives ParseMultipartForm: the
// part of an unbounded multipart body kept in memory, the rest going to
// temporary files.
const defaultMultipartMemory = 32 << 20

// queryBodyLimit is the largest /query body read for a query of at most
// limit bytes: three times limit (a percent-encoded form value) and 64 KiB
// for the other parameters and the multipart framing.
func queryBodyLimit(limit int64) int64 {
	const slack = 64 << 10
	if limit > (math.MaxInt64-slack)/3 {
		return math.MaxInt64
	}
	return 3*limit + slack
}

// errQueryTooLarge: the query, or the body that carries it, is larger than
// Config.MaxQuerySize allows. It is answered with 413 and msgTooLarge.
var errQueryTooLarge = errors.New("httpd: query larger than max-query-size")

// maxNesting bounds how deeply a query nests (internal/qlimit).
const maxNesting = qlimit.MaxNesting

// msgNestingTooDeep answers (400) a query that nests deeper than maxNesting.
var msgNestingTooDeep = qlimit.ErrNestingTooDeep.Error()
