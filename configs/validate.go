package configs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A KeyError reports an invalid value for one configuration key. Validate
// returns one per problem, joined with errors.Join; errors.As finds the first.
type KeyError struct {
	Key string // dotted TOML key, e.g. "meta.password-hash-cost"
	Msg string // what is wrong; never contains a secret
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// Problems collects the KeyErrors of a configuration so that Validate
// reports all of them at once. The zero value is ready to use. Each section's
// Validate fills one and returns Err; a node's Validate gathers them with
// Include, in the order of its tables.
type Problems []error

// Add reports that key (dotted: "http.max-body-size") is invalid.
func (p *Problems) Add(key, format string, args ...any) {
	*p = append(*p, &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Include adds the errors of a section's Validate (nil: none). Joined
// errors are added one by one, so that Err joins them all at one level.
func (p *Problems) Include(err error) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		*p = append(*p, j.Unwrap()...)
		return
	}
	*p = append(*p, err)
}

// Err returns the problems joined with errors.Join; nil when there are none.
func (p Problems) Err() error { return errors.Join(p...) }

// badHostChars may not appear in a host name or IP address.
const badHostChars = " \t\r\n/[]@?#%\\"

// Hostname checks a name that is advertised to other nodes as host:port.
func (p *Problems) Hostname(key, h string) {
	switch {
	case h == "":
		p.Add(key, "must not be empty")
	case strings.ContainsAny(h, badHostChars):
		p.Add(key, "%q is not a host name or IP address", h)
	case strings.Contains(h, ":"):
		if _, err := netip.ParseAddr(h); err != nil {
			p.Add(key, "%q is not a host name or IP address (give the host only, without a port)", h)
		}
	}
}

// ListenAddr checks an address to listen on: [host]:port, port numeric.
func (p *Problems) ListenAddr(key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.Add(key, "%q is not [host]:port: %s", addr, addrErrText(err))
		return
	}
	if _, err := parsePort(port); err != nil {
		p.Add(key, "%q: %v", addr, err)
	}
}

// PeerAddrs checks a list of addresses to dial: host:port, no duplicates.
func (p *Problems) PeerAddrs(key string, addrs []string) {
	seen := make(map[string]bool, len(addrs))
	for _, addr := range addrs {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			p.Add(key, "%q is not host:port: %s", addr, addrErrText(err))
			continue
		}
		if host == "" {
			p.Add(key, "%q has no host", addr)
			continue
		}
		if strings.ContainsAny(host, badHostChars) {
			p.Add(key, "%q: %q is not a host name or IP address", addr, host)
			continue
		}
		n, err := parsePort(port)
		if err == nil && n == 0 {
			err = errors.New("port 0 cannot be dialed")
		}
		if err != nil {
			p.Add(key, "%q: %v", addr, err)
			continue
		}
		norm := net.JoinHostPort(strings.ToLower(host), strconv.Itoa(n))
		if seen[norm] {
			p.Add(key, "%q is listed twice", addr)
		}
		seen[norm] = true
	}
}

// DistinctListeners reports an error when a and b would listen on the same
// port of the same (or every) interface.
func (p *Problems) DistinctListeners(keyA, a, keyB, b string) {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return // reported by ListenAddr
	}
	na, errA := parsePort(pa)
	nb, errB := parsePort(pb)
	if errA != nil || errB != nil || na != nb || na == 0 {
		return
	}
	if ha == hb || isWildcard(ha) || isWildcard(hb) {
		p.Add(keyB, "%q uses the same port as %s (%q)", b, keyA, a)
	}
}

// DistinctDirs reports an error when two directories are the same.
func (p *Problems) DistinctDirs(keyA, a, keyB, b string) {
	if a != "" && b != "" && filepath.Clean(a) == filepath.Clean(b) {
		p.Add(keyB, "%q is also %s; give each its own directory", b, keyA)
	}
}

// Dir checks that a directory is set.
func (p *Problems) Dir(key, d string) {
	if strings.TrimSpace(d) == "" {
		p.Add(key, "must not be empty")
	}
}

// AtLeast checks a duration against a lower bound and reports whether it
// passed.
func (p *Problems) AtLeast(key string, d Duration, min time.Duration) bool {
	if time.Duration(d) < min {
		p.Add(key, "%s is too short (minimum %s)", d, Duration(min))
		return false
	}
	return true
}

// NonNegative checks a limit where 0 means unlimited.
func (p *Problems) NonNegative(key string, n int) {
	if n < 0 {
		p.Add(key, "%d must not be negative (0 means unlimited)", n)
	}
}

// NonNegativeDuration checks a duration where 0 means none.
func (p *Problems) NonNegativeDuration(key string, d Duration) {
	if d < 0 {
		p.Add(key, "%s must not be negative", d)
	}
}

// HashCost checks a bcrypt cost.
func (p *Problems) HashCost(key string, cost int) {
	if cost < MinPasswordHashCost || cost > MaxPasswordHashCost {
		p.Add(key, "%d is out of range %d..%d", cost, MinPasswordHashCost, MaxPasswordHashCost)
	}
}

// HTTPS checks the TLS settings of a listener; section is the table's
// prefix ("http.").
func (p *Problems) HTTPS(section string, enabled bool, cert string) {
	if enabled && strings.TrimSpace(cert) == "" {
		p.Add(section+"https-certificate", "must be set when %shttps-enabled is true", section)
	}
}

// Validate checks the [logging] table.
func (l Logging) Validate() error {
	var p Problems
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.Add("logging.level", "%q is not one of debug, info, warn, error", l.Level)
	}
	switch l.Format {
	case "text", "json":
	default:
		p.Add("logging.format", "%q is not one of text, json", l.Format)
	}
	return p.Err()
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("port %q is not a number in 0..65535", s)
	}
	return n, nil
}

func isWildcard(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}

// addrErrText returns the reason of a net.SplitHostPort error without the
// address, which the caller already quotes.
func addrErrText(err error) string {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return ae.Err
	}
	return err.Error()
}

// Advertise joins host with the port of bind; "" when bind has no port.
func Advertise(host, bind string) string {
	_, port, err := net.SplitHostPort(bind)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(host, port)
}
