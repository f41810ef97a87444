package configs

import (
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// EnvPrefix starts the name of every environment variable that overrides a
// configuration key.
const EnvPrefix = "INFLUXDB"

// redactedValue replaces secrets in Redacted copies of a configuration.
const redactedValue = "REDACTED"

// hideSecretInTOMLError drops the message of a TOML error about a secret key:
// the parser may quote the text it could not read, which could be the secret.
func hideSecretInTOMLError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) && isSecretKey(pe.LastKey) {
		return fmt.Errorf("toml: line %d (last key %q): invalid value (not shown: the key holds a secret)",
			pe.Position.Line, pe.LastKey)
	}
	return err
}

// isSecretKey reports whether a TOML key (bare or dotted) names a secret.
func isSecretKey(key string) bool {
	return strings.Contains(strings.ToLower(key), "secret")
}

// WriteTOML writes v (a File or one of its sections) as TOML that Load
// reads back to the same values. Secrets are written as
// they are: print c.Redacted() instead of c when the output may be seen.
func WriteTOML(w io.Writer, v any) error {
	enc := toml.NewEncoder(w)
	enc.Indent = ""
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("configs: writing TOML: %w", err)
	}
	return nil
}

// field is one leaf key of a configuration struct.
type field struct {
	key    string // dotted TOML key, e.g. "http.auth-enabled"
	env    string // environment variable, e.g. "INFLUXDB_HTTP_AUTH_ENABLED"
	secret bool
	value  reflect.Value // settable
}

// fields lists the leaf keys of the struct that v points to, in declaration
// order. Nested structs are TOML tables; Duration and other text types are
// leaves.
func fields(v any) []field {
	var out []field
	walkFields(reflect.ValueOf(v).Elem(), "", EnvPrefix, &out)
	return out
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

func walkFields(rv reflect.Value, keyPrefix, envPrefix string, out *[]field) {
	rt := rv.Type()
	for i := range rt.NumField() {
		sf := rt.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		key := keyPrefix + name
		env := envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		fv := rv.Field(i)
		if sf.Type.Kind() == reflect.Struct && !reflect.PointerTo(sf.Type).Implements(textUnmarshalerType) {
			walkFields(fv, key+".", env, out)
			continue
		}
		*out = append(*out, field{key: key, env: env, secret: isSecretKey(name), value: fv})
	}
}

// envVars returns the INFLUXDB_* entries of environ ("NAME=value" entries,
// as os.Environ returns; a later entry wins).
func envVars(environ []string) map[string]string {
	env := make(map[string]string)
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, EnvPrefix+"_") {
			env[name] = value
		}
	}
	return env
}

// applyEnv sets the fields of the struct that v points to from env (see
// envVars). Empty values count as unset. Every bad value is reported, each
// error naming its variable.
func applyEnv(v any, env map[string]string) error {
	if len(env) == 0 {
		return nil
	}
	var errs []error
	for _, f := range fields(v) {
		s, ok := env[f.env]
		if !ok || s == "" {
			continue
		}
		if err := setText(f.value, s); err != nil {
			errs = append(errs, envError(f.env, f.secret, err))
		}
	}
	return errors.Join(errs...)
}

// envError reports a bad value of the variable name, hiding the reason when
// the variable holds a secret (the reason may quote the value).
func envError(name string, secret bool, err error) error {
	if secret {
		return fmt.Errorf("%s: invalid value (not shown: the variable holds a secret)", name)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// setText parses s into v according to v's type.
func setText(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid boolean %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return numError("integer", s, err)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		// At most 63 bits, like a TOML integer, so that WriteTOML output
		// can be read back.
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, min(v.Type().Bits(), 63))
		if err != nil {
			return numError("non-negative integer", s, err)
		}
		v.SetUint(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported type %s", v.Type())
		}
		list := []string{}
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				list = append(list, part)
			}
		}
		v.Set(reflect.ValueOf(list).Convert(v.Type()))
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

func numError(kind, s string, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("invalid %s %q: out of range", kind, s)
	}
	return fmt.Errorf("invalid %s %q", kind, s)
}

// Redact replaces every non-empty secret in the struct that v points to (a
// File, for a Redacted copy of it).
func Redact(v any) {
	for _, f := range fields(v) {
		if f.secret && f.value.Kind() == reflect.String && f.value.String() != "" {
			f.value.SetString(redactedValue)
		}
	}
}

// DefaultDir returns $HOME/.palisade/<name>, or ./palisade/<name> when there
// is no home directory.
func DefaultDir(name string) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.FromSlash("./palisade/" + name)
	}
	return filepath.Join(home, ".palisade", name)
}

// A File is the configuration of one kind of node: a pointer to a struct
// whose fields are the TOML tables (each a section type that may live beside
// the service it configures), holding its defaults until Load reads over
// them.
type File interface {
	// Known lists the keys of influxd and InfluxDB Enterprise files for this
	// kind of node that are not among the struct's own (see known.go).
	Known() *Catalog
	// Loaded completes the configuration once the file and the environment
	// are read: set reports whether either set a key (dotted, as in
	// KeyError), for defaults that follow other keys.
	Loaded(set func(key string) bool)
}

// Load overrides the defaults in c with the TOML file at path (unless path
// is "") and then with the INFLUXDB_* variables in environ (os.Environ
// form), and returns c with a Warning for each setting Palisade accepts but
// does not implement yet; the node logs each one. It does not call
// Validate, so that flags can be applied in between.
func Load[T File](c T, path string, environ []string) (T, []Warning, error) {
	var zero T
	l := newLoader(c, c.Known())
	if path != "" {
		if err := l.readFile(path); err != nil {
			return zero, nil, err
		}
	}
	if err := l.readEnv(envVars(environ)); err != nil {
		return zero, nil, err
	}
	c.Loaded(func(key string) bool { return l.setByUser(key, environ) })
	return c, l.warnings(), nil
}

// LoadMetaWithWarnings is LoadMeta that also returns a Warning for each
// setting of the file or environment that Palisade accepts but does not
// implement yet (keys of InfluxDB Enterprise meta nodes). Log each one.
func LoadMetaWithWarnings(path string, environ []string) (*Meta, []Warning, error) {
	return Load(NewMeta(), path, environ)
}
