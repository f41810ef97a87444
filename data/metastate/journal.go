package metastate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	pmeta "github.com/palisade-db/palisade/meta"
	"github.com/palisade-db/palisade/proto/metapb"
)

// journalFile holds the changes (metapb.StateDelta) the node received
// since stateFile was written, so that saving a change costs the change,
// not the whole state (issue 20). Each record is
//
//	payload length uint32 | CRC-32C of the payload uint32 | payload
//
// big-endian, appended and fsynced. A record cut short at the end (a crash
// while appending) is left out: the node starts from the state before it,
// which was the cluster's, and catches up. A damaged record with more
// after it fails the load, as a damaged state file does.
const journalFile = "state.log"

// journalMax is the journal size at which the node writes the whole state
// again and empties the journal, unless the state is bigger: rewriting the
// state then costs at most what the changes since the last rewrite cost.
const journalMax = 256 << 10

// journal appends changes to dir/state.log.
type journal struct {
	dir string
	// size is the journal's size; base the size of the state file it
	// follows.
	size, base int64
	// broken: a write failed, so the journal may miss a change; the next
	// state is written whole.
	broken bool
}

// save writes d whole (state.pb) and empties the journal.
func (j *journal) save(d *metapb.Data) error {
	j.broken = true
	b, err := encodeState(d)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(j.dir, stateFile), b); err != nil {
		return err
	}
	j.base = int64(len(b))
	// The new state file holds everything the journal held; a crash
	// before this leaves records that load skips (their index is older).
	if err := os.Remove(filepath.Join(j.dir, journalFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("data: emptying %s: %w", journalFile, err)
	}
	j.size, j.broken = 0, false
	return nil
}

// add records delta, which made d; when the journal has grown past the
// state's size, it writes d whole instead.
func (j *journal) add(delta *metapb.StateDelta, d *metapb.Data) error {
	if j.broken || j.size > max(j.base, journalMax) {
		return j.save(d)
	}
	j.broken = true
	payload, err := proto.Marshal(delta)
	if err != nil {
		return fmt.Errorf("data: encoding a meta change: %w", err)
	}
	rec := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint32(rec, uint32(len(payload)))
	binary.BigEndian.PutUint32(rec[4:], crc32.Checksum(payload, castagnoli))
	rec = append(rec, payload...)
	path := filepath.Join(j.dir, journalFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("data: opening %s: %w", path, err)
	}
	if err := writeSyncClose(f, rec, path); err != nil {
		return err
	}
	j.size += int64(len(rec))
	j.broken = false
	return nil
}

// replay applies the journal's records to d, the state file's state, and
// returns the newest state they make.
func (j *journal) replay(d *metapb.Data) (*metapb.Data, error) {
	path := filepath.Join(j.dir, journalFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("data: reading %s: %w", path, err)
	}
	j.size = int64(len(b))
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			break // cut short
		}
		n := int(binary.BigEndian.Uint32(b[off:]))
		end := off + 8 + n
		if n < 0 || end > len(b) {
			break // cut short
		}
		payload := b[off+8 : end]
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(b[off+4:]) {
			if end == len(b) {
				break // the last record, torn
			}
			return nil, fmt.Errorf("%w: %s: checksum mismatch in the record at byte %d", ErrStateFile, path, off)
		}
		delta := &metapb.StateDelta{}
		if err := proto.Unmarshal(payload, delta); err != nil {
			return nil, fmt.Errorf("%w: %s: record at byte %d: %v", ErrStateFile, path, off, err)
		}
		off = end
		switch {
		case delta.BaseIndex < d.GetIndex():
			continue // written before the state file was
		case delta.BaseIndex > d.GetIndex():
			return d, nil // a gap: keep what is certain
		}
		next, _, err := pmeta.ApplyDelta(d, delta)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: record at byte %d: %v", ErrStateFile, path, off, err)
		}
		d = next
	}
	return d, nil
}
