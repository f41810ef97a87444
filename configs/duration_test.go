package configs

import (
	"strings"
	"testing"
	"time"
)

func TestDurationRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		text string
	}{
		{0, "0s"},
		{time.Nanosecond, "1ns"},
		{500 * time.Millisecond, "500ms"},
		{10 * time.Second, "10s"},
		{time.Minute, "1m"},
		{90 * time.Second, "1m30s"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + 30*time.Second, "1h0m30s"},
		{1500 * time.Millisecond, "1.5s"},
		{-time.Minute, "-1m"},
		{time.Duration(1<<63 - 1), "2562047h47m16.854775807s"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			text, err := Duration(tt.d).MarshalText()
			if err != nil {
				t.Fatalf("MarshalText: %v", err)
			}
			if string(text) != tt.text {
				t.Errorf("MarshalText = %q, want %q", text, tt.text)
			}
			var got Duration
			if err := got.UnmarshalText(text); err != nil {
				t.Fatalf("UnmarshalText(%q): %v", text, err)
			}
			if time.Duration(got) != tt.d {
				t.Errorf("UnmarshalText(%q) = %v, want %v", text, time.Duration(got), tt.d)
			}
		})
	}
}

func TestDurationUnmarshalText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text    string
		want    time.Duration
		wantErr string
	}{
		{text: "10s", want: 10 * time.Second},
		{text: "1h30m", want: 90 * time.Minute},
		{text: "1m0s", want: time.Minute},
		{text: "0", want: 0},
		{text: "250us", want: 250 * time.Microsecond},
		{text: "", wantErr: `invalid duration ""`},
		{text: "10", wantErr: `invalid duration "10"`},
		{text: "ten seconds", wantErr: `invalid duration "ten seconds"`},
		{text: " 10s", wantErr: `invalid duration " 10s"`},
		{text: "9999999h", wantErr: `invalid duration "9999999h"`},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			d := Duration(time.Hour)
			err := d.UnmarshalText([]byte(tt.text))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("UnmarshalText(%q) error = %v, want it to contain %q", tt.text, err, tt.wantErr)
				}
				if d != Duration(time.Hour) {
					t.Errorf("UnmarshalText(%q) changed the value to %v on error", tt.text, d)
				}
				return
			}
			if err != nil {
				t.Fatalf("UnmarshalText(%q): %v", tt.text, err)
			}
			if time.Duration(d) != tt.want {
				t.Errorf("UnmarshalText(%q) = %v, want %v", tt.text, time.Duration(d), tt.want)
			}
		})
	}
}
