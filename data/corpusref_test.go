package data_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/palisade-db/palisade/internal/testcluster"
)

// Issue 9, point 5: the query corpus (clusterquery_test.go) against
// Debian's influxd 1.6.7. The recording holds influxd's answers to the
// corpus, to the mutations, and to the corpus after them, plain and
// chunked; TestQueryCorpusMatchesInfluxDB compares a standalone node's
// answers with it (the cluster is compared with a standalone node by
// TestQueryCorpusAcrossNodes), except for corpusDifferences: the answers
// where the v1.10 engine legitimately differs from 1.6.7, each with its
// reason.
//
// To record the reference again (needs influxd; nothing else does):
//
//	PALISADE_RECORD_REFERENCE=1 go test -count=1 -run TestQueryCorpusMatchesInfluxDB ./data/
const corpusReferenceFile = "testdata/corpus-influxd-1.6.7.json"

// corpusStep is one request of the corpus script and its answer.
type corpusStep struct {
	Key    string `json:"key"` // phase, chunking and statement
	Status int    `json:"status"`
	Body   string `json:"body"`
}

type corpusReference struct {
	Comment string       `json:"comment"`
	Server  string       `json:"server"`
	Steps   []corpusStep `json:"steps"`
}

// runCorpusScript loads the corpus into the server at url and runs the
// script: the corpus, the mutations, the corpus after them.
func runCorpusScript(t *testing.T, url string) []corpusStep {
	t.Helper()
	loadCorpusInto(t, []string{url})
	var steps []corpusStep
	ask := func(phase, q string, chunked bool) {
		extra, key := "", phase+" "+q
		if chunked {
			extra, key = "&chunked=true&chunk_size=7", phase+" chunked "+q
		}
		r := corpusAnswer(t, url, q, extra)
		steps = append(steps, corpusStep{Key: key, Status: r.status, Body: r.body})
	}
	for _, q := range corpusQueries() {
		ask("before", q, false)
		ask("before", q, true)
	}
	for _, q := range corpusMutations() {
		ask("mutate", q, false)
	}
	for _, q := range corpusQueriesAfter() {
		ask("after", q, false)
		ask("after", q, true)
	}
	return steps
}

// corpusDifferences are the answers in which Palisade (the v1.10 engine)
// legitimately differs from influxd 1.6.7, by step key, with the reason;
// each holds for the plain and the chunked request.
var corpusDifferences = func() map[string]string {
	const (
		inmem = "influxd 1.6.7 runs its default inmem index, one index per database that every shard shares, so " +
			"measurements, tag keys and tag values outside the statement's time range count; Palisade runs " +
			"v1.10 with tsi1, an index per shard, and reads only the shards the time range covers " +
			"(here swap, whose one point is at 07:30, is left out)"
		perShard = "influxd 1.6.7 adds up the series of every shard (each of the 12 hourly shards counts a " +
			"series again) and SHOW SERIES CARDINALITY FROM is that same count; v1.10 counts each series once " +
			"and estimates SHOW SERIES CARDINALITY FROM with a sketch (column \"cardinality estimation\")"
		tombstone = "after DROP SERIES, v1.10's tsi1 index still lists the dropped series' tag value (h2 of " +
			"mem) until the index compacts; 1.6.7's inmem index forgets it at once"
	)
	mid := "time >= '2026-11-01T02:30:00Z' AND time < '2026-11-01T06:40:00Z'"
	out := map[string]string{}
	for stmt, why := range map[string]string{
		"before SELECT * FROM /.*/ WHERE host = 'h3' AND " + mid: inmem,
		"before SHOW TAG KEYS WHERE " + mid:                      inmem,
		"before SHOW TAG VALUES WITH KEY = host WHERE " + mid:    inmem,
		"before SHOW SERIES EXACT CARDINALITY":                   perShard,
		"before SHOW SERIES EXACT CARDINALITY FROM cpu":          perShard,
		"before SHOW SERIES CARDINALITY FROM mem":                perShard,
		"after SHOW SERIES EXACT CARDINALITY":                    perShard,
		"after SHOW SERIES EXACT CARDINALITY FROM cpu":           perShard,
		"after SHOW SERIES CARDINALITY FROM mem":                 perShard,
		"after SHOW TAG VALUES WITH KEY = host":                  tombstone,
		"after SHOW TAG VALUES WITH KEY = host WHERE " + mid:     tombstone,
	} {
		phase, q, _ := strings.Cut(stmt, " ")
		out[stmt] = why
		out[phase+" chunked "+q] = why
	}
	return out
}()

// TestQueryCorpusMatchesInfluxDB: a standalone node answers the corpus as
// influxd 1.6.7 did, apart from corpusDifferences.
func TestQueryCorpusMatchesInfluxDB(t *testing.T) {
	if os.Getenv("PALISADE_RECORD_REFERENCE") != "" {
		recordCorpusReference(t)
	}
	b, err := os.ReadFile(corpusReferenceFile)
	if err != nil {
		t.Fatalf("reading the reference: %v (record it: see the comment of corpusReferenceFile)", err)
	}
	var ref corpusReference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	single := testcluster.StartStandalone(t, testcluster.DataOptions{})
	got := runCorpusScript(t, single.URL)
	if len(got) != len(ref.Steps) {
		t.Fatalf("the script has %d steps, the recording %d: record the reference again", len(got), len(ref.Steps))
	}
	for i, g := range got {
		w := ref.Steps[i]
		if g.Key != w.Key {
			t.Fatalf("step %d is %q in the script, %q in the recording: record the reference again", i, g.Key, w.Key)
		}
		same := g.Status == w.Status && g.Body == w.Body
		reason, listed := corpusDifferences[g.Key]
		switch {
		case !same && !listed:
			t.Errorf("%s:\n palisade %d %s\n influxd  %d %s", g.Key, g.Status, truncate(g.Body), w.Status, truncate(w.Body))
		case same && listed:
			t.Errorf("%s: listed as a difference (%s) but the answers are the same: remove it from the list", g.Key, reason)
		}
	}
}

func recordCorpusReference(t *testing.T) {
	path := influxdBinary(t)
	ix := startInfluxd(t, path, false)
	if !strings.HasPrefix(ix.version, "1.6.7") {
		t.Fatalf("influxd %s is version %q; this recording is of 1.6.7", path, ix.version)
	}
	ref := corpusReference{
		Comment: "Answers of influxd to the query corpus (data/corpusref_test.go). Recorded by " +
			"PALISADE_RECORD_REFERENCE=1 go test -count=1 -run TestQueryCorpusMatchesInfluxDB ./data/ .",
		Server: ix.version,
		Steps:  runCorpusScript(t, ix.baseURL()),
	}
	b, err := json.MarshalIndent(ref, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corpusReferenceFile, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d steps from influxd %s into %s", len(ref.Steps), ix.version, corpusReferenceFile)
	ix.stop()
}
