package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/influxdata/influxdb/coordinator"
	"github.com/influxdata/influxdb/models"
	"github.com/influxdata/influxdb/monitor"
	"github.com/influxdata/influxdb/query"
	"github.com/influxdata/influxdb/services/meta"
	"github.com/influxdata/influxdb/tsdb"
	_ "github.com/influxdata/influxdb/tsdb/engine" // registers tsm1
	_ "github.com/influxdata/influxdb/tsdb/index"  // registers inmem and tsi1
	"github.com/influxdata/influxql"
	"go.uber.org/zap"

	itoml "github.com/influxdata/influxdb/toml"

	"github.com/palisade-db/palisade/data/metastate"
)

// Options are what the node gives the engine besides its tables.
type Options struct {
	// Logger is the engine's zap logger; nil discards.
	Logger *zap.Logger
	// Log receives Palisade's own messages about the engine (local
	// cleanup); nil: slog's default.
	Log *slog.Logger
	// Shards is the meta state's shards (local cleanup keeps what it
	// has).
	Shards *metastate.Shards
}

// Engine is the InfluxDB storage and query engine, wired to our meta view.
type Engine struct {
	Store *tsdb.Store
	// ShardWriter takes every write to a local shard (idle.go).
	ShardWriter   *ShardWriter
	PointsWriter  *coordinator.PointsWriter
	QueryExecutor *query.Executor
	meta          *MetaClient
	logger        *zap.Logger
	log           *slog.Logger
	shards        *metastate.Shards

	statements *coordinator.StatementExecutor
	// writer takes /write and SELECT INTO's points: PointsWriter until
	// useWriter replaces it.
	writer PointsWriter
}

// PointsWriter writes points for the HTTP API and SELECT INTO.
type PointsWriter interface {
	WritePoints(db, rp string, consistency models.ConsistencyLevel, user meta.User, points []models.Point) error
	WritePointsInto(req *coordinator.IntoWriteRequest) error
}

// UseWriter makes w take every write (call before serving).
func (e *Engine) UseWriter(w PointsWriter) {
	e.writer = w
	e.statements.PointsWriter = w
}

// UseShardMapper makes m map every query's shards (call before serving).
func (e *Engine) UseShardMapper(m query.ShardMapper) { e.statements.ShardMapper = m }

// UseTSDBStore makes s answer the statements the engine answers from its
// store (SHOW MEASUREMENTS, SHOW TAG KEYS, DELETE, …) (call before
// serving).
func (e *Engine) UseTSDBStore(s coordinator.TSDBStore) { e.statements.TSDBStore = s }

// UseMonitor makes m answer SHOW STATS and SHOW DIAGNOSTICS (call before
// serving).
func (e *Engine) UseMonitor(m *monitor.Monitor) { e.statements.Monitor = m }

// UseVisibility makes every meta change the engine makes wait, through
// visible, until the other data nodes have applied it (call before
// serving; see MetaClient.UseVisibility).
func (e *Engine) UseVisibility(visible func(ctx context.Context, index uint64)) {
	e.meta.UseVisibility(visible)
}

// UseSync makes queries that find no shard group in their range look again
// on the meta leader's state (call before serving; see
// MetaClient.UseSync).
func (e *Engine) UseSync(sync func(ctx context.Context) error) { e.meta.UseSync(sync) }

// Meta is the engine's meta client.
func (e *Engine) Meta() *MetaClient { return e.meta }

// noSubscriber drops what coordinator.PointsWriter would send to subscriptions.
type noSubscriber struct{}

func (noSubscriber) Send(*coordinator.WritePointsRequest) {}

// Open opens the TSDB store under cfg.Dir ([data]) and wires the points
// writer and query executor ([coordinator]) to mc.
func Open(cfg Config, coord CoordinatorConfig, opts Options, mc *MetaClient) (*Engine, error) {
	logger := opts.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	for _, d := range []string{cfg.Dir, cfg.WALDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("data: creating %s: %w", d, err)
		}
	}
	tc := tsdb.NewConfig()
	tc.Dir = cfg.Dir
	tc.WALDir = cfg.WALDir
	tc.Index = cfg.IndexVersion
	if tc.Index == "" {
		tc.Index = "tsi1"
	}
	tc.QueryLogEnabled = cfg.QueryLogEnabled
	if cfg.CacheMaxMemorySize > 0 {
		tc.CacheMaxMemorySize = toSize(uint64(cfg.CacheMaxMemorySize))
	}
	if cfg.CacheSnapshotMemorySize > 0 {
		tc.CacheSnapshotMemorySize = toSize(uint64(cfg.CacheSnapshotMemorySize))
	}
	if err := tc.Validate(); err != nil {
		return nil, fmt.Errorf("data: engine config: %w", err)
	}

	store := tsdb.NewStore(cfg.Dir)
	store.EngineOptions.Config = tc
	store.EngineOptions.EngineVersion = tc.Engine
	store.EngineOptions.IndexVersion = tc.Index
	store.WithLogger(logger)
	// Idle shards are released by the ShardWriter instead (idle.go): the
	// store's own monitor loses writes that race a release.
	store.EngineOptions.MonitorDisabled = true
	if err := store.Open(); err != nil {
		return nil, fmt.Errorf("data: opening storage engine in %s: %w", cfg.Dir, err)
	}

	pw := coordinator.NewPointsWriter()
	pw.WriteTimeout = time.Duration(coord.WriteTimeout)
	if pw.WriteTimeout <= 0 {
		pw.WriteTimeout = 10 * time.Second
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	sw := newShardWriter(store, log)
	pw.TSDBStore = sw
	pw.MetaClient = mc
	pw.Subscriber = noSubscriber{}
	pw.WithLogger(logger)
	if err := pw.Open(); err != nil {
		store.Close()
		return nil, fmt.Errorf("data: opening points writer: %w", err)
	}

	qe := query.NewExecutor()
	qe.WithLogger(logger)
	se := &coordinator.StatementExecutor{
		MetaClient:  mc,
		TaskManager: qe.TaskManager,
		TSDBStore:   coordinator.LocalTSDBStore{Store: store},
		ShardMapper: &coordinator.LocalShardMapper{
			MetaClient: mc,
			TSDBStore:  coordinator.LocalTSDBStore{Store: store},
		},
		Monitor:           monitor.New(nil, monitor.NewConfig()),
		PointsWriter:      pw,
		MaxSelectPointN:   coord.MaxSelectPointN,
		MaxSelectSeriesN:  coord.MaxSelectSeriesN,
		MaxSelectBucketsN: coord.MaxSelectBucketsN,
	}
	qe.StatementExecutor = newOwnedQueries(se, qe.TaskManager)
	qe.TaskManager.QueryTimeout = time.Duration(coord.QueryTimeout)
	qe.TaskManager.LogQueriesAfter = time.Duration(coord.LogQueriesAfter)
	qe.TaskManager.MaxConcurrentQueries = coord.MaxConcurrentQueries

	sw.open()
	return &Engine{Store: store, ShardWriter: sw, PointsWriter: pw, QueryExecutor: qe, meta: mc, logger: logger, log: log,
		shards: opts.Shards, statements: se, writer: pw}, nil
}

// Close stops the query executor, the points writer, the release of idle
// shards and the store.
func (e *Engine) Close() error {
	qerr, perr := e.QueryExecutor.Close(), e.PointsWriter.Close()
	e.ShardWriter.close()
	return errors.Join(qerr, perr, e.Store.Close())
}

// ExecuteQuery runs q. Read the returned channel to the end, or close abort.
func (e *Engine) ExecuteQuery(q *influxql.Query, opt query.ExecutionOptions, closing chan struct{}) <-chan *query.Result {
	return e.QueryExecutor.ExecuteQuery(q, opt, closing)
}

// WritePoints writes points to db.rp ("" = the default policy).
func (e *Engine) WritePoints(db, rp string, consistency models.ConsistencyLevel, user meta.User, points []models.Point) error {
	return e.writer.WritePoints(db, rp, consistency, user, points)
}

// Database returns the database called name, or nil.
func (e *Engine) Database(name string) *meta.DatabaseInfo { return e.meta.Database(name) }

func toSize(n uint64) itoml.Size { return itoml.Size(n) }
