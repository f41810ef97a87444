package configs

// Size is a number of bytes that, like influxd's sizes, may be written as an
// integer or as a string with a k, m or g suffix ("25m", "1g": powers of
// 1024) in TOML files and environment variables. It is written back as an
// integer.
type Size uint64

// UnmarshalText implements encoding.TextUnmarshaler; the TOML decoder
// hands it integers as their decimal text too.
func (s *Size) UnmarshalText(text []byte) error {
	n, err := parseSize(string(text))
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

// Int64 returns s for the int64 byte counts the services use; a Size never
// exceeds 63 bits.
func (s Size) Int64() int64 { return int64(min(uint64(s), 1<<63-1)) }
