package hh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"time"
)

// Frame layout (big-endian), see doc.go.
const (
	frameHeaderSize = 8  // body length + CRC
	bodyHeaderSize  = 16 // shard ID + enqueue time
	recordOverhead  = frameHeaderSize + bodyHeaderSize

	// maxBody bounds a frame's body: a larger length field is corrupt.
	// Writes are at most [http] max-body-size (25 MB by default) once
	// parsed, so 256 MiB leaves room without trusting any length.
	maxBody = 256 << 20
	// MaxPayload is the largest payload Enqueue accepts.
	MaxPayload = maxBody - bodyHeaderSize
)

// Segment header: magic and format version.
const (
	segmentMagic      = "PHHQ"
	segmentVersion    = 1
	segmentHeaderSize = 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Decoding errors. errShortFrame means b ends inside the frame (a torn tail
// when it is the end of the file); errCorrupt means the frame can never be
// read (impossible length or CRC mismatch).
var (
	errShortFrame = errors.New("hh: short frame")
	errCorrupt    = errors.New("hh: corrupt record")
	errBadLength  = fmt.Errorf("%w: impossible length", errCorrupt)
	errBadCRC     = fmt.Errorf("%w: CRC mismatch", errCorrupt)
)

// frameSize returns the bytes a record with this payload takes on disk.
func frameSize(payloadLen int) int64 { return int64(recordOverhead + payloadLen) }

// appendFrame appends the frame of one record to dst.
func appendFrame(dst []byte, shardID uint64, enqueued time.Time, payload []byte) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(bodyHeaderSize+len(payload)))
	dst = binary.BigEndian.AppendUint32(dst, 0) // CRC, below
	dst = binary.BigEndian.AppendUint64(dst, shardID)
	dst = binary.BigEndian.AppendUint64(dst, uint64(enqueued.UnixNano()))
	dst = append(dst, payload...)
	crc := crc32.Checksum(dst[start+frameHeaderSize:], castagnoli)
	binary.BigEndian.PutUint32(dst[start+4:], crc)
	return dst
}

// bodyLen reads and checks the length field of the frame starting b. It
// returns errShortFrame when b is shorter than a frame header and errBadLength
// when the length is impossible.
func bodyLen(b []byte) (int, error) {
	if len(b) < frameHeaderSize {
		return 0, errShortFrame
	}
	n := binary.BigEndian.Uint32(b)
	if n < bodyHeaderSize || n > maxBody {
		return 0, errBadLength
	}
	return int(n), nil
}

// decodeRecord decodes the frame at the start of b. It returns the record
// and the frame's size. A record is returned only when its CRC matches; its
// Payload is a copy, not a sub-slice of b.
func decodeRecord(b []byte) (Record, int, error) {
	n, err := bodyLen(b)
	if err != nil {
		return Record{}, 0, err
	}
	if len(b) < frameHeaderSize+n {
		return Record{}, 0, errShortFrame
	}
	body := b[frameHeaderSize : frameHeaderSize+n]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return Record{}, frameHeaderSize + n, errBadCRC
	}
	return Record{
		ShardID:  binary.BigEndian.Uint64(body),
		Enqueued: time.Unix(0, int64(binary.BigEndian.Uint64(body[8:]))),
		Payload:  append([]byte(nil), body[bodyHeaderSize:]...),
	}, frameHeaderSize + n, nil
}

// peekShard returns the shard ID of a frame whose body starts b[frameHeaderSize:]
// without checking the CRC (for counting, never for delivery).
func peekShard(b []byte) uint64 { return binary.BigEndian.Uint64(b[frameHeaderSize:]) }

func segmentHeader() []byte {
	return binary.BigEndian.AppendUint32([]byte(segmentMagic), segmentVersion)
}

func validSegmentHeader(b []byte) bool {
	return len(b) >= segmentHeaderSize && string(b[:4]) == segmentMagic &&
		binary.BigEndian.Uint32(b[4:]) == segmentVersion
}

func segmentName(id uint64) string { return fmt.Sprintf("%08d.seg", id) }

// position is a durable read position: the first byte not yet delivered.
type position struct {
	seg uint64
	off int64
}

const (
	positionFile = "position"
	positionSize = 20 // segment, offset, CRC-32C of both
)

func encodePosition(p position) []byte {
	b := binary.BigEndian.AppendUint64(nil, p.seg)
	b = binary.BigEndian.AppendUint64(b, uint64(p.off))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodePosition(b []byte) (position, error) {
	if len(b) != positionSize || crc32.Checksum(b[:16], castagnoli) != binary.BigEndian.Uint32(b[16:]) {
		return position{}, errors.New("hh: corrupt position file")
	}
	off := int64(binary.BigEndian.Uint64(b[8:]))
	if off < 0 {
		return position{}, errors.New("hh: corrupt position file")
	}
	return position{seg: binary.BigEndian.Uint64(b), off: off}, nil
}

// writePosition replaces dir's position file atomically: temp file, fsync,
// rename, fsync of the directory.
func writePosition(dir string, p position) error {
	tmp := filepath.Join(dir, positionFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(encodePosition(p))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, positionFile))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("hh: saving read position: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func crc32Update(crc uint32, p []byte) uint32 { return crc32.Update(crc, castagnoli, p) }
