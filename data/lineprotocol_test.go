package data_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb/models"

	"github.com/palisade-db/palisade/data"
)

// Issue 17, point 7: what a coordinator accepts, every owner must accept.
// A coordinator sends each shard's points to the other owners as line
// protocol, which they parse again; a point whose line reads back
// differently (a field key after a NUL: `m \x00=1` was sent as `m =1`) was
// held by the coordinator and refused, for good, by every replica.
//
// The reference is influxd 1.6.7's answers to odd lines: every field type
// and every escape class in every part of a line (lpMatrix), and the data
// it stored from a smaller set (lpStoredLines). To record it again (needs
// influxd; nothing else does):
//
//	PALISADE_RECORD_REFERENCE=1 go test -count=1 -run TestOwnersParseWhatTheCoordinatorParsed ./data/
const lpReferenceFile = "testdata/lineprotocol-influxd-1.6.7.json"

// lpTime is the timestamp of the lines (2026-11-01T00:00:00Z).
const lpTime = "1793491200000000000"

// lpLine is one line (or body) written and influxd's answer. The line is
// kept Go-quoted in the file: JSON would replace invalid UTF-8.
type lpLine struct {
	Key    string `json:"key"`
	Line   string `json:"-"`
	Quoted string `json:"line"`
	Status int    `json:"status"`
	Body   string `json:"body"`
}

type lpReference struct {
	Comment string `json:"comment"`
	Server  string `json:"server"`
	// Matrix: each line written alone to database lp.
	Matrix []lpLine `json:"matrix"`
	// Stored: written in turn to database lpstored, then what it holds.
	Stored       []lpLine `json:"stored"`
	StoredSelect string   `json:"stored_select"` // SELECT * FROM /.*/
	StoredSeries string   `json:"stored_series"` // SHOW SERIES; SHOW FIELD KEYS
}

// lpMatrix is every field type with every escape class at every place of a
// line, written as the line-protocol reference says (names escape space,
// comma and equals with a backslash, string values quote and backslash)
// and raw, each line with a timestamp.
func lpMatrix() []lpLine {
	classes := []struct{ name, s string }{
		{"space", " "}, {"comma", ","}, {"equals", "="}, {"quote", `"`}, {"backslash", `\`},
		{"nul", "\x00"}, {"newline", "\n"}, {"tab", "\t"}, {"unicode", "é☃"},
	}
	types := []struct{ name, value string }{
		{"float", "1.5"}, {"integer", "-3i"}, {"unsigned", "7u"}, {"string", `"x"`}, {"boolean", "true"},
	}
	placements := []struct {
		name string
		at   func(string) string
	}{
		{"alone", func(s string) string { return s }},
		{"start", func(s string) string { return s + "a" }},
		{"middle", func(s string) string { return "a" + s + "b" }},
		{"end", func(s string) string { return "a" + s }},
	}
	escape := func(place, s string) string {
		switch place {
		case "measurement":
			return strings.NewReplacer(",", `\,`, " ", `\ `).Replace(s)
		case "string value":
			return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
		}
		return strings.NewReplacer(",", `\,`, "=", `\=`, " ", `\ `).Replace(s)
	}
	var out []lpLine
	seen := map[string]bool{}
	for _, place := range []string{"measurement", "tag key", "tag value", "field key", "string value"} {
		for _, c := range classes {
			for _, pl := range placements {
				for _, written := range []string{"raw", "escaped"} {
					for _, ty := range types {
						if place == "string value" && ty.name != "string" {
							continue
						}
						tok := pl.at(c.s)
						if written == "escaped" {
							tok = escape(place, tok)
						}
						// One measurement per type: a field key never
						// changes type (no field type conflict).
						meas, tags, fkey, value := "m_"+ty.name, ",t=v,a=w", ty.name, ty.value
						switch place {
						case "measurement":
							meas = tok
						case "tag key":
							tags = "," + tok + "=v,a=w"
						case "tag value":
							tags = ",t=" + tok + ",a=w"
						case "field key":
							fkey = tok
						case "string value":
							value = `"` + tok + `"`
						}
						line := meas + tags + " " + fkey + "=" + value + " " + lpTime
						if seen[line] {
							continue // escaping changed nothing
						}
						seen[line] = true
						key := fmt.Sprintf("%s/%s/%s/%s/%s", place, c.name, pl.name, written, ty.name)
						out = append(out, lpLine{Key: key, Line: line})
					}
				}
			}
		}
	}
	return out
}

// lpStoredLines are odd lines written in turn to one database, whose data
// is then compared: the fuzz finding, white space that the parser skips,
// escapes that a name keeps, tags to sort, a multi-line body.
func lpStoredLines() []lpLine {
	lines := []struct{ key, line string }{
		{"fuzz finding (FuzzWriteShardRequest)", "0000000000 \x00=000"},
		{"field key after NUL", "m \x00=1"},
		{"field key after tab", "m \t=2"},
		{"field key after two spaces", "m  =3"},
		{"empty field key", "m =4"},
		{"NUL inside a field key", "m a\x00b=5"},
		{"field key ending in a backslash", `m f\=6`},
		{"field key ending in two backslashes", `m f\\=7`},
		{"tag value ending in a backslash", `m,t=a\ f=8`},
		{"NUL inside a measurement", "n\x00x f=9"},
		{"NUL before a measurement", "\x00n f=10"},
		{"escaped newline in a measurement", "n\\\nx f=11"},
		{"escaped newline in a tag value", "m,t=a\\\nb f=12"},
		{"newline in a string", "m s=\"a\nb\""},
		{"equals in a tag key", `m,k\=y=v f=13`},
		{"equals in a field key", `m k\=y=14`},
		{"unicode", "mé,té=v☃ fé=15"},
		{"invalid UTF-8 in a measurement", "m\xff f=16"},
		{"comma in a measurement", `n\,x f=17`},
		{"space in a field key", `m f\ x=18`},
		{"quote in a measurement", `n"x f=19`},
		{"quote in a string", `m s="a\"b"`},
		{"backslash ending a string", `m s="a\\"`},
		{"a comment", "#m f=20"},
		{"NUL tag key", "m,\x00=v f=21"},
		{"NUL tag value", "m,t=\x00 f=22"},
		{"carriage return in a measurement", "n\rx f=23"},
		{"tab in a measurement", "n\tx f=24"},
		{"unsigned", "m u=1u"},
		{"junk after a string", `m s="x"abc`},
		{"backslashes after a string", `m s="x"\\`},
		{"tags to sort", "m,t=c,a=d,k=e f=25"},
		{"every type", `m f=1.5,i=-3i,s="x y",b=true`},
		{"a field named time", "m time=26"},
	}
	var out []lpLine
	for _, l := range lines {
		line := l.line + " " + lpTime
		if l.line[0] == '#' {
			line = l.line
		}
		out = append(out, lpLine{Key: l.key, Line: line})
	}
	return append(out, lpLine{Key: "a body of odd lines",
		Line: "o \x00=1 " + lpTime + "\no,t=a\\\nb f=2 " + lpTime + "\no s=\"q\nr\" " + lpTime + "\n"})
}

// lpNoTimeLines have no timestamp: the owners' copies are compared with
// each other, not with influxd (whose time differs).
func lpNoTimeLines() []lpLine {
	return []lpLine{
		{Key: "fuzz finding, as found", Line: "0000000000 \x00=000"},
		// The last line of a body without a timestamp may end its fields in
		// a backslash; a timestamp after it would be escaped.
		{Key: "a backslash after a string, last line", Line: `m s="x"\`},
	}
}

// lpDifferences are the lines Palisade's cluster answers differently from
// influxd 1.6.7, with the reason.
var lpDifferences = map[string]string{
	"a backslash after a string, last line": "the line cannot carry the point to the shard's other owners: " +
		"its timestamp would follow the backslash, which escapes the space before it. The coordinator " +
		"refuses it (partial write) instead of storing a point its replicas never get",
}

// lpWrite writes body to db through base with consistency all.
func lpWrite(t *testing.T, base, db, body string) response {
	t.Helper()
	return do(t, http.MethodPost, base+"/write?db="+db+"&precision=n&consistency=all", noCred, strings.NewReader(body), nil)
}

func lpQuery(t *testing.T, base, db, q, extra string) response {
	t.Helper()
	return do(t, http.MethodPost, base+"/query?db="+db+extra, noCred, strings.NewReader(url.Values{"q": {q}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

func loadLPReference(t *testing.T) lpReference {
	t.Helper()
	if os.Getenv("PALISADE_RECORD_REFERENCE") != "" {
		recordLPReference(t)
	}
	b, err := os.ReadFile(lpReferenceFile)
	if err != nil {
		t.Fatalf("reading the reference: %v (record it: see the comment of lpReferenceFile)", err)
	}
	var ref lpReference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

// TestOwnersParseWhatTheCoordinatorParsed: the coordinator answers every
// line of the matrix as influxd did (a line that does not parse is refused
// with its message; a raw newline makes two lines, of which the one that
// parses is written: a partial write), and what it sends the other owners
// for the points it accepted parses back to the same points (key, typed
// fields, time).
func TestOwnersParseWhatTheCoordinatorParsed(t *testing.T) {
	ref := loadLPReference(t)
	lines := lpMatrix()
	if len(ref.Matrix) != len(lines) {
		t.Fatalf("the reference has %d lines, the matrix %d: record it again", len(ref.Matrix), len(lines))
	}
	accepted := 0
	for i, l := range lines {
		want := ref.Matrix[i]
		if want.Key != l.Key || want.Quoted != strconv.Quote(l.Line) {
			t.Fatalf("line %d is %s %q, the reference's %s %s: record it again", i, l.Key, l.Line, want.Key, want.Quoted)
		}
		// What the HTTP write does (httpd.serveWrite), as influxd.
		points, err := models.ParsePointsWithPrecision([]byte(l.Line), time.Now(), "n")
		status, msg := http.StatusNoContent, ""
		switch {
		case err != nil && len(points) == 0:
			status, msg = http.StatusBadRequest, err.Error()
		case err != nil:
			status, msg = http.StatusBadRequest, "partial write: "+err.Error()+" dropped=0"
		}
		if status != want.Status || msg != (response{body: want.Body}).errorMessage() {
			t.Errorf("%s %q: %d %q; influxd: %d %s", l.Key, l.Line, status, msg, want.Status, want.Body)
		}
		if len(points) == 0 {
			continue
		}
		accepted++
		sent, refused, reason := data.EncodeForOwners(points)
		if refused != 0 {
			t.Errorf("%s %q: not sent to the owners: %s", l.Key, l.Line, reason)
			continue
		}
		back, err := data.DecodeFromPeer(sent)
		if err != nil {
			t.Errorf("%s %q: sent as %q, which the owner refuses: %v", l.Key, l.Line, sent, err)
			continue
		}
		if d := pointsDiffer(points, back); d != "" {
			t.Errorf("%s %q: sent as %q: %s", l.Key, l.Line, sent, d)
		}
	}
	t.Logf("%d lines, %d with points to send", len(lines), accepted)
}

// pointsDiffer says how the points an owner parsed differ from the
// coordinator's ("" when they are the same).
func pointsDiffer(want, got []models.Point) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d points, want %d", len(got), len(want))
	}
	for i := range want {
		wf, werr := want[i].Fields()
		gf, gerr := got[i].Fields()
		switch {
		case string(want[i].Key()) != string(got[i].Key()):
			return fmt.Sprintf("point %d: key %q, want %q", i, got[i].Key(), want[i].Key())
		case want[i].UnixNano() != got[i].UnixNano():
			return fmt.Sprintf("point %d: time %d, want %d", i, got[i].UnixNano(), want[i].UnixNano())
		case (werr == nil) != (gerr == nil) || !reflect.DeepEqual(wf, gf):
			return fmt.Sprintf("point %d: fields %v (%v), want %v (%v)", i, gf, gerr, wf, werr)
		case want[i].String() != got[i].String():
			return fmt.Sprintf("point %d: %q, want %q", i, got[i].String(), want[i].String())
		}
	}
	return ""
}

// TestOwnersStoreWhatTheCoordinatorAccepted: odd lines written through one
// node of a cluster (2 data nodes, replication factor 2, consistency all)
// get influxd's answers, and each owner's copy holds what influxd stored.
// A point the coordinator cannot send unchanged is refused before any owner
// writes it.
func TestOwnersStoreWhatTheCoordinatorAccepted(t *testing.T) {
	ref := loadLPReference(t)
	c := newReplCluster(t, 2, nil)
	via := c.data[0]
	for _, db := range []string{"lpstored", "lpnotime"} {
		mustQuery(t, via.URL, "CREATE DATABASE "+db+" WITH REPLICATION 2", noCred)
	}
	// The matrix through the cluster: the same answers.
	mustQuery(t, via.URL, "CREATE DATABASE lp WITH REPLICATION 2", noCred)
	if len(ref.Matrix) != len(lpMatrix()) {
		t.Fatalf("the reference has %d lines, the matrix %d: record it again", len(ref.Matrix), len(lpMatrix()))
	}
	for i, l := range lpMatrix() {
		want := ref.Matrix[i]
		if r := lpWrite(t, via.URL, "lp", l.Line); r.status != want.Status || r.body != want.Body {
			t.Errorf("%s %q:\n palisade %d %s\n influxd  %d %s", l.Key, l.Line, r.status, r.body, want.Status, want.Body)
		}
	}

	lines := lpStoredLines()
	if len(ref.Stored) != len(lines) {
		t.Fatalf("the reference has %d lines, the test %d: record it again", len(ref.Stored), len(lines))
	}
	for i, l := range lines {
		want := ref.Stored[i]
		if want.Key != l.Key || want.Quoted != strconv.Quote(l.Line) {
			t.Fatalf("line %d is %s %q, the reference's %s %s: record it again", i, l.Key, l.Line, want.Key, want.Quoted)
		}
		if r := lpWrite(t, via.URL, "lpstored", l.Line); r.status != want.Status || r.body != want.Body {
			t.Errorf("%s %q:\n palisade %d %s\n influxd  %d %s", l.Key, l.Line, r.status, r.body, want.Status, want.Body)
		}
	}
	if r := lpQuery(t, via.URL, "lpstored", "SHOW SERIES; SHOW FIELD KEYS", ""); r.body != ref.StoredSeries {
		t.Errorf("series and field keys:\n palisade %s\n influxd  %s", r.body, ref.StoredSeries)
	}
	for _, d := range c.data {
		r := lpQuery(t, via.URL, "lpstored", "SELECT * FROM /.*/", fmt.Sprintf("&node_id=%d", d.NodeID()))
		if r.body != ref.StoredSelect {
			t.Errorf("data node %d's copy:\n palisade %s\n influxd  %s", d.NodeID(), r.body, ref.StoredSelect)
		}
	}

	for _, l := range lpNoTimeLines() {
		r := lpWrite(t, via.URL, "lpnotime", l.Line)
		_, differs := lpDifferences[l.Key]
		if differs != (r.status != http.StatusNoContent) {
			t.Errorf("%s %q: %d %s", l.Key, l.Line, r.status, r.body)
		}
		if differs && !strings.HasPrefix(r.errorMessage(), "partial write: unable to send ") {
			t.Errorf("%s %q: %d %s, want a partial write", l.Key, l.Line, r.status, r.body)
		}
	}
	var copies []string
	for _, d := range c.data {
		r := lpQuery(t, via.URL, "lpnotime", "SELECT * FROM /.*/", fmt.Sprintf("&node_id=%d", d.NodeID()))
		copies = append(copies, r.body)
	}
	if copies[0] != copies[1] || !strings.Contains(copies[0], `"name":"0000000000"`) || strings.Contains(copies[0], `"name":"m"`) {
		t.Errorf("the owners' copies of lpnotime differ or hold the refused point:\n %s\n %s", copies[0], copies[1])
	}
}

func recordLPReference(t *testing.T) {
	path := influxdBinary(t)
	ix := startInfluxd(t, path, false)
	defer ix.stop()
	if !strings.HasPrefix(ix.version, "1.6.7") {
		t.Fatalf("influxd %s is version %q; this recording is of 1.6.7", path, ix.version)
	}
	base := ix.baseURL()
	for _, db := range []string{"lp", "lpstored"} {
		mustQuery(t, base, "CREATE DATABASE "+db, noCred)
	}
	ref := lpReference{
		Comment: "Answers of influxd to odd line protocol (data/lineprotocol_test.go). Recorded by " +
			"PALISADE_RECORD_REFERENCE=1 go test -count=1 -run TestOwnersParseWhatTheCoordinatorParsed ./data/ .",
		Server: ix.version,
	}
	for _, l := range lpMatrix() {
		r := rawWrite(t, usermgmtInfluxdHTTP, "lp", l.Line)
		l.Quoted, l.Status, l.Body = strconv.Quote(l.Line), r.status, r.body
		ref.Matrix = append(ref.Matrix, l)
	}
	for _, l := range lpStoredLines() {
		r := rawWrite(t, usermgmtInfluxdHTTP, "lpstored", l.Line)
		l.Quoted, l.Status, l.Body = strconv.Quote(l.Line), r.status, r.body
		ref.Stored = append(ref.Stored, l)
	}
	ref.StoredSelect = lpQuery(t, base, "lpstored", "SELECT * FROM /.*/", "").body
	ref.StoredSeries = lpQuery(t, base, "lpstored", "SHOW SERIES; SHOW FIELD KEYS", "").body
	b, err := json.MarshalIndent(ref, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lpReferenceFile, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d + %d lines from influxd %s into %s", len(ref.Matrix), len(ref.Stored), ix.version, lpReferenceFile)
}

// rawWrite is lpWrite over a bare connection: influxd puts the error, NUL
// bytes and all, in its X-Influxdb-Error header, which Go's client refuses
// to read.
func rawWrite(t *testing.T, addr, db, body string) response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST /write?db=%s&precision=n&consistency=all HTTP/1.0\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s",
		db, addr, len(body), body)
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok := strings.Cut(string(b), "\r\n\r\n")
	var status int
	if _, err := fmt.Sscanf(head, "HTTP/1.0 %d", &status); !ok || err != nil {
		t.Fatalf("influxd answered %q", b)
	}
	return response{status: status, body: rest}
}
