package configs

import (
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes the Go duration syntax
// ("500ms", "10s", "1h30m") in TOML files and environment variables.
type Duration time.Duration

// String returns the duration in its shortest Go syntax: "1h30m", "10s", "0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	// time.Duration writes "1h30m0s" and "1m0s"; drop the zero tails.
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts what
// time.ParseDuration accepts; an empty text is an error (write "0s").
func (d *Duration) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		return fmt.Errorf(`invalid duration "": write "0s" for none`)
	}
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q", text)
	}
	*d = Duration(v)
	return nil
}
