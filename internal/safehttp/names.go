package safehttp

import (
	"net/netip"
	"strings"
)

// metadataNames reach a cloud provider's instance metadata service (which
// hands out credentials) through the instance's own resolver. They are
// blocked even when AllowPrivate is set.
var metadataNames = map[string]bool{
	"metadata":                   true, // GCE, through the search domain
	"metadata.google.internal":   true,
	"metadata.goog":              true,
	"instance-data":              true, // EC2, through the search domain
	"instance-data.ec2.internal": true,
}

// internalSuffixes are names that public DNS never delegates (RFC 6761,
// RFC 6762, RFC 8375, ICANN's .internal and name-collision list): they can
// only mean something on the network the worker runs in.
var internalSuffixes = []string{
	".localhost", ".local", ".localdomain", ".internal", ".intranet", ".corp", ".home", ".home.arpa", ".lan", ".private",
}

// CheckHost reports whether the policy allows host, as written in a URL (an
// IP literal without brackets, or a name). Names are judged by their
// spelling only: the address they resolve to is checked at dial time.
//
//   - An IP literal must pass CheckAddr.
//   - A name whose last label is numeric ("2130706433", "0x7f.1", "127.1",
//     "0177.0.0.1") is an IPv4 address in a legacy spelling that some
//     resolvers (inet_aton) accept and netip does not: always refused, so it
//     cannot be read one way here and another way by a resolver.
//   - Cloud metadata names are always refused.
//   - With Hosts set, a host not on that list is refused.
//   - localhost, single-label names (resolved through the search domain to
//     internal services) and never-delegated suffixes such as .internal or
//     .local are refused unless AllowPrivate is set.
func (p Policy) CheckHost(host string) error {
	if len(p.Hosts) > 0 && !HostListed(p.Hosts, host) {
		return &BlockedError{Address: host, Reason: "not an allowed media host"}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.CheckAddr(ip)
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	switch {
	case name == "":
		return &BlockedError{Address: host, Reason: "empty host name"}
	case endsInNumber(name):
		return &BlockedError{Address: host, Reason: "numeric host that is not a dotted-quad IPv4 address"}
	case metadataNames[name]:
		return &BlockedError{Address: host, Reason: "cloud metadata service"}
	case p.AllowPrivate:
		return nil
	case name == "localhost":
		return &BlockedError{Address: host, Reason: "loopback name"}
	case !strings.Contains(name, "."):
		return &BlockedError{Address: host, Reason: "single-label name (resolved through the local search domain)"}
	}
	for _, s := range internalSuffixes {
		if strings.HasSuffix(name, s) {
			return &BlockedError{Address: host, Reason: "internal name (" + s + ")"}
		}
	}
	return nil
}

// endsInNumber follows the WHATWG URL standard's "ends in a number" test:
// a host whose last label is decimal digits or 0x-hex is parsed as IPv4 by
// browsers and by inet_aton, never looked up as a name.
func endsInNumber(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// HostListed reports whether host (as written in a URL) is on list: equal to
// an entry "host", or a subdomain of an entry ".suffix". Matching ignores
// case and a trailing dot; list entries are lower case without one.
func HostListed(list []string, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range list {
		if suffix, ok := strings.CutPrefix(h, "."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == h {
			return true
		}
	}
	return false
}
