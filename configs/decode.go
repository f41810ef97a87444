package configs

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// A Warning reports a setting, from the file or the environment, that
// Palisade accepted but ignores because it does not implement it yet. A
// load returns at most one Warning per key.
type Warning struct {
	Key  string // dotted key, as in KeyError: "hinted-handoff.max-size"
	Env  string // the environment variable that set it, when one did
	Note string // what Palisade does instead; may be empty
}

// String returns the warning as one sentence for the log:
//
//	[hinted-handoff] max-size is not implemented yet: ignored
func (w Warning) String() string {
	s := displayKey(w.Key)
	if w.Env != "" {
		s += " (" + w.Env + ")"
	}
	s += " is not implemented yet: ignored"
	if w.Note != "" {
		s += "; " + w.Note
	}
	return s
}

// displayKey writes a dotted key as it appears in a file:
// "[http] pprof-enabled", "[[graphite]] enabled", "gossip-frequency".
func displayKey(key string) string {
	table, name, ok := strings.Cut(key, ".")
	switch {
	case !ok:
		return key
	case arrayTables[table]:
		return "[[" + table + "]] " + name
	default:
		return "[" + table + "] " + name
	}
}

// setByUser reports whether the file or a non-empty environment variable
// set the Palisade key.
func (l *loader) setByUser(key string, environ []string) bool {
	if _, ok := l.set[key]; ok {
		return true
	}
	f, ok := l.fields[key]
	return ok && envVars(environ)[f.env] != ""
}

// Normalize maps influxd's log formats to Palisade's: logfmt is what
// Palisade calls text, and auto (influxd's default, logfmt unless stderr is
// a terminal) becomes text too.
func (l *Logging) Normalize() {
	switch l.Format {
	case "logfmt", "auto":
		l.Format = "text"
	}
}

// loader reads one configuration: the file over the defaults, then the
// environment.
type loader struct {
	v      any // a File
	cat    *Catalog
	fields map[string]field // Palisade keys
	tables map[string]bool  // tables that hold Palisade or known keys

	path  string
	md    toml.MetaData
	order map[string]int // dotted key → first position in the file
	end   int            // a position after every key of the file

	set     map[string]string // Palisade key → the key of the file that set it
	aliases []aliasValue
	ignored map[string]ignored // unimplemented keys set outside arrays of tables
	unknown []string
	pending []pendingWarning
}

type aliasValue struct {
	from, to string
	value    reflect.Value
}

// ignored is the value of an unimplemented key: a TOML value, or the text
// of the variable env.
type ignored struct {
	raw any
	env string
	pos int
}

type pendingWarning struct {
	pos int
	w   Warning
}

func newLoader(v any, cat *Catalog) *loader {
	l := &loader{
		v:       v,
		fields:  map[string]field{},
		tables:  map[string]bool{},
		order:   map[string]int{},
		set:     map[string]string{},
		ignored: map[string]ignored{},
	}
	if l.cat = cat; cat == nil {
		l.cat = newCatalog()
	}
	for _, f := range fields(v) {
		l.fields[f.key] = f
		for i := range len(f.key) {
			if f.key[i] == '.' {
				l.tables[f.key[:i]] = true
			}
		}
	}
	for t := range l.cat.tables {
		l.tables[t] = true
	}
	return l
}

// readFile decodes the TOML file at path over the defaults. A key that is
// neither Palisade's nor known from influxd or Enterprise is an error naming
// the key.
func (l *loader) readFile(path string) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("configs: %w", err)
	}
	l.path = path
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(text), &top)
	if err != nil {
		return l.fileError(err)
	}
	l.md = md
	l.end = len(md.Keys())
	for i, k := range md.Keys() {
		if _, ok := l.order[k.String()]; !ok {
			l.order[k.String()] = i
		}
	}
	for _, name := range l.sorted(nil, top) {
		if err := l.walk(toml.Key{name}, top[name]); err != nil {
			return l.fileError(err)
		}
	}
	if len(l.unknown) > 0 {
		return fmt.Errorf("configs: %s: unknown keys %s (misspelled, or in the wrong section or file?)",
			path, strings.Join(l.unknown, ", "))
	}
	return l.applyAliases()
}

func (l *loader) fileError(err error) error {
	return fmt.Errorf("configs: %s: %w", l.path, hideSecretInTOMLError(err))
}

// walk decodes the value p of the key path.
func (l *loader) walk(path toml.Key, p toml.Primitive) error {
	key := path.String()
	if f, ok := l.fields[key]; ok {
		if err := l.decode(key, f.value, p); err != nil {
			return err
		}
		l.set[key] = key
		return nil
	}
	if arrayTables[key] && l.cat.tables[key] {
		return l.walkArray(key, p)
	}
	if l.tables[key] {
		if _, ok := l.raw(p).(map[string]any); !ok {
			return fmt.Errorf("%s must be a table, not %s", key, l.md.Type(path...))
		}
		var m map[string]toml.Primitive
		if err := l.md.PrimitiveDecode(p, &m); err != nil {
			return err
		}
		for _, name := range l.sorted(path, m) {
			if err := l.walk(append(path[:len(path):len(path)], name), m[name]); err != nil {
				return err
			}
		}
		return nil
	}
	if k := l.cat.keys[key]; k != nil {
		if _, isTable := l.raw(p).(map[string]any); isTable && !tableKeys[key] {
			l.addUnknown(path) // its keys are unknown
			return nil
		}
		return l.known(k, p)
	}
	l.addUnknown(path)
	return nil
}

// known handles a key of influxd or Enterprise.
func (l *loader) known(k *known, p toml.Primitive) error {
	switch k.effect {
	case unimplemented:
		l.ignored[k.key] = ignored{raw: l.raw(p), pos: l.order[k.key]}
	case alias:
		target := l.fields[k.to]
		v := reflect.New(target.value.Type()).Elem()
		if k.parse != nil {
			value, ok, note, err := k.parse(l.raw(p))
			if err != nil {
				return fmt.Errorf("%s: %w", k.key, err)
			}
			if note != "" {
				l.pending = append(l.pending, pendingWarning{l.order[k.key], Warning{Key: k.key, Note: note}})
			}
			if !ok {
				return nil
			}
			v.Set(reflect.ValueOf(value).Convert(v.Type()))
		} else if err := l.decode(k.key, v, p); err != nil {
			return err
		}
		l.aliases = append(l.aliases, aliasValue{from: k.key, to: k.to, value: v})
	}
	return nil
}

// decode decodes p, the value of key, into v, a value of a Palisade key
// (key itself, or the key it is an alias of).
func (l *loader) decode(key string, v reflect.Value, p toml.Primitive) error {
	// TOML integers are int64, and the toml package would store a negative
	// one in an unsigned field by wrapping it around, or hand it to Size
	// as text; say what is wrong with it instead.
	raw := l.raw(p)
	if n, ok := raw.(int64); ok && n < 0 && (v.Kind() == reflect.Uint || v.Kind() == reflect.Uint64) {
		return fmt.Errorf("%s: %d is negative", key, n)
	}
	if s, ok := raw.(string); ok && v.Type() == sizeType {
		if err := v.Addr().Interface().(*Size).UnmarshalText([]byte(s)); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	}
	return l.md.PrimitiveDecode(p, v.Addr().Interface())
}

var sizeType = reflect.TypeFor[Size]()

// walkArray checks the elements of an array of tables ([[graphite]]). All
// its keys are unimplemented; each element's switch says whether its other
// keys matter.
func (l *loader) walkArray(table string, p toml.Primitive) error {
	var elems []map[string]any
	switch raw := l.raw(p).(type) {
	case []map[string]any:
		elems = raw
	case []any:
		for _, e := range raw {
			m, ok := e.(map[string]any)
			if !ok {
				return fmt.Errorf("%s must be an array of tables ([[%s]])", table, table)
			}
			elems = append(elems, m)
		}
	default:
		return fmt.Errorf("%s must be an array of tables ([[%s]])", table, table)
	}
	for _, el := range elems {
		for _, name := range l.sorted(toml.Key{table}, el) {
			key := table + "." + name
			k := l.cat.keys[key]
			if _, isTable := el[name].(map[string]any); k == nil || isTable {
				l.addUnknown(toml.Key{table, name})
				continue
			}
			if k.effect != unimplemented {
				continue
			}
			if g := k.gate; g != nil {
				_, gateName, _ := strings.Cut(g.key, ".")
				value, ok := el[gateName]
				if !ok {
					value = l.cat.keys[g.key].def
				}
				if sameValue(value, g.off) {
					continue
				}
			}
			if k.same != nil && sameValue(el[name], k.same) {
				continue
			}
			l.pending = append(l.pending, pendingWarning{l.order[key], Warning{Key: key, Note: k.warningNote()}})
		}
	}
	return nil
}

// raw returns the TOML value of p: a string, int64, float64, bool, datetime,
// []any, []map[string]any or map[string]any.
func (l *loader) raw(p toml.Primitive) any {
	var v any
	_ = l.md.PrimitiveDecode(p, &v) // cannot fail: anything decodes into any
	return v
}

// sortedKeys returns the keys of m, a table at path, in file order.
func sortedKeys[V any](l *loader, path toml.Key, m map[string]V) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	pos := func(name string) int {
		if i, ok := l.order[append(path[:len(path):len(path)], name).String()]; ok {
			return i
		}
		return math.MaxInt
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := pos(a) - pos(b); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return names
}

// sorted returns the keys of m, a table at path, in file order.
func (l *loader) sorted(path toml.Key, m any) []string {
	switch m := m.(type) {
	case map[string]toml.Primitive:
		return sortedKeys(l, path, m)
	case map[string]any:
		return sortedKeys(l, path, m)
	}
	return nil
}

// addUnknown records path, and the keys under it, as unknown.
func (l *loader) addUnknown(path toml.Key) {
	add := func(k string) {
		if !slices.Contains(l.unknown, k) {
			l.unknown = append(l.unknown, k)
		}
	}
	add(path.String())
	for _, k := range l.md.Keys() {
		if len(k) > len(path) && slices.Equal(k[:len(path)], path) {
			add(k.String())
		}
	}
}

// applyAliases sets the Palisade keys that the file set under their influxd
// or Enterprise names. Both names with different values is an error.
func (l *loader) applyAliases() error {
	for _, a := range l.aliases {
		f := l.fields[a.to]
		by, ok := l.set[a.to]
		if !ok {
			f.value.Set(a.value)
			l.set[a.to] = a.from
			continue
		}
		if reflect.DeepEqual(f.value.Interface(), a.value.Interface()) {
			continue
		}
		if f.secret {
			return fmt.Errorf("configs: %s: %s and %s are the same setting and differ; keep one", l.path, by, a.from)
		}
		return fmt.Errorf("configs: %s: %s = %s and %s = %s are the same setting and differ; keep one",
			l.path, by, showValue(f.value.Interface()), a.from, showValue(a.value.Interface()))
	}
	return nil
}

// readEnv applies the INFLUXDB_* variables: those of Palisade keys, then
// those of known influxd and Enterprise keys.
func (l *loader) readEnv(env map[string]string) error {
	if len(env) == 0 {
		return nil
	}
	if err := applyEnv(l.v, env); err != nil {
		return err
	}
	var errs []error
	for i, k := range l.cat.order {
		if arrayTables[tableOf(k.key)] {
			continue
		}
		name := envName(k.key)
		s, ok := env[name]
		if !ok || s == "" {
			continue
		}
		switch k.effect {
		case unimplemented:
			pos := l.end + i
			if prev, ok := l.ignored[k.key]; ok {
				pos = prev.pos
			}
			l.ignored[k.key] = ignored{raw: s, env: name, pos: pos}
		case alias:
			if err := l.aliasEnv(k, name, s, env); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// aliasEnv applies the variable name (value s) of the alias k. Its target's
// own variable, when set too, must agree.
func (l *loader) aliasEnv(k *known, name, s string, env map[string]string) error {
	target := l.fields[k.to]
	v := reflect.New(target.value.Type()).Elem()
	if k.parse != nil {
		value, ok, note, err := k.parse(s)
		if err != nil {
			return envError(name, target.secret, err)
		}
		if note != "" {
			l.pending = append(l.pending, pendingWarning{l.end, Warning{Key: k.key, Env: name, Note: note}})
		}
		if !ok {
			return nil
		}
		v.Set(reflect.ValueOf(value).Convert(v.Type()))
	} else if err := setText(v, s); err != nil {
		return envError(name, target.secret, err)
	}
	if t := env[target.env]; t != "" {
		if !reflect.DeepEqual(target.value.Interface(), v.Interface()) {
			return fmt.Errorf("%s and %s are the same setting and differ; keep one", name, target.env)
		}
		return nil
	}
	target.value.Set(v)
	return nil
}

// tableOf returns the table of a dotted key ("" at the top level).
func tableOf(key string) string {
	table, _, ok := strings.Cut(key, ".")
	if !ok {
		return ""
	}
	return table
}

// envName returns the variable of a dotted key, named as for Palisade keys:
// INFLUXDB_HINTED_HANDOFF_MAX_SIZE.
func envName(key string) string {
	name := EnvPrefix
	for part := range strings.SplitSeq(key, ".") {
		name += "_" + strings.ToUpper(strings.ReplaceAll(part, "-", "_"))
	}
	return name
}
