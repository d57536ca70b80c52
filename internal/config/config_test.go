package config

import (
	"testing"
	"time"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "16MiB": 16 << 20, "10GiB": 10 << 30, "5 KiB": 5 << 10, "2MB": 2e6} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1.5MiB", "9999999999GiB"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", bad)
		}
	}
}

// Defaults derived from the code's constants are written the way a person
// writes them, and read back as the same value: a setting's default is the
// constant, whatever the loader makes of the string. Mutation: FormatBytes
// printing KiB for MiB multiples fails the "16MiB" case.
func TestFormatDefaults(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{{16 << 20, "16MiB"}, {10 << 30, "10GiB"}, {64 << 10, "64KiB"}, {50 << 20, "50MiB"}, {1000, "1000"}, {1536 << 10, "1536KiB"}, {0, "0"}} {
		got := FormatBytes(tt.n)
		if got != tt.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
		if back, err := ParseBytes(got); err != nil || back != tt.n {
			t.Errorf("ParseBytes(FormatBytes(%d)) = %d, %v", tt.n, back, err)
		}
	}
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{2 * time.Minute, "2m"}, {30 * time.Second, "30s"}, {60 * time.Second, "1m"}, {90 * time.Second, "90s"}, {10 * time.Hour, "10h"}, {1500 * time.Millisecond, "1.5s"}, {0, "0s"}} {
		got := FormatDuration(tt.d)
		if got != tt.want {
			t.Errorf("FormatDuration(%s) = %q, want %q", tt.d, got, tt.want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != tt.d {
			t.Errorf("time.ParseDuration(FormatDuration(%s)) = %s, %v", tt.d, back, err)
		}
	}
}
