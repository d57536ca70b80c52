package ingress

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// WochitSources are the addresses Wochit sends notifications from (SPEC).
var WochitSources = []netip.Prefix{
	netip.MustParsePrefix("54.81.68.237/32"),
	netip.MustParsePrefix("54.147.58.230/32"),
	netip.MustParsePrefix("52.1.193.159/32"),
	netip.MustParsePrefix("18.204.107.61/32"),
	netip.MustParsePrefix("100.25.120.71/32"),
}

// sources decides who a request comes from and whether it may post.
type sources struct {
	allow   []netip.Prefix // empty: every source may post
	trusted []netip.Prefix // proxies whose X-Forwarded-For entries are believed
}

// clientIP is the address the request comes from. Without trusted proxies
// it is the TCP peer. Behind them it is the right-most X-Forwarded-For entry
// that is not a trusted proxy: each trusted proxy appends the address it
// saw, so entries to the right of the first untrusted one were written by
// proxies we trust, and everything to its left was written by the client and
// may be forged. A header from an untrusted peer is ignored entirely.
//
// The zero Addr means "unknown" (an unparseable peer or chain); it matches
// no allowlist entry.
func (s sources) clientIP(r *http.Request) netip.Addr {
	peer := parsePeer(r.RemoteAddr)
	if !peer.IsValid() || !contains(s.trusted, peer) {
		return peer
	}
	client := peer
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		ip := parseHop(hops[i])
		if !ip.IsValid() {
			// A trusted proxy never writes garbage: the chain is broken at
			// a point the client controls.
			return netip.Addr{}
		}
		client = ip
		if !contains(s.trusted, ip) {
			return ip
		}
	}
	// Every hop is a trusted proxy: the request originates inside.
	return client
}

// allowed reports whether ip may post notifications.
func (s sources) allowed(ip netip.Addr) bool {
	return len(s.allow) == 0 || (ip.IsValid() && contains(s.allow, ip))
}

func contains(prefixes []netip.Prefix, ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func parsePeer(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// forwardedFor lists the X-Forwarded-For entries of every such header, in
// order.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, v := range h.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(hop))
		}
	}
	return hops
}

// parseHop accepts "1.2.3.4", "2001:db8::1", and the "1.2.3.4:5678" and
// "[2001:db8::1]:5678" forms some proxies write.
func parseHop(hop string) netip.Addr {
	if ip, err := netip.ParseAddr(hop); err == nil {
		return ip.Unmap()
	}
	if host, _, err := net.SplitHostPort(hop); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}
