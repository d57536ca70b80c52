package safehttp

import (
	"net/netip"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr        string
		strict, dev bool // allowed by Policy{} and by Policy{AllowPrivate: true}
	}{
		{"93.184.215.14", true, true},
		{"2606:4700::1111", true, true},
		{"127.0.0.1", false, true},
		{"127.255.255.254", false, true},
		{"::1", false, true},
		{"10.1.2.3", false, true},
		{"172.16.0.1", false, true},
		{"172.31.255.255", false, true},
		{"192.168.1.1", false, true},
		{"100.64.0.1", false, true},
		{"fd12:3456::1", false, true},
		{"169.254.169.254", false, false},
		{"100.100.100.200", false, false}, // Alibaba metadata, inside CGNAT
		{"fd00:ec2::254", false, false},   // EC2 IPv6 metadata, inside ULA
		{"fd00:ec2::23", false, false},    // EKS Pod Identity, inside ULA
		{"fd00:ec2::123", false, false},   // the rest of AWS's instance range (NTP)
		{"fd20:ce::254", false, false},    // GCE IPv6 metadata, inside ULA
		{"fd20:ce::253", false, true},     // its neighbours are ordinary ULA
		{"fd00:ec3::23", false, true},
		{"0.0.0.0", false, false},
		{"0.1.2.3", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"239.255.255.250", false, false},
		{"ff02::1", false, false},
		{"255.255.255.255", false, false},
		{"192.0.2.1", false, false},
		{"198.51.100.1", false, false},
		{"203.0.113.1", false, false},
		{"198.18.0.1", false, false},
		{"2001:db8::1", false, false},
		{"fe80::1", false, false},
		{"fe80::1%eth0", false, false},
		{"::ffff:127.0.0.1", false, false}, // IPv4-mapped: never, even for dev
		{"::ffff:8.8.8.8", false, false},
		{"::127.0.0.1", false, false},         // IPv4-compatible
		{"64:ff9b::a00:1", false, false},      // NAT64 of 10.0.0.1
		{"2002:7f00:1::1", false, false},      // 6to4 of 127.0.0.1
		{"2001:0:4136:e378::1", false, false}, // Teredo
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.addr)
		if got := (Policy{}).CheckAddr(ip) == nil; got != tt.strict {
			t.Errorf("Policy{}.CheckAddr(%s) allowed = %v, want %v", tt.addr, got, tt.strict)
		}
		if got := (Policy{AllowPrivate: true}).CheckAddr(ip) == nil; got != tt.dev {
			t.Errorf("Policy{AllowPrivate}.CheckAddr(%s) allowed = %v, want %v", tt.addr, got, tt.dev)
		}
	}
}

func TestCheckHost(t *testing.T) {
	tests := []struct {
		host        string
		strict, dev bool
	}{
		{"media.example.com", true, true},
		{"cdn.wochit.com.", true, true},
		{"d1234.cloudfront.net", true, true},
		{"127.0.0.1", false, true},
		{"169.254.169.254", false, false},
		{"localhost", false, true},
		{"LOCALHOST.", false, true},
		{"api.localhost", false, true},
		{"redis", false, true}, // single label: the search domain decides
		{"printer.local", false, true},
		{"db.corp", false, true},
		{"vm.us-central1-a.c.project.internal", false, true},
		{"metadata.google.internal", false, false},
		{"Metadata.Google.Internal.", false, false},
		{"metadata", false, false},
		{"metadata.goog", false, false},
		{"instance-data.ec2.internal", false, false},
		{"2130706433", false, false}, // 127.0.0.1 in decimal
		{"0x7f000001", false, false},
		{"0x7f.1", false, false},
		{"0177.0.0.1", false, false},
		{"127.1", false, false},
		{"127.0.0.1.", false, false},
		{"1.2.3.0x4", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		if got := (Policy{}).CheckHost(tt.host) == nil; got != tt.strict {
			t.Errorf("Policy{}.CheckHost(%q) allowed = %v, want %v", tt.host, got, tt.strict)
		}
		if got := (Policy{AllowPrivate: true}).CheckHost(tt.host) == nil; got != tt.dev {
			t.Errorf("Policy{AllowPrivate}.CheckHost(%q) allowed = %v, want %v", tt.host, got, tt.dev)
		}
	}
}

// With Hosts set, only those hosts pass, in any case and with a trailing
// dot; the other rules still apply to the hosts it lets through.
func TestCheckHostKeepsToHosts(t *testing.T) {
	p := Policy{Hosts: []string{"cdn.example.com", ".media.example.net", "203.0.113.9"}}
	for host, want := range map[string]bool{
		"cdn.example.com":         true,
		"CDN.Example.COM.":        true,
		"a.media.example.net":     true,
		"a.b.media.example.net":   true,
		"media.example.net":       false, // ".suffix" is for subdomains only
		"evilmedia.example.net":   false,
		"cdn.example.com.evil.io": false,
		"other.example.com":       false,
		"93.184.215.14":           false, // IP literals only when listed
		"203.0.113.9":             false, // listed, but a documentation address
	} {
		if got := p.CheckHost(host) == nil; got != want {
			t.Errorf("Hosts %v: CheckHost(%q) allowed = %v, want %v", p.Hosts, host, got, want)
		}
	}
	if err := (Policy{}).CheckHost("other.example.com"); err != nil {
		t.Errorf("without Hosts any public name passes: %v", err)
	}
}

func TestCheckPort(t *testing.T) {
	tests := []struct {
		p    Policy
		port int
		want bool
	}{
		{Policy{}, 80, true},
		{Policy{}, 443, true},
		{Policy{}, 8080, false},
		{Policy{}, 22, false},
		{Policy{Ports: []int{8443}}, 8443, true},
		{Policy{Ports: []int{8443}}, 8080, false},
		{Policy{AllowPrivate: true}, 6379, false},
		{Policy{AllowAnyPort: true}, 6379, true},
	}
	for _, tt := range tests {
		if got := tt.p.CheckPort(tt.port) == nil; got != tt.want {
			t.Errorf("%+v.CheckPort(%d) allowed = %v, want %v", tt.p, tt.port, got, tt.want)
		}
	}
}
