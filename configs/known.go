package configs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file lists the keys that influxd 1.x and InfluxDB Enterprise 1.x data
// and meta nodes know besides Palisade's own, so that an operator's
// influxdb.conf or influxdb-meta.conf loads. Sources: the output of Debian's
// `influxd config` (1.6.7), the configuration structs of the influxdb v1.10
// module Palisade embeds, and the InfluxDB OSS 1.x and Enterprise 1.x
// configuration documentation (up to 1.12).
//
// A key of a Palisade struct is never listed here: it simply takes effect. A
// listed key is one of:
//
//   - alias: the influxd or Enterprise name of a Palisade key (the top-level
//     bind-address of a data node is [cluster] bind-address); it takes effect
//     as that key, and the file may not give the two different values;
//   - unneeded: accepted silently, because Palisade has no use for it
//     (reporting-disabled: Palisade never reports usage data);
//   - unimplemented: accepted and ignored, with one Warning, unless its
//     value is what Palisade does anyway (same) or the service it tunes is
//     switched off (gate).
//
// Any other key is an error.

// effect says what an influxd or Enterprise key does in Palisade.
type effect uint8

const (
	alias effect = iota + 1
	unneeded
	unimplemented
)

// known describes one influxd or Enterprise key. Keys are dotted, as in
// KeyError: "hinted-handoff.max-size"; a key of an array of tables
// ([[graphite]]) is written "graphite.enabled".
type known struct {
	key    string
	effect effect

	// alias: the Palisade key it sets, and, when its syntax differs from
	// that key's, how to read it. parse returns the value to set (ok false:
	// nothing to set) and a note when part of the setting is ignored.
	to    string
	parse func(raw any) (value any, ok bool, note string, err error)

	// unimplemented: same is the value under which Palisade already does
	// what the key asks (nil: none). Its Go type says how values compare:
	// bool, int, string, time.Duration, byteSize, or empty for an empty list
	// or table.
	same any
	// gate is a key that, while off, makes this one irrelevant: the switch
	// of the service it tunes. In an array of tables it is the element's own
	// switch.
	gate *gate
	// def is influxd's default, for keys that are the gate of others.
	def any

	// note says what Palisade does instead (unimplemented) or why the key
	// is not needed (unneeded).
	note string
}

type gate struct {
	key string
	off any // the value that switches it off
}

// byteSize is a number of bytes in a same or def value; influxd writes sizes
// as integers or as strings such as "25m" (see parseSize).
type byteSize int64

// empty is the same value of a list or table: an empty one.
type empty struct{}

// Catalog holds the known keys of one kind of node.
type Catalog struct {
	keys   map[string]*known
	order  []*known        // as declared; environment variables are read in this order
	tables map[string]bool // tables, other than Palisade's own, that hold known keys
}

// arrayTables are written [[name]]: influxd's input services. They have no
// environment variables.
var arrayTables = map[string]bool{"graphite": true, "collectd": true, "opentsdb": true, "udp": true}

// tableKeys are the known keys whose value is a table (of header names);
// any other known key given a table is an error.
var tableKeys = map[string]bool{"http.headers": true}

func newCatalog(groups ...[]known) *Catalog {
	c := &Catalog{keys: map[string]*known{}, tables: map[string]bool{}}
	for _, g := range groups {
		for i := range g {
			k := &g[i]
			if c.keys[k.key] != nil {
				panic("configs: key listed twice: " + k.key)
			}
			c.keys[k.key] = k
			c.order = append(c.order, k)
			if table, _, ok := strings.Cut(k.key, "."); ok {
				c.tables[table] = true
			}
		}
	}
	return c
}

// Constructors, to keep the lists below readable.

func aliasOf(key, to string) known { return known{key: key, effect: alias, to: to} }

func unneededKey(key, why string) known { return known{key: key, effect: unneeded, note: why} }

// unimpl is an unimplemented key; same may be nil.
func unimpl(key string, same any, note string) known {
	return known{key: key, effect: unimplemented, same: same, note: note}
}

// gated is an unimplemented key that matters only while gateKey is not off.
func gated(key, gateKey string, off any) known {
	return known{key: key, effect: unimplemented, gate: &gate{key: gateKey, off: off}}
}

// service lists the keys of a service Palisade does not have: its switch
// (on by default in influxd when on is true), which is the gate of every
// other key of the table, and those keys. Palisade behaves as if the switch
// were off. In an array of tables the gate is each element's own switch.
func service(table, switchKey string, on bool, note string, keys ...string) []known {
	sw := table + "." + switchKey
	out := []known{{key: sw, effect: unimplemented, same: false, def: on, note: note}}
	for _, k := range keys {
		out = append(out, gated(table+"."+k, sw, false))
	}
	return out
}

// Notes shared by both kinds of node.
const (
	noteReporting = "Palisade never reports usage data"
	noteLicense   = "Palisade needs no license"
	noteLogo      = "Palisade prints no logo"
	noteFIPS      = "Palisade hashes passwords with bcrypt and is not FIPS-ready"
)

// Keys both kinds of node share.
var (
	commonTop = []known{
		unneededKey("reporting-disabled", noteReporting),
	}
	commonEnterprise = []known{
		unneededKey("enterprise.license-key", noteLicense),
		unneededKey("enterprise.license-path", noteLicense),
	}
	commonLogging = []known{
		unneededKey("logging.suppress-logo", noteLogo),
	}
	commonTLS = []known{
		unimpl("tls.ciphers", empty{}, "Palisade's TLS defaults apply"),
		unimpl("tls.min-version", "", "Palisade's TLS defaults apply"),
		unimpl("tls.max-version", "", "Palisade's TLS defaults apply"),
		unimpl("tls.advanced-expiration", nil, ""),
	}
)

// DataKnown lists the keys of influxd and Enterprise data node files
// (influxdb.conf) that are not Palisade data node keys.
var DataKnown = newCatalog(
	commonTop,
	[]known{
		// Debian's influxd package writes this instead of reporting-disabled.
		unneededKey("reporting-enabled", noteReporting),
		// influxd: the backup RPC address; Enterprise: the cluster port.
		aliasOf("bind-address", "cluster.bind-address"),
		unimpl("gossip-frequency", nil, ""),
		unimpl("compact-series-file", false, ""),
	},
	commonEnterprise,
	[]known{
		unimpl("meta.retention-autocreate", true, "Palisade always creates the autogen retention policy with a database"),
		unimpl("meta.logging-enabled", true, "Palisade always logs meta events"),
		unimpl("meta.meta-auth-enabled", nil,
			"requests to the meta nodes carry meta-internal-shared-secret whenever it is set"),
		{key: "meta.password-hash", effect: alias, to: "meta.password-hash-cost", parse: parsePasswordHash},
		unimpl("meta.ensure-fips", false, noteFIPS),
	},
	// The storage engine keys: Palisade's engine runs with the influxdb
	// module's defaults (tsdb.NewConfig), which are the same values here.
	[]known{
		unimpl("data.wal-fsync-delay", time.Duration(0), ""),
		unimpl("data.validate-keys", false, ""),
		unimpl("data.skip-field-size-validation", false, ""),
		unimpl("data.strict-error-handling", false, ""),
		unimpl("data.cache-snapshot-write-cold-duration", 10*time.Minute, ""),
		unimpl("data.compact-full-write-cold-duration", 4*time.Hour, ""),
		unimpl("data.compact-throughput", byteSize(48<<20), ""),
		unimpl("data.compact-throughput-burst", byteSize(48<<20), ""),
		unimpl("data.ingress-metric-by-measurement-enabled", false, ""),
		unimpl("data.ingress-metric-by-login-enabled", false, ""),
		unimpl("data.max-series-per-database", 1000000, ""),
		unimpl("data.max-values-per-tag", 100000, ""),
		unimpl("data.max-concurrent-compactions", 0, ""),
		unimpl("data.max-index-log-file-size", byteSize(1<<20), ""),
		unimpl("data.max-concurrent-deletes", 1, ""),
		unimpl("data.series-id-set-cache-size", 100, ""),
		unimpl("data.series-file-max-concurrent-snapshot-compactions", 0, ""),
		unimpl("data.trace-logging-enabled", false, ""),
		unimpl("data.tsm-use-madv-willneed", false, ""),
		unimpl("data.aggressive-points-per-block", nil, ""),
		unimpl("data.query-log-path", "", "the query log goes to the process log"),
		unimpl("data.tar-stream-buffer-size", nil, ""),
	},
	[]known{
		unimpl("coordinator.termination-query-log", false, ""),
	},
	// Enterprise keeps the query limits in [cluster]; Palisade, like
	// influxd, in [coordinator].
	[]known{
		aliasOf("cluster.write-timeout", "coordinator.write-timeout"),
		aliasOf("cluster.max-concurrent-queries", "coordinator.max-concurrent-queries"),
		aliasOf("cluster.query-timeout", "coordinator.query-timeout"),
		aliasOf("cluster.log-queries-after", "coordinator.log-queries-after"),
		aliasOf("cluster.max-select-point", "coordinator.max-select-point"),
		aliasOf("cluster.max-select-series", "coordinator.max-select-series"),
		aliasOf("cluster.max-select-buckets", "coordinator.max-select-buckets"),
		unimpl("cluster.dial-timeout", nil, ""),
		unimpl("cluster.pool-max-idle-time", nil, ""),
		unimpl("cluster.pool-max-idle-streams", nil, ""),
		unimpl("cluster.allow-out-of-order-writes", false, ""),
		unimpl("cluster.shard-reader-timeout", nil, ""),
		unimpl("cluster.rpc-resettable-read-timeout", nil, ""),
		unimpl("cluster.rpc-resettable-write-timeout", nil, ""),
		unimpl("cluster.https-insecure-certificate", false, "Palisade verifies the other data nodes' certificates unless https-insecure-tls is set"),
		unimpl("cluster.cluster-tracing", false, ""),
		unimpl("cluster.max-concurrent-deletes", nil, ""),
		unimpl("cluster.log-timedout-queries", false, ""),
		unimpl("cluster.termination-query-log", false, ""),
	},
	// Palisade replays one write at a time per node and fsyncs each
	// enqueue before acknowledging it: it neither batches nor buffers.
	[]known{
		gated("hinted-handoff.batch-size", "hinted-handoff.enabled", false),
		gated("hinted-handoff.max-writes-pending", "hinted-handoff.enabled", false),
	},
	service("anti-entropy", "enabled", false, "Palisade has no anti-entropy service",
		"check-interval", "max-fetch", "max-sync", "auto-repair-missing"),
	service("monitor", "store-enabled", true, "Palisade does not store its statistics in a database",
		"store-database", "store-interval", "remote-collect-interval"),
	service("subscriber", "enabled", true, "Palisade does not support subscriptions",
		"http-timeout", "insecure-skip-verify", "ca-certs", "write-concurrency", "write-buffer-size",
		"total-buffer-bytes"),
	[]known{
		unimpl("http.enabled", true, "Palisade always serves the HTTP API"),
		{key: "http.flux-enabled", effect: unimplemented, same: false, def: false, note: "Palisade does not run Flux queries"},
		gated("http.flux-log-enabled", "http.flux-enabled", false),
		unimpl("http.realm", "InfluxDB", ""),
		unimpl("http.suppress-write-log", false, ""),
		unimpl("http.write-tracing", false, ""),
		unimpl("http.access-log-path", "", "the access log goes to the process log"),
		unimpl("http.access-log-status-filters", empty{}, ""),
		unimpl("http.debug-pprof-enabled", false, ""),
		unimpl("http.prom-read-auth-enabled", false, "Palisade serves no Prometheus remote read endpoint"),
		unimpl("http.user-query-bytes-enabled", false, ""),
		unimpl("http.headers", empty{}, ""),
		gated("http.https-insecure-certificate", "http.https-enabled", false),
		unimpl("http.max-row-limit", 0, ""),
		unimpl("http.max-connection-limit", 0, ""),
		{key: "http.unix-socket-enabled", effect: unimplemented, same: false, def: false},
		gated("http.unix-socket-group", "http.unix-socket-enabled", false),
		gated("http.unix-socket-permissions", "http.unix-socket-enabled", false),
		gated("http.bind-socket", "http.unix-socket-enabled", false),
		// With max-concurrent-write-limit, Palisade queues writes without
		// bound and without a deadline.
		{key: "http.max-enqueued-write-limit", effect: unimplemented, same: 0,
			gate: &gate{key: "http.max-concurrent-write-limit", off: 0}},
		{key: "http.enqueued-write-timeout", effect: unimplemented, same: time.Duration(0),
			gate: &gate{key: "http.max-concurrent-write-limit", off: 0}},
	},
	commonLogging,
	service("graphite", "enabled", false, "Palisade has no Graphite listener",
		"bind-address", "database", "retention-policy", "protocol", "consistency-level", "batch-size",
		"batch-pending", "batch-timeout", "udp-read-buffer", "separator", "tags", "templates"),
	service("collectd", "enabled", false, "Palisade has no collectd listener",
		"bind-address", "database", "retention-policy", "batch-size", "batch-pending", "batch-timeout",
		"read-buffer", "typesdb", "security-level", "auth-file", "parse-multivalue-plugin"),
	service("opentsdb", "enabled", false, "Palisade has no OpenTSDB listener",
		"bind-address", "database", "retention-policy", "consistency-level", "tls-enabled", "certificate",
		"batch-size", "batch-pending", "batch-timeout", "log-point-errors"),
	service("udp", "enabled", false, "Palisade has no UDP listener",
		"bind-address", "database", "retention-policy", "batch-size", "batch-pending", "batch-timeout",
		"read-buffer", "precision"),
	[]known{
		unimpl("continuous_queries.query-stats-enabled", false, "Palisade has no _internal database to write query statistics to"),
	},
	commonTLS,
	// influxd 1.6 only.
	service("ifql", "enabled", false, "Palisade does not run IFQL queries",
		"log-enabled", "bind-address"),
	// influxd 1.8 and later: limits of the Flux engine, which runs only
	// with [http] flux-enabled.
	[]known{
		gated("flux-controller.query-concurrency", "http.flux-enabled", false),
		gated("flux-controller.query-initial-memory-bytes", "http.flux-enabled", false),
		gated("flux-controller.query-max-memory-bytes", "http.flux-enabled", false),
		gated("flux-controller.total-max-memory-bytes", "http.flux-enabled", false),
		gated("flux-controller.query-queue-size", "http.flux-enabled", false),
	},
)

// metaKnown lists the keys of Enterprise meta node files
// (influxdb-meta.conf) that are not Palisade meta node keys.
var metaKnown = newCatalog(
	commonTop,
	[]known{
		unneededKey("bind-address", "influxd-meta does not use it either"),
	},
	commonEnterprise,
	[]known{
		{key: "meta.password-hash", effect: alias, to: "meta.password-hash-cost", parse: parsePasswordHash},
		gated("meta.https-insecure-certificate", "meta.https-enabled", false),
		unneededKey("meta.data-use-tls", "Palisade meta nodes never connect to data nodes"),
		unneededKey("meta.data-insecure-tls", "Palisade meta nodes never connect to data nodes"),
		unimpl("meta.gossip-frequency", nil, ""),
		unimpl("meta.announcement-expiration", nil, ""),
		unimpl("meta.retention-autocreate", true, "Palisade always creates the autogen retention policy with a database"),
		unimpl("meta.consensus-timeout", nil, ""),
		unimpl("meta.cluster-tracing", false, ""),
		unimpl("meta.logging-enabled", true, "Palisade always logs meta events"),
		unimpl("meta.pprof-enabled", false, "Palisade serves no /debug/pprof endpoints"),
		unimpl("meta.auth-enabled", nil, "the meta service requires internal-shared-secret whenever it is set"),
		unimpl("meta.ldap-allowed", false, ""),
		unimpl("meta.shared-secret", "", "the meta service has no public API that takes JWTs"),
		unimpl("meta.ensure-fips", false, noteFIPS),
		unimpl("meta.raft-portal-auth-required", nil, "Raft connections are authenticated whenever internal-shared-secret is set"),
		unimpl("meta.raft-dialer-auth-required", nil, "Raft connections are authenticated whenever internal-shared-secret is set"),
	},
	commonLogging,
	commonTLS,
)

// parsePasswordHash reads Enterprise's [meta] password-hash: a scheme and
// its options, separated by semicolons ("bcrypt", "bcrypt;cost=12",
// "pbkdf2-sha256;salt_len=32;rounds=64000"). The bcrypt cost becomes
// password-hash-cost; Palisade hashes with bcrypt only, so the pbkdf2 schemes
// are accepted with a note and ignored.
func parsePasswordHash(raw any) (any, bool, string, error) {
	s, ok := raw.(string)
	if !ok {
		return nil, false, "", fmt.Errorf("must be a string such as \"bcrypt;cost=10\"")
	}
	parts := strings.Split(s, ";")
	switch scheme := strings.TrimSpace(parts[0]); scheme {
	case "bcrypt":
	case "pbkdf2-sha256", "pbkdf2-sha512":
		return nil, false, "Palisade hashes passwords with bcrypt only; " + scheme + " is not implemented yet", nil
	default:
		return nil, false, "", fmt.Errorf("unknown password hashing scheme %q (want bcrypt, pbkdf2-sha256 or pbkdf2-sha512)", scheme)
	}
	cost, set := 0, false
	for _, opt := range parts[1:] {
		name, value, _ := strings.Cut(opt, "=")
		name = strings.TrimSpace(name)
		if name == "" && strings.TrimSpace(value) == "" {
			continue // a trailing ";"
		}
		if name != "cost" {
			return nil, false, "", fmt.Errorf("unknown bcrypt option %q (the only one is cost)", name)
		}
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil {
			return nil, false, "", fmt.Errorf("bcrypt cost %q is not an integer", value)
		}
		cost, set = n, true
	}
	return cost, set, "", nil
}

// parseSize reads a byte size as influxd writes it: a number of bytes,
// optionally followed by k, m or g (KiB, MiB, GiB; either case). Like every
// Palisade integer it must fit in 63 bits.
func parseSize(s string) (uint64, error) {
	text := strings.TrimSpace(s)
	mult := uint64(1)
	if n := len(text); n > 0 {
		switch text[n-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult != 1 {
			text = text[:n-1]
		}
	}
	n, err := strconv.ParseUint(text, 10, 63)
	if err == nil && n > (1<<63-1)/mult {
		err = strconv.ErrRange
	}
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("invalid size %q: out of range", s)
		}
		return 0, fmt.Errorf("invalid size %q (want bytes, or a number followed by k, m or g)", s)
	}
	return n * mult, nil
}
