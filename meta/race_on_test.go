//go:build race

package meta_test

// raceEnabled: the tests run under the race detector, which makes every
// copy of a large slice cost about 40 ns a byte (TestSnapshotRestore100kUsers).
const raceEnabled = true
