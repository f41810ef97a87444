package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

func showShards(ctx context.Context, x *call) error {
	data, err := x.state(ctx)
	if err != nil {
		return err
	}
	return writeShards(x.stdout, data)
}

// writeShards lists every shard of data, by database, retention policy
// and shard group start, as a table.
func writeShards(out io.Writer, data *metapb.Data) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tDatabase\tRetention policy\tShard group\tStart\tEnd\tOwners\tDeleted")
	n := 0
	for _, db := range data.Databases {
		for _, rp := range db.RetentionPolicies {
			for _, sg := range rp.ShardGroups {
				deleted := "-"
				if sg.DeletedAt != 0 {
					deleted = shardTime(sg.DeletedAt)
				}
				for _, sh := range sg.Shards {
					n++
					fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", sh.Id, db.Name, rp.Name, sg.Id,
						shardTime(sg.StartTime), shardTime(sg.EndTime), ownersText(sh), deleted)
				}
			}
		}
	}
	if n == 0 {
		fmt.Fprintln(w, "(no shards)")
	}
	return w.Flush()
}

// ownersText is a shard's owners with their states: "2(active),3(joining)";
// "-" for none.
func ownersText(sh *metapb.Shard) string {
	owners := meta.Owners(sh)
	if len(owners) == 0 {
		return "-"
	}
	parts := make([]string, len(owners))
	for i, o := range owners {
		parts[i] = fmt.Sprintf("%d(%s)", o.NodeId, meta.OwnerStateName(o.State))
	}
	return strings.Join(parts, ",")
}

// shardTime formats unix nanoseconds as RFC 3339 in UTC, with the
// fraction only when there is one (the bounds of InfluxDB's time range).
func shardTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}
