package metastate

import (
	"time"

	"github.com/influxdata/influxdb/models"
)

// Statistics is the "meta" statistic: the state's index and, on a node
// that follows the meta cluster with f (nil: standalone), how old the
// state is (as old as the process when never confirmed: started) and how
// far behind the leader's.
func Statistics(v *View, f *Follower, started time.Time) []models.Statistic {
	values := map[string]any{"index": int64(v.Index())}
	if f != nil {
		age := f.Age(time.Now())
		if age < 0 { // never confirmed: as old as the process
			age = time.Since(started)
		}
		values["stateAgeSeconds"] = age.Seconds()
		if li := f.LeaderIndex(); li > 0 {
			values["watchLag"] = int64(li) - int64(v.Index())
		}
	}
	return []models.Statistic{{Name: "meta", Values: values}}
}
