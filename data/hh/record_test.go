package hh

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
	"time"
)

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_700_000_000, 123)
	b := appendFrame(nil, 42, at, []byte("cpu value=1"))
	if int64(len(b)) != frameSize(len("cpu value=1")) {
		t.Fatalf("frame is %d bytes", len(b))
	}
	r, n, err := decodeRecord(append(b, 0xff)) // a following byte is not read
	if err != nil || n != len(b) || r.ShardID != 42 || !r.Enqueued.Equal(at) || string(r.Payload) != "cpu value=1" {
		t.Fatalf("decode: %+v, %d, %v", r, n, err)
	}
	for _, tt := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errShortFrame},
		{"cut", b[:len(b)-1], errShortFrame},
		{"bad CRC", func() []byte { c := bytes.Clone(b); c[len(c)-1] ^= 1; return c }(), errBadCRC},
		{"length too small", binary.BigEndian.AppendUint32(nil, 15), errShortFrame},
		{"length too small, full header", append(binary.BigEndian.AppendUint32(nil, 15), 0, 0, 0, 0), errBadLength},
		{"length too large", append(binary.BigEndian.AppendUint32(nil, maxBody+1), 0, 0, 0, 0), errBadLength},
	} {
		if _, _, err := decodeRecord(tt.b); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestPositionRoundTrip(t *testing.T) {
	t.Parallel()
	p := position{seg: 7, off: 1234}
	if got, err := decodePosition(encodePosition(p)); err != nil || got != p {
		t.Fatalf("got %+v, %v", got, err)
	}
	b := encodePosition(p)
	b[3] ^= 1
	if _, err := decodePosition(b); err == nil {
		t.Error("corrupt position accepted")
	}
}

// The decoder never panics and never returns a record whose CRC did not
// match; what it returns re-encodes to the bytes it read.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendFrame(nil, 1, time.Unix(0, 5), []byte("m f=1")))
	f.Add(appendFrame(nil, 0, time.Unix(0, 0), nil))
	f.Add([]byte{0, 0, 0, 16, 1, 2, 3, 4})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add(append(appendFrame(nil, 9, time.Unix(9, 9), []byte("x")), 1, 2, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := decodeRecord(b)
		if err != nil {
			if r.Payload != nil || r.ShardID != 0 {
				t.Fatalf("error %v with a record %+v", err, r)
			}
			return
		}
		if n < recordOverhead || n > len(b) {
			t.Fatalf("frame size %d of %d bytes", n, len(b))
		}
		if crc32.Checksum(b[frameHeaderSize:n], castagnoli) != binary.BigEndian.Uint32(b[4:]) {
			t.Fatal("returned a record whose CRC does not match")
		}
		if again := appendFrame(nil, r.ShardID, r.Enqueued, r.Payload); !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoded %x, read %x", again, b[:n])
		}
	})
}
