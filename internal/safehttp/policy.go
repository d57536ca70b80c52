// Package safehttp is the only way wochit-ingest makes HTTP requests to
// addresses that came from outside (media URLs from a notification, the
// customer's callback URL). Every connection's resolved IP and port are checked
// at dial time, so neither a hostname that resolves to an internal address nor a
// DNS answer that changes between check and use (rebinding) nor a redirect can
// reach the cloud metadata server, loopback services or the private network.
package safehttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Policy says which destinations outbound requests may reach.
type Policy struct {
	// AllowPrivate permits loopback, RFC 1918, CGNAT and IPv6 unique-local
	// destinations. Only `dev` and tests set it, so that media servers on the
	// developer's machine work. Link-local (the metadata server), multicast,
	// unspecified and reserved ranges stay blocked even then.
	AllowPrivate bool
	// AllowAnyPort lifts the port restriction (dev and tests, whose local
	// servers listen on random ports).
	AllowAnyPort bool
	// Ports are allowed in addition to 80 and 443.
	Ports []int
	// Hosts, when not empty, is the only hosts requests may go to: "host"
	// exactly, or ".example.com" for any subdomain of example.com (lower
	// case, no trailing dot). It is checked on every connection and every
	// redirect hop, before anything is resolved; an IP literal passes only
	// when listed. The other rules still apply to the hosts it lets through.
	Hosts []string
	// Resolver looks host names up; nil means net.DefaultResolver. Tests
	// replace it to map public-looking names to internal addresses: whatever
	// it answers is still checked at dial time.
	Resolver Resolver
}

// Resolver is the part of *net.Resolver the dialer uses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// BlockedError reports a destination the policy refuses. It is never worth
// retrying: the same URL resolves to the same kind of address.
type BlockedError struct {
	Address string // ip:port that was refused
	Reason  string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("destination %s is blocked: %s", e.Address, e.Reason)
}

// IsBlocked reports whether err (or anything it wraps) is a *BlockedError.
func IsBlocked(err error) bool {
	var b *BlockedError
	return errors.As(err, &b)
}

// CheckPort reports whether the policy allows connecting to port.
func (p Policy) CheckPort(port int) error {
	if p.AllowAnyPort || port == 80 || port == 443 || slices.Contains(p.Ports, port) {
		return nil
	}
	return &BlockedError{Address: ":" + strconv.Itoa(port), Reason: "port not allowed"}
}

// CheckAddr reports whether the policy allows connecting to ip.
func (p Policy) CheckAddr(ip netip.Addr) error {
	reason, private := classify(ip)
	if reason == "" || (private && p.AllowPrivate) {
		return nil
	}
	return &BlockedError{Address: ip.String(), Reason: reason}
}

// control is a net.Dialer Control function: it runs after DNS resolution, for
// the exact address about to be connected, so it cannot be raced.
func (p Policy) control(network, address string, _ syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return &BlockedError{Address: address, Reason: "only TCP is allowed"}
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return &BlockedError{Address: address, Reason: "unparseable address"}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &BlockedError{Address: address, Reason: "not an IP address"}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return &BlockedError{Address: address, Reason: "unparseable port"}
	}
	if err := p.CheckAddr(ip); err != nil {
		return &BlockedError{Address: address, Reason: err.(*BlockedError).Reason}
	}
	if err := p.CheckPort(port); err != nil {
		return &BlockedError{Address: address, Reason: "port not allowed"}
	}
	return nil
}

type blockedRange struct {
	prefix  netip.Prefix
	reason  string
	private bool // reachable when Policy.AllowPrivate is set
}

// blockedRanges lists every special-purpose range (IANA IPv4 and IPv6
// Special-Purpose Address Registries) a webhook payload has no business
// reaching. IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4, Teredo)
// are blocked outright rather than decoded, so no encoding trick gets through.
var blockedRanges = func() []blockedRange {
	table := []struct {
		cidr    string
		reason  string
		private bool
	}{
		{"0.0.0.0/8", "unspecified / this network", false},
		{"10.0.0.0/8", "private network", true},
		// Metadata services that live inside ranges AllowPrivate opens,
		// listed first so they stay blocked: Alibaba Cloud's in CGNAT space;
		// in ULA space GCE's IPv6 metadata server and the range AWS serves
		// its instance endpoints from (EC2 metadata fd00:ec2::254, EKS Pod
		// Identity fd00:ec2::23, DNS, NTP).
		{"100.100.100.200/32", "cloud metadata", false},
		{"fd20:ce::254/128", "cloud metadata", false},
		{"fd00:ec2::/32", "cloud metadata", false},
		{"100.64.0.0/10", "carrier-grade NAT", true},
		{"127.0.0.0/8", "loopback", true},
		{"169.254.0.0/16", "link-local (cloud metadata)", false},
		{"172.16.0.0/12", "private network", true},
		{"192.0.0.0/24", "IETF protocol assignments", false},
		{"192.0.2.0/24", "documentation", false},
		{"192.88.99.0/24", "6to4 relay", false},
		{"192.168.0.0/16", "private network", true},
		{"198.18.0.0/15", "benchmarking", false},
		{"198.51.100.0/24", "documentation", false},
		{"203.0.113.0/24", "documentation", false},
		{"224.0.0.0/4", "multicast", false},
		{"240.0.0.0/4", "reserved", false},
		{"::/128", "unspecified", false},
		{"::1/128", "loopback", true},
		{"::/96", "IPv4-compatible IPv6", false},
		{"::ffff:0:0/96", "IPv4-mapped IPv6", false},
		{"64:ff9b::/96", "NAT64", false},
		{"64:ff9b:1::/48", "NAT64 (local use)", false},
		{"100::/64", "discard", false},
		{"2001::/32", "Teredo", false},
		{"2001:2::/48", "benchmarking", false},
		{"2001:10::/28", "ORCHID", false},
		{"2001:20::/28", "ORCHIDv2", false},
		{"2001:db8::/32", "documentation", false},
		{"2002::/16", "6to4", false},
		{"3fff::/20", "documentation", false},
		{"fc00::/7", "unique local", true},
		{"fe80::/10", "link-local", false},
		{"fec0::/10", "site-local", false},
		{"ff00::/8", "multicast", false},
	}
	out := make([]blockedRange, len(table))
	for i, r := range table {
		out[i] = blockedRange{netip.MustParsePrefix(r.cidr), r.reason, r.private}
	}
	return out
}()

// classify returns why ip is blocked ("" when it is a public unicast address)
// and whether AllowPrivate lifts the block.
func classify(ip netip.Addr) (reason string, private bool) {
	if !ip.IsValid() {
		return "invalid address", false
	}
	ip = ip.WithZone("")
	// A 4-in-6 mapped address reached through an IPv4 socket is the IPv4
	// address itself; judge it as such, but a mapped address is blocked anyway.
	if ip.Is4In6() {
		if r, _ := classify(ip.Unmap()); r != "" {
			return r, false
		}
		return "IPv4-mapped IPv6", false
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(ip) {
			return r.reason, r.private
		}
	}
	return "", false
}
