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

// problems collects KeyErrors so that Validate reports all of them at once.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p problems) err() error { return errors.Join(p...) }

// badHostChars may not appear in a host name or IP address.
const badHostChars = " \t\r\n/[]@?#%\\"

// hostname checks a name that is advertised to other nodes as host:port.
func (p *problems) hostname(key, h string) {
	switch {
	case h == "":
		p.add(key, "must not be empty")
	case strings.ContainsAny(h, badHostChars):
		p.add(key, "%q is not a host name or IP address", h)
	case strings.Contains(h, ":"):
		if _, err := netip.ParseAddr(h); err != nil {
			p.add(key, "%q is not a host name or IP address (give the host only, without a port)", h)
		}
	}
}

// listenAddr checks an address to listen on: [host]:port, port numeric.
func (p *problems) listenAddr(key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(key, "%q is not [host]:port: %s", addr, addrErrText(err))
		return
	}
	if _, err := parsePort(port); err != nil {
		p.add(key, "%q: %v", addr, err)
	}
}

// peerAddrs checks a list of addresses to dial: host:port, no duplicates.
func (p *problems) peerAddrs(key string, addrs []string) {
	seen := make(map[string]bool, len(addrs))
	for _, addr := range addrs {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			p.add(key, "%q is not host:port: %s", addr, addrErrText(err))
			continue
		}
		if host == "" {
			p.add(key, "%q has no host", addr)
			continue
		}
		if strings.ContainsAny(host, badHostChars) {
			p.add(key, "%q: %q is not a host name or IP address", addr, host)
			continue
		}
		n, err := parsePort(port)
		if err == nil && n == 0 {
			err = errors.New("port 0 cannot be dialed")
		}
		if err != nil {
			p.add(key, "%q: %v", addr, err)
			continue
		}
		norm := net.JoinHostPort(strings.ToLower(host), strconv.Itoa(n))
		if seen[norm] {
			p.add(key, "%q is listed twice", addr)
		}
		seen[norm] = true
	}
}

// distinctListeners reports an error when a and b would listen on the same
// port of the same (or every) interface.
func (p *problems) distinctListeners(keyA, a, keyB, b string) {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return // reported by listenAddr
	}
	na, errA := parsePort(pa)
	nb, errB := parsePort(pb)
	if errA != nil || errB != nil || na != nb || na == 0 {
		return
	}
	if ha == hb || isWildcard(ha) || isWildcard(hb) {
		p.add(keyB, "%q uses the same port as %s (%q)", b, keyA, a)
	}
}

// distinctDirs reports an error when two directories are the same.
func (p *problems) distinctDirs(keyA, a, keyB, b string) {
	if a != "" && b != "" && filepath.Clean(a) == filepath.Clean(b) {
		p.add(keyB, "%q is also %s; give each its own directory", b, keyA)
	}
}

func (p *problems) dir(key, d string) {
	if strings.TrimSpace(d) == "" {
		p.add(key, "must not be empty")
	}
}

// atLeast checks a duration against a lower bound and reports whether it
// passed.
func (p *problems) atLeast(key string, d Duration, min time.Duration) bool {
	if time.Duration(d) < min {
		p.add(key, "%s is too short (minimum %s)", d, Duration(min))
		return false
	}
	return true
}

func (p *problems) nonNegative(key string, n int) {
	if n < 0 {
		p.add(key, "%d must not be negative (0 means unlimited)", n)
	}
}

func (p *problems) nonNegativeDuration(key string, d Duration) {
	if d < 0 {
		p.add(key, "%s must not be negative", d)
	}
}

func (p *problems) hashCost(key string, cost int) {
	if cost < MinPasswordHashCost || cost > MaxPasswordHashCost {
		p.add(key, "%d is out of range %d..%d", cost, MinPasswordHashCost, MaxPasswordHashCost)
	}
}

// https checks the TLS settings of a listener.
func (p *problems) https(section string, enabled bool, cert string) {
	if enabled && strings.TrimSpace(cert) == "" {
		p.add(section+"https-certificate", "must be set when %shttps-enabled is true", section)
	}
}

func (p *problems) logging(l Logging) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("logging.level", "%q is not one of debug, info, warn, error", l.Level)
	}
	switch l.Format {
	case "text", "json":
	default:
		p.add("logging.format", "%q is not one of text, json", l.Format)
	}
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

// advertise joins host with the port of bind; "" when bind has no port.
func advertise(host, bind string) string {
	_, port, err := net.SplitHostPort(bind)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(host, port)
}
