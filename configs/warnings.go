package configs

// Warnings for accepted keys that Palisade does not implement: which to
// report, and how their values are shown.

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// warnings returns one Warning per ignored key whose value matters, in file
// order, then those set only by the environment.
func (l *loader) warnings() []Warning {
	pending := slices.Clone(l.pending)
	for key, s := range l.ignored {
		k := l.cat.keys[key]
		if k.gate != nil && l.gateOff(k.gate) {
			continue
		}
		if k.same != nil && sameValue(s.raw, k.same) {
			continue
		}
		pending = append(pending, pendingWarning{s.pos, Warning{Key: key, Env: s.env, Note: k.warningNote()}})
	}
	slices.SortStableFunc(pending, func(a, b pendingWarning) int {
		if a.pos != b.pos {
			return a.pos - b.pos
		}
		return strings.Compare(a.w.Key, b.w.Key)
	})
	var out []Warning
	seen := map[string]bool{}
	for _, p := range pending {
		if !seen[p.w.Key] {
			seen[p.w.Key] = true
			out = append(out, p.w)
		}
	}
	return out
}

// gateOff reports whether the switch g is off: a Palisade key's final value,
// or the value the file or environment gave an unimplemented key, or
// influxd's default.
func (l *loader) gateOff(g *gate) bool {
	if f, ok := l.fields[g.key]; ok {
		return sameValue(f.value.Interface(), g.off)
	}
	if s, ok := l.ignored[g.key]; ok {
		return sameValue(s.raw, g.off)
	}
	if k := l.cat.keys[g.key]; k != nil && k.def != nil {
		return sameValue(k.def, g.off)
	}
	return false
}

// warningNote is the note of k's Warning: its own, or the value Palisade
// uses.
func (k *known) warningNote() string {
	if k.note != "" {
		return k.note
	}
	switch k.same.(type) {
	case nil, empty:
		return ""
	}
	return "Palisade uses " + showValue(k.same)
}

// sameValue reports whether raw (a TOML value, the text of a variable, or a
// Palisade field's value) means want, whose type says how to compare.
func sameValue(raw, want any) bool {
	switch w := want.(type) {
	case bool:
		b, ok := raw.(bool)
		if s, isText := raw.(string); isText {
			var err error
			b, err = strconv.ParseBool(strings.TrimSpace(s))
			ok = err == nil
		}
		return ok && b == w
	case int:
		n, ok := toInt(raw)
		return ok && n == int64(w)
	case string:
		s, ok := raw.(string)
		return ok && s == w
	case time.Duration:
		switch r := raw.(type) {
		case string:
			d, err := time.ParseDuration(strings.TrimSpace(r))
			return err == nil && d == w
		case int64:
			return r == 0 && w == 0 // influxd reads only a bare 0 as a duration
		}
		return false
	case byteSize:
		switch r := raw.(type) {
		case string:
			n, err := parseSize(r)
			return err == nil && n == uint64(w)
		case int64:
			return r == int64(w)
		}
		return false
	case empty:
		switch r := raw.(type) {
		case []any:
			return len(r) == 0
		case []map[string]any:
			return len(r) == 0
		case map[string]any:
			return len(r) == 0
		case string:
			return strings.TrimSpace(r) == ""
		}
		return false
	}
	return false
}

func toInt(raw any) (int64, bool) {
	switch r := raw.(type) {
	case int64:
		return r, true
	case int:
		return int64(r), true
	case uint64:
		return int64(r), r <= math.MaxInt64
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(r), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// showValue formats a setting's value for a message.
func showValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case time.Duration:
		return Duration(v).String()
	case byteSize:
		return formatSize(uint64(v))
	case []string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}

// formatSize writes n bytes in influxd's size syntax.
func formatSize(n uint64) string {
	for _, u := range []struct {
		suffix string
		bytes  uint64
	}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
		if n >= u.bytes && n%u.bytes == 0 {
			return strconv.FormatUint(n/u.bytes, 10) + u.suffix
		}
	}
	return strconv.FormatUint(n, 10)
}
