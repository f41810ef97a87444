package remote

import (
	"context"
	"slices"

	influxcoord "github.com/influxdata/influxdb/coordinator"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxql"
	"google.golang.org/grpc/status"

	"github.com/palisade-db/palisade/data/peer"
	"github.com/palisade-db/palisade/proto/datapb"
)

// The owner's side of remote reads: the data service checks a request
// (the sender's meta index, the user, the shards) and hands the engine's
// mapping of the shards here, which reads them exactly as a query on this
// node would.

// Serve streams the iterator of m over the shards of sg, made with the
// encoded options (and fillInt, see EncodeReadOptions), to send: a begin
// frame, the points, an end frame.
func Serve(ctx context.Context, sg *influxcoord.LocalShardMapping, m *influxql.Measurement, options []byte, fillInt *int64, send func(*datapb.ReadFrame) error) error {
	opt, err := decodeReadOptions(options, fillInt)
	if err != nil {
		return peer.Errorf(peer.ErrInvalid, "%v", err)
	}
	opt.InterruptCh = ctx.Done()
	opt.Authorizer = query.OpenAuthorizer // checked above, per database
	end := func(err error, stats query.IteratorStats) error {
		e := &datapb.ReadEnd{SeriesN: int64(stats.SeriesN), PointsN: int64(stats.PointN)}
		if err != nil {
			e.Error = err.Error()
		}
		return send(&datapb.ReadFrame{Frame: &datapb.ReadFrame_End{End: e}})
	}
	begin := func(typ influxql.DataType) error {
		return send(&datapb.ReadFrame{Frame: &datapb.ReadFrame_Begin{Begin: &datapb.ReadBegin{DataType: int32(typ)}}})
	}

	itr, err := sg.CreateIterator(ctx, m, opt)
	if err != nil {
		// The engine refused the query (a type conflict, too many series):
		// the same answer on every owner, so the sender does not retry.
		if serr := begin(influxql.Unknown); serr != nil {
			return serr
		}
		return end(err, query.IteratorStats{})
	}
	if itr == nil {
		if err := begin(influxql.Unknown); err != nil {
			return err
		}
		return end(nil, query.IteratorStats{})
	}
	defer itr.Close()
	if err := begin(iteratorType(itr)); err != nil {
		return err
	}
	err = encodeIterator(&frameWriter{send: send}, itr)
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	return end(err, itr.Stats())
}

// Facts answers a ShardMeta request about m over the shards of sg: fields
// and dimensions, the types of req's fields, and the iterator cost.
func Facts(sg *influxcoord.LocalShardMapping, m *influxql.Measurement, req *datapb.ShardMetaRequest) (*datapb.ShardMetaResponse, error) {
	resp := &datapb.ShardMetaResponse{Fields: map[string]int32{}}
	fields, dims, err := sg.FieldDimensions(m)
	if err != nil {
		return nil, peer.Errorf(peer.ErrInternal, "%v", err)
	}
	for k, t := range fields {
		resp.Fields[k] = int32(t)
	}
	for k := range dims {
		resp.Dimensions = append(resp.Dimensions, k)
	}
	slices.Sort(resp.Dimensions)
	if len(req.Fields) > 0 {
		resp.FieldTypes = make(map[string]int32, len(req.Fields))
		for _, f := range req.Fields {
			resp.FieldTypes[f] = int32(sg.MapType(m, f))
		}
	}
	if len(req.CostOptions) > 0 {
		opt, err := decodeReadOptions(req.CostOptions, nil)
		if err != nil {
			return nil, peer.Errorf(peer.ErrInvalid, "%v", err)
		}
		c, err := sg.IteratorCost(m, opt)
		if err != nil {
			return nil, peer.Errorf(peer.ErrInternal, "%v", err)
		}
		resp.CostNumShards, resp.CostNumSeries, resp.CostCachedValues = c.NumShards, c.NumSeries, c.CachedValues
		resp.CostNumFiles, resp.CostBlocksRead, resp.CostBlockSize = c.NumFiles, c.BlocksRead, c.BlockSize
	}
	return resp, nil
}
