package data

import (
	"fmt"
	"time"

	"github.com/influxdata/influxdb/models"
)

// The data service carries points as line protocol with nanosecond
// timestamps, one point per line. A receiver parses them with the same
// parser as an HTTP /write, so a peer's bytes are validated exactly like a
// client's (the engine's binary point form is not validated when decoded),
// and a replica costs its owner what a standalone write costs.

// encodePoints appends points to buf in the data service's encoding. The
// result owns its bytes: it stays valid after the points' buffer is reused.
func encodePoints(buf []byte, points []models.Point) []byte {
	for _, p := range points {
		buf = p.AppendString(buf)
		buf = append(buf, '\n')
	}
	return buf
}

// decodePoints parses what encodePoints produced. Any line that does not
// parse makes the whole batch invalid: a sender never produces one.
func decodePoints(b []byte) ([]models.Point, error) {
	points, err := models.ParsePointsWithPrecision(b, time.Unix(0, 0), "n")
	if err != nil {
		return nil, fmt.Errorf("data: malformed points from a peer: %w", err)
	}
	return points, nil
}
