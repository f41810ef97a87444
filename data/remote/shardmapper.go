package remote

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	influxcoord "github.com/influxdata/influxdb/coordinator"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxdb/services/meta"
	"github.com/influxdata/influxdb/tsdb"
	"github.com/influxdata/influxql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-db/palisade/data/peer"
	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/datapb"
)

// ShardMapper maps a query's sources to the shards of every data
// node (query.ShardMapper): each shard is read from one of its owners,
// locally when this node is a good one, else over the data service. The
// iterators of all owners are merged exactly as the engine merges those of
// several local shards, so aggregates are computed on the owners and
// combined here.
type ShardMapper struct {
	c     *peer.Cluster
	meta  ShardGroups
	store *tsdb.Store
	// pending tells which owners still lack points of a shard (nil: none).
	pending Pending
	// readLatency is palisade_remote_read_open_seconds: from asking a node
	// for its shards to its first frame.
	readLatency *prometheus.HistogramVec
}

// Pending tells whether this node holds hinted-handoff records of shard
// for node, which then lacks some of its points (coordinator.Hints).
type Pending interface {
	PendingShard(node, shard uint64) bool
}

// ShardGroups finds a policy's shard groups (the engine's meta client).
type ShardGroups interface {
	ShardGroupsByTimeRange(database, policy string, min, max time.Time) ([]meta.ShardGroupInfo, error)
}

// NewShardMapper returns the shard mapper of the cluster c: groups come
// from meta, this node's shards from store; pending (nil: none) tells
// which owners still lack points of a shard.
func NewShardMapper(c *peer.Cluster, meta ShardGroups, store *tsdb.Store, pending Pending) *ShardMapper {
	return &ShardMapper{c: c, meta: meta, store: store, pending: pending,
		readLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "palisade_remote_read_open_seconds",
			Help:    "Time from asking another data node for its shards to its first answer, by node and outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"node", "outcome"})}
}

// Collector is the mapper's histogram for /metrics (it names no database).
func (m *ShardMapper) Collector() prometheus.Collector { return m.readLatency }

// shardRead is one shard of a query and the owners that may serve it, best
// first.
type shardRead struct {
	id     uint64
	owners []uint64
}

// MapShards implements query.ShardMapper.
func (m *ShardMapper) MapShards(sources influxql.Sources, t influxql.TimeRange, opt query.SelectOptions) (query.ShardGroup, error) {
	g := &clusterMapping{
		m:      m,
		self:   m.c.Self(),
		index:  m.c.View.Index(),
		shards: map[influxcoord.Source][]shardRead{},
		failed: map[uint64]error{},
		fields: map[string]fieldDims{},
		reader: readerOf(opt.Authorizer),
	}
	if opt.NodeID != 0 && m.c.Peers.Addr(opt.NodeID) == "" {
		return nil, fmt.Errorf("node_id %d is not a data node of this cluster", opt.NodeID)
	}
	g.tmin, g.tmax = time.Unix(0, t.MinTimeNano()), time.Unix(0, t.MaxTimeNano())
	load := map[uint64]int64{}
	if err := m.mapSources(g, sources, opt.NodeID, load); err != nil {
		return nil, err
	}
	return g, nil
}

func (m *ShardMapper) mapSources(g *clusterMapping, sources influxql.Sources, pin uint64, load map[uint64]int64) error {
	for _, s := range sources {
		switch s := s.(type) {
		case *influxql.Measurement:
			src := influxcoord.Source{Database: s.Database, RetentionPolicy: s.RetentionPolicy}
			if _, ok := g.shards[src]; ok {
				continue
			}
			groups, err := m.meta.ShardGroupsByTimeRange(s.Database, s.RetentionPolicy, g.tmin, g.tmax)
			if err != nil {
				return err
			}
			reads := []shardRead{}
			for _, sg := range groups {
				for _, sh := range sg.Shards {
					r, ok, err := m.route(sh.ID, pin, g.self, load)
					if err != nil {
						return err
					}
					if ok {
						reads = append(reads, r)
					}
				}
			}
			g.shards[src] = reads
		case *influxql.SubQuery:
			if err := m.mapSources(g, s.Statement.Sources, pin, load); err != nil {
				return err
			}
		}
	}
	return nil
}

// route ranks the owners of shard id that serve reads: this node first,
// then owners that are reachable, then the others; an owner for which this
// node still queues points (hinted handoff) comes last, as it lacks some.
// Among equals the least loaded comes first: open remote reads plus the
// shards this query already gave it. With pin (node_id), only a shard that
// node owns is read, and only from it. ok is false when the shard is
// skipped: it left the state, or pin does not own it.
func (m *ShardMapper) route(id, pin, self uint64, load map[uint64]int64) (shardRead, bool, error) {
	loc, ok := m.c.Shards.Lookup(id)
	if !ok || !loc.Live() {
		return shardRead{}, false, nil
	}
	owners := pmeta.ReadOwners(loc.Shard)
	if len(owners) == 0 {
		return shardRead{}, false, fmt.Errorf("shard %d has no data node that serves reads", id)
	}
	if pin != 0 {
		if !slices.Contains(owners, pin) {
			return shardRead{}, false, nil
		}
		return shardRead{id: id, owners: []uint64{pin}}, true, nil
	}
	class := func(node uint64) int {
		switch {
		case m.pending != nil && m.pending.PendingShard(node, id):
			return 3
		case node == self:
			return 0
		case m.c.Peers.Reachable(node) && !m.c.View.Stale(node):
			return 1
		}
		return 2 // unreachable, or marked stale: it may first have to catch up
	}
	cost := func(node uint64) int64 {
		if node == self {
			return 0
		}
		return m.c.Peers.Load(node).Load() + load[node]
	}
	ranked := slices.Clone(owners)
	slices.SortStableFunc(ranked, func(a, b uint64) int {
		return cmp.Or(cmp.Compare(class(a), class(b)), cmp.Compare(cost(a), cost(b)))
	})
	load[ranked[0]]++
	return shardRead{id: id, owners: ranked}, true, nil
}

// clusterMapping is one statement's shards (query.ShardGroup).
type clusterMapping struct {
	m          *ShardMapper
	self       uint64
	index      uint64
	reader     reader
	tmin, tmax time.Time
	shards     map[influxcoord.Source][]shardRead

	mu sync.Mutex
	// failed holds the nodes that failed this statement, with their error:
	// their shards are read from the next owner.
	failed map[uint64]error
	// fields caches FieldDimensions by source.
	fields map[string]fieldDims
	// mapErr is the first error MapType met (it cannot return one).
	mapErr error
}

type fieldDims struct {
	fields map[string]influxql.DataType
	dims   map[string]struct{}
}

var _ query.ShardGroup = (*clusterMapping)(nil)

// eachOwner calls fn once per data node with the shards of reads it
// serves, this node's own included (node == g.self). The shards of a node
// whose call fails in a way another owner may not (peer.TryNextOwner) go to
// their next owner; a shard that runs out of owners fails the statement.
func (g *clusterMapping) eachOwner(reads []shardRead, fn func(node uint64, ids []uint64) error) error {
	for len(reads) > 0 {
		byNode, err := g.assign(reads)
		if err != nil {
			return err
		}
		reads = reads[:0:0]
		for _, node := range slices.Sorted(maps.Keys(byNode)) {
			rs := byNode[node]
			ids := make([]uint64, len(rs))
			for i, r := range rs {
				ids[i] = r.id
			}
			err := fn(node, ids)
			if err == nil {
				continue
			}
			if node == g.self || !peer.TryNextOwner(err) {
				return err
			}
			g.mu.Lock()
			g.failed[node] = err
			g.mu.Unlock()
			reads = append(reads, rs...)
		}
	}
	return nil
}

// assign gives each shard to its best owner that has not failed.
func (g *clusterMapping) assign(reads []shardRead) (map[uint64][]shardRead, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	byNode := map[uint64][]shardRead{}
	for _, r := range reads {
		i := slices.IndexFunc(r.owners, func(n uint64) bool { return g.failed[n] == nil })
		if i < 0 {
			return nil, g.noOwner(r)
		}
		byNode[r.owners[i]] = append(byNode[r.owners[i]], r)
	}
	return byNode, nil
}

func (g *clusterMapping) noOwner(r shardRead) error {
	var tried []string
	for _, n := range r.owners {
		tried = append(tried, fmt.Sprintf("data node %d (%v)", n, g.failed[n]))
	}
	return fmt.Errorf("shard %d cannot be read: no owner answered: %s", r.id, strings.Join(tried, "; "))
}

// local is the engine's mapping of this node's shards ids of m's source.
func (g *clusterMapping) local(m *influxql.Measurement, ids []uint64) *influxcoord.LocalShardMapping {
	src := influxcoord.Source{Database: m.Database, RetentionPolicy: m.RetentionPolicy}
	return &influxcoord.LocalShardMapping{
		ShardMap: map[influxcoord.Source]tsdb.ShardGroup{src: g.m.store.ShardGroup(ids)},
		MinTime:  g.tmin, MaxTime: g.tmax,
	}
}

func (g *clusterMapping) reads(m *influxql.Measurement) []shardRead {
	return g.shards[influxcoord.Source{Database: m.Database, RetentionPolicy: m.RetentionPolicy}]
}

// clamp keeps opt within the statement's time range, as the engine's local
// mapping does.
func (g *clusterMapping) clamp(opt query.IteratorOptions) query.IteratorOptions {
	if !g.tmin.IsZero() && opt.StartTime < g.tmin.UnixNano() {
		opt.StartTime = g.tmin.UnixNano()
	}
	if !g.tmax.IsZero() && opt.EndTime > g.tmax.UnixNano() {
		opt.EndTime = g.tmax.UnixNano()
	}
	return opt
}

// CreateIterator implements query.IteratorCreator: one iterator per owner
// (a stream per remote node), merged.
func (g *clusterMapping) CreateIterator(ctx context.Context, m *influxql.Measurement, opt query.IteratorOptions) (query.Iterator, error) {
	g.mu.Lock()
	err := g.mapErr
	g.mu.Unlock()
	if err != nil {
		return nil, err
	}
	reads := g.reads(m)
	if len(reads) == 0 {
		return nil, nil
	}
	opt = g.clamp(opt)
	var itrs []query.Iterator
	err = g.eachOwner(reads, func(node uint64, ids []uint64) error {
		var itr query.Iterator
		var err error
		if node == g.self {
			itr, err = g.local(m, ids).CreateIterator(ctx, m, opt)
		} else {
			itr, err = g.m.remoteIterator(ctx, node, ids, m, opt, g.reader, g.index)
		}
		if itr != nil {
			itrs = append(itrs, itr)
		}
		return err
	})
	if err != nil {
		query.Iterators(itrs).Close()
		return nil, err
	}
	switch len(itrs) {
	case 0:
		return nil, nil
	case 1:
		return itrs[0], nil
	}
	return query.Iterators(itrs).Merge(opt)
}

// IteratorCost implements query.IteratorCreator.
func (g *clusterMapping) IteratorCost(m *influxql.Measurement, opt query.IteratorOptions) (query.IteratorCost, error) {
	var total query.IteratorCost
	opt = g.clamp(opt)
	b, _, err := EncodeReadOptions(opt)
	if err != nil {
		return total, err
	}
	err = g.eachOwner(g.reads(m), func(node uint64, ids []uint64) error {
		if node == g.self {
			c, err := g.local(m, ids).IteratorCost(m, opt)
			total = total.Combine(c)
			return err
		}
		resp, err := g.meta(node, ids, m, nil, b)
		if err != nil {
			return err
		}
		total = total.Combine(query.IteratorCost{
			NumShards: resp.CostNumShards, NumSeries: resp.CostNumSeries, CachedValues: resp.CostCachedValues,
			NumFiles: resp.CostNumFiles, BlocksRead: resp.CostBlocksRead, BlockSize: resp.CostBlockSize,
		})
		return nil
	})
	return total, err
}

func (g *clusterMapping) meta(node uint64, ids []uint64, m *influxql.Measurement, fields []string, cost []byte) (*datapb.ShardMetaResponse, error) {
	return g.m.c.Peers.ShardMeta(context.Background(), node, &datapb.ShardMetaRequest{
		ShardIds: ids, Source: sourceToPB(m), Fields: fields, CostOptions: cost, User: g.reader.user, System: g.reader.system, MetaIndex: g.index,
	})
}

// FieldDimensions implements influxql.FieldMapper: the union over every
// owner, a field's type being the highest any shard has (as the engine
// does across local shards).
func (g *clusterMapping) FieldDimensions(m *influxql.Measurement) (map[string]influxql.DataType, map[string]struct{}, error) {
	key := m.String()
	g.mu.Lock()
	fd, ok := g.fields[key]
	g.mu.Unlock()
	if ok {
		return maps.Clone(fd.fields), maps.Clone(fd.dims), nil
	}
	fd = fieldDims{fields: map[string]influxql.DataType{}, dims: map[string]struct{}{}}
	add := func(f map[string]influxql.DataType, d map[string]struct{}) {
		for k, t := range f {
			if fd.fields[k].LessThan(t) {
				fd.fields[k] = t
			}
		}
		maps.Copy(fd.dims, d)
	}
	err := g.eachOwner(g.reads(m), func(node uint64, ids []uint64) error {
		if node == g.self {
			f, d, err := g.local(m, ids).FieldDimensions(m)
			add(f, d)
			return err
		}
		resp, err := g.meta(node, ids, m, nil, nil)
		if err != nil {
			return err
		}
		f := make(map[string]influxql.DataType, len(resp.Fields))
		for k, t := range resp.Fields {
			f[k] = influxql.DataType(t)
		}
		d := make(map[string]struct{}, len(resp.Dimensions))
		for _, k := range resp.Dimensions {
			d[k] = struct{}{}
		}
		add(f, d)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	g.mu.Lock()
	g.fields[key] = fd
	g.mu.Unlock()
	return maps.Clone(fd.fields), maps.Clone(fd.dims), nil
}

// MapType implements influxql.FieldMapper: the highest type any owner
// has. A field FieldDimensions already found needs no call to the owners
// (a field's type wins over a tag of the same name, as in the engine);
// system fields and sources always ask.
func (g *clusterMapping) MapType(m *influxql.Measurement, field string) influxql.DataType {
	if m.SystemIterator == "" && !strings.HasPrefix(field, "_") {
		g.mu.Lock()
		fd, ok := g.fields[m.String()]
		g.mu.Unlock()
		if t, found := fd.fields[field]; ok && found {
			return t
		}
	}
	var typ influxql.DataType
	// The interface has no error: a shard none of whose owners answered
	// fails the statement's next CreateIterator instead.
	err := g.eachOwner(g.reads(m), func(node uint64, ids []uint64) error {
		var t influxql.DataType
		if node == g.self {
			t = g.local(m, ids).MapType(m, field)
		} else {
			resp, err := g.meta(node, ids, m, []string{field}, nil)
			if err != nil {
				return err
			}
			t = influxql.DataType(resp.FieldTypes[field])
		}
		if typ.LessThan(t) {
			typ = t
		}
		return nil
	})
	if err != nil {
		g.mu.Lock()
		g.mapErr = cmp.Or(g.mapErr, err)
		g.mu.Unlock()
	}
	return typ
}

// Close implements io.Closer: the iterators own their streams.
func (g *clusterMapping) Close() error { return nil }
