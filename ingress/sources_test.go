package ingress

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string // one header line each
		want    string   // "" for unknown
	}{
		{"no proxies: the peer", nil, "198.51.100.7:1234", nil, "198.51.100.7"},
		{"no proxies: X-Forwarded-For ignored", nil, "198.51.100.7:1234", []string{"54.81.68.237"}, "198.51.100.7"},
		{"untrusted peer: X-Forwarded-For ignored", lb, "198.51.100.7:1234", []string{"54.81.68.237"}, "198.51.100.7"},
		{"trusted peer: its entry", lb, "10.1.1.1:1234", []string{"54.81.68.237"}, "54.81.68.237"},
		{"right-most untrusted, never the left-most", lb, "10.1.1.1:1234", []string{"54.81.68.237, 203.0.113.9"}, "203.0.113.9"},
		{"spoof to the left of the real client", lb, "10.1.1.1:1234", []string{"54.81.68.237, 203.0.113.9, 10.2.2.2"}, "203.0.113.9"},
		{"chain of trusted proxies", lb, "10.1.1.1:1234", []string{"203.0.113.9, 10.3.3.3", "10.2.2.2"}, "203.0.113.9"},
		{"several header lines in order", lb, "10.1.1.1:1234", []string{"54.81.68.237", "203.0.113.9"}, "203.0.113.9"},
		{"entries with ports", lb, "10.1.1.1:1234", []string{"203.0.113.9:5555"}, "203.0.113.9"},
		{"IPv6 entries", lb, "[fd00::1]:1234", []string{"[2001:db8::7]:80, fd00::2"}, "2001:db8::7"},
		{"IPv4-mapped peer", lb, "[::ffff:10.1.1.1]:1234", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted peer, no header: the peer", lb, "10.1.1.1:1234", nil, "10.1.1.1"},
		{"all hops trusted: the left-most", lb, "10.1.1.1:1234", []string{"10.9.9.9, 10.8.8.8"}, "10.9.9.9"},
		{"garbage before any untrusted hop: unknown", lb, "10.1.1.1:1234", []string{"203.0.113.9, not-an-ip"}, ""},
		{"garbage left of the client: ignored", lb, "10.1.1.1:1234", []string{"not-an-ip, 203.0.113.9"}, "203.0.113.9"},
		{"unparseable peer: unknown", lb, "pipe", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/webhooks/wochit", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := sources{trusted: tt.trusted}.clientIP(r)
			if (tt.want == "" && got.IsValid()) || (tt.want != "" && got != netip.MustParseAddr(tt.want)) {
				t.Fatalf("clientIP = %v, want %q", got, tt.want)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	s := sources{allow: WochitSources}
	for _, tt := range []struct {
		ip   netip.Addr
		want bool
	}{
		{netip.MustParseAddr("54.81.68.237"), true},
		{netip.MustParseAddr("100.25.120.71"), true},
		{netip.MustParseAddr("::ffff:54.81.68.237"), true},
		{netip.MustParseAddr("54.81.68.238"), false},
		{netip.MustParseAddr("127.0.0.1"), false},
		{netip.Addr{}, false},
	} {
		if got := s.allowed(tt.ip); got != tt.want {
			t.Errorf("allowed(%v) = %v, want %v", tt.ip, got, tt.want)
		}
	}
	if !(sources{}).allowed(netip.Addr{}) {
		t.Error("with no allowlist every source must be allowed")
	}
}
