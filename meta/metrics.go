package meta

import (
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// metricsCollector reports a meta node's Raft and state numbers
// (palisade_meta_*), read when scraped.
type metricsCollector struct {
	s *Store

	state, term, commit, applied, lastIndex, lastContact, leader, voters *prometheus.Desc
	index, dataNodes, databases, featureLevel                            *prometheus.Desc
}

// Collector returns the store's metrics for a Prometheus registry.
func (s *Store) Collector() prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("palisade_meta_"+name, help, labels, nil)
	}
	return &metricsCollector{s: s,
		state:        d("raft_state", "1 for this node's Raft state (Leader, Follower, Candidate, Shutdown).", "state"),
		term:         d("raft_term", "The Raft term."),
		commit:       d("raft_commit_index", "The index of the last committed Raft log entry."),
		applied:      d("raft_applied_index", "The index of the last Raft log entry applied to the state."),
		lastIndex:    d("raft_last_log_index", "The index of the last entry in this node's Raft log."),
		lastContact:  d("raft_last_contact_seconds", "Seconds since this follower last heard from the leader (0 on the leader)."),
		leader:       d("raft_leader", "1 when this node is the leader."),
		voters:       d("raft_voters", "The voters of the Raft configuration."),
		index:        d("state_index", "The index of the cluster state this node has applied."),
		dataNodes:    d("data_nodes", "The data nodes in the cluster state."),
		databases:    d("databases", "The databases in the cluster state."),
		featureLevel: d("feature_level", "The feature level the cluster runs at."),
	}
}

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.term, c.commit, c.applied, c.lastIndex, c.lastContact, c.leader,
		c.voters, c.index, c.dataNodes, c.databases, c.featureLevel} {
		ch <- d
	}
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.s.raft.Stats()
	num := func(k string) float64 { v, _ := strconv.ParseFloat(stats[k], 64); return v }
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	cur := c.s.raft.State()
	for _, st := range []raft.RaftState{raft.Leader, raft.Follower, raft.Candidate, raft.Shutdown} {
		v := 0.0
		if st == cur {
			v = 1
		}
		gauge(c.state, v, st.String())
	}
	gauge(c.term, num("term"))
	gauge(c.commit, num("commit_index"))
	gauge(c.applied, num("applied_index"))
	gauge(c.lastIndex, num("last_log_index"))
	contact := 0.0
	if cur != raft.Leader {
		if t := c.s.raft.LastContact(); !t.IsZero() {
			contact = time.Since(t).Seconds()
		}
	}
	gauge(c.lastContact, contact)
	leader := 0.0
	if cur == raft.Leader {
		leader = 1
	}
	gauge(c.leader, leader)
	gauge(c.voters, float64(len(c.s.voters())))
	d := c.s.Data()
	gauge(c.index, float64(d.Index))
	gauge(c.dataNodes, float64(len(d.DataNodes)))
	gauge(c.databases, float64(len(d.Databases)))
	gauge(c.featureLevel, float64(ClusterFeatureLevel(d)))
}
