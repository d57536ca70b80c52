package ingress

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestSourceLimiter(t *testing.T) {
	l := newSourceLimiter(rate.Limit(1), 2) // 1/s, bursts of 2: refilled after 2 s
	now := time.Unix(1_700_000_000, 0)
	a := netip.MustParseAddr("198.51.100.1")

	for i, want := range []bool{true, true, false} {
		if ok, _ := l.allow(a, now); ok != want {
			t.Fatalf("request %d allowed = %v, want %v", i+1, ok, want)
		}
	}
	if _, wait := l.allow(a, now); wait <= 0 || wait > time.Second {
		t.Fatalf("retry after %s, want (0, 1s]", wait)
	}
	// Refused requests take no token: one second later one is back.
	if ok, _ := l.allow(a, now.Add(time.Second)); !ok {
		t.Fatal("no token after a second")
	}
	// Another source has its own bucket; IPv6 sources share one per /64.
	if ok, _ := l.allow(netip.MustParseAddr("198.51.100.2"), now); !ok {
		t.Fatal("another IPv4 source was limited")
	}
	v6a, v6b := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	l.allow(v6a, now)
	l.allow(v6a, now)
	if ok, _ := l.allow(v6b, now); ok {
		t.Fatal("an address in the same /64 got a fresh bucket")
	}
}

func TestSourceLimiterForgetsIdleSources(t *testing.T) {
	l := newSourceLimiter(rate.Limit(10), 20) // refilled after 2 s
	now := time.Unix(1_700_000_000, 0)
	for i := range 1000 {
		l.allow(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), now)
	}
	if n := l.size(); n != 1000 {
		t.Fatalf("%d buckets, want 1000", n)
	}
	// One active source after everyone else went quiet for a full refill.
	l.allow(netip.MustParseAddr("203.0.113.1"), now.Add(3*time.Second))
	if n := l.size(); n != 1 {
		t.Fatalf("%d buckets after the others went idle, want 1", n)
	}
}

func TestSourceLimiterMemoryIsBounded(t *testing.T) {
	l := newSourceLimiter(rate.Limit(1), 1)
	now := time.Unix(1_700_000_000, 0)
	for i := range maxSources + 500 {
		l.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
	if n := l.size(); n > maxSources {
		t.Fatalf("%d buckets, want at most %d", n, maxSources)
	}
}
