package metastate

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/palisade-db/palisade/proto/metapb"
)

// Files in [meta] dir of a cluster data node. Both are written with mode
// 0600, atomically (temporary file, fsync, rename).
const (
	// stateFile holds the last meta state the node received, so that it
	// authenticates users and serves its data when no meta node answers.
	stateFile = "state.pb"
	// identityFile holds the node's ID and the ID of the cluster it joined.
	identityFile = "node.json"
)

// The state file is a header followed by the marshalled metapb.Data:
//
//	magic "PLSDSTAT" | version uint32 | payload length uint64 | CRC-32C of the payload uint32
//
// all big-endian. A file that is cut short, too long or changed anywhere
// fails to load, instead of decoding as a smaller, valid-looking state (a
// protobuf prefix often decodes; one with no users would reopen the admin
// bootstrap).
const (
	stateMagic      = "PLSDSTAT"
	stateVersion    = 1
	stateHeaderSize = len(stateMagic) + 4 + 8 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrStateFile is wrapped by every error about a damaged state file.
var ErrStateFile = errors.New("data: damaged meta state file")

// encodeState returns the state file's bytes for d.
func encodeState(d *metapb.Data) ([]byte, error) {
	payload, err := proto.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("data: encoding meta state: %w", err)
	}
	b := make([]byte, stateHeaderSize, stateHeaderSize+len(payload))
	copy(b, stateMagic)
	binary.BigEndian.PutUint32(b[8:], stateVersion)
	binary.BigEndian.PutUint64(b[12:], uint64(len(payload)))
	binary.BigEndian.PutUint32(b[20:], crc32.Checksum(payload, castagnoli))
	return append(b, payload...), nil
}

// decodeState checks and decodes a state file's bytes. Its errors wrap
// ErrStateFile and say what is wrong, never what the state holds.
func decodeState(b []byte) (*metapb.Data, error) {
	if len(b) < stateHeaderSize || string(b[:len(stateMagic)]) != stateMagic {
		return nil, fmt.Errorf("%w: no Palisade state header (%d bytes; damaged, or written by a Palisade from before the header)", ErrStateFile, len(b))
	}
	if v := binary.BigEndian.Uint32(b[8:]); v != stateVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads version %d", ErrStateFile, v, stateVersion)
	}
	payload := b[stateHeaderSize:]
	if n := binary.BigEndian.Uint64(b[12:]); n != uint64(len(payload)) {
		return nil, fmt.Errorf("%w: header says %d bytes of state, the file holds %d (truncated?)", ErrStateFile, n, len(payload))
	}
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[20:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrStateFile)
	}
	d := &metapb.Data{}
	if err := proto.Unmarshal(payload, d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStateFile, err)
	}
	return d, nil
}

// load reads the state saved by the journal (state.pb and the changes
// in state.log after it); a missing file is (nil, nil). A damaged file is
// an error that names the file and what to do.
func (j *journal) load() (*metapb.Data, error) {
	path := filepath.Join(j.dir, stateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("data: reading saved meta state: %w", err)
	}
	j.base = int64(len(b))
	d, err := decodeState(b)
	if err == nil {
		d, err = j.replay(d)
	}
	if err != nil {
		return nil, fmt.Errorf("%w\n  file: %s\n  The node will not start from a state it cannot trust. Move the file away (with %s beside it) to start "+
			"without it: the node then waits for the meta cluster's state (requests that need it get 503 until a meta node answers)", err, path, journalFile)
	}
	return d, nil
}

// identity is what the node keeps in node.json: its ID in the cluster and
// the ID of the cluster it joined.
type identity struct {
	NodeID    uint64 `json:"id"`
	ClusterID string `json:"cluster_id,omitempty"`
}

func loadIdentity(dir string) (identity, error) {
	var id identity
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return id, nil
	}
	if err != nil {
		return id, fmt.Errorf("data: reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return id, fmt.Errorf("data: reading %s: %w (move it away to register as a new node)", path, err)
	}
	return id, nil
}

func saveIdentity(dir string, id identity) error {
	b, err := json.Marshal(id)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, identityFile), b)
}

// setAside renames dir/name to dir/name.<suffix> when it exists, so that a
// rejoining node starts without it and an operator can still read it.
func setAside(dir, name, suffix string) (string, error) {
	from := filepath.Join(dir, name)
	to := from + "." + suffix
	if err := os.Rename(from, to); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("data: moving %s aside: %w", from, err)
	}
	return to, nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("data: writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := writeSyncClose(tmp, b, path); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("data: replacing %s: %w", path, err)
	}
	return nil
}

// writeSyncClose writes b to f, syncs it and closes it; errors name path.
func writeSyncClose(f *os.File, b []byte, path string) error {
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("data: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("data: syncing %s: %w", path, err)
	}
	return f.Close()
}
