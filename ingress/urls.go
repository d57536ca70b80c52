package ingress

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

// urlRules says which media URLs the ingress accepts. It refuses at the door
// what the workers' SSRF-safe client would refuse anyway, judging only what
// the URL itself says: host names are not resolved here (the answer could
// change before the worker connects; the dial-time check is the authority).
type urlRules struct {
	allowHTTP  bool            // plain http (dev); production accepts https only
	policy     safehttp.Policy // the workers' origin policy
	mediaHosts []string        // when set, "host" exactly or ".suffix" for subdomains
}

var (
	errNotURL       = errors.New("is not a valid URL")
	errNotAbsolute  = errors.New("must be an absolute URL")
	errCredentials  = errors.New("must not contain credentials")
	errBadHost      = errors.New("has an invalid host")
	errInternalHost = errors.New("must point to a public host (not a private, internal or reserved address)")
	errPort         = errors.New("uses a port that is not allowed")
	errMediaHost    = errors.New("is not on an allowed media host")
)

func (r urlRules) check(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errNotURL
	}
	switch {
	case !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return errNotAbsolute
	case u.Scheme != "https" && !(r.allowHTTP && u.Scheme == "http"):
		if r.allowHTTP {
			return errors.New("must use http or https")
		}
		return errors.New("must use https")
	case u.User != nil:
		return errCredentials
	}
	if err := r.checkPort(u); err != nil {
		return err
	}
	host := u.Hostname()
	if !validHost(host) {
		return errBadHost
	}
	if r.policy.CheckHost(host) != nil {
		return errInternalHost
	}
	if len(r.mediaHosts) > 0 && !r.mediaHostAllowed(host) {
		return errMediaHost
	}
	return nil
}

func (r urlRules) checkPort(u *url.URL) error {
	p := u.Port()
	if p == "" {
		if strings.HasSuffix(u.Host, ":") {
			return errBadHost
		}
		return nil
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return errBadHost
	}
	if r.policy.CheckPort(port) != nil {
		return errPort
	}
	return nil
}

// validHost accepts an IP literal or an ASCII host name (letters, digits,
// '-', '_', dots; labels of 1–63 characters). Internationalized names must
// arrive in their punycode form, so there is one spelling to check. A name
// whose last label is a number ("2130706433", "0x7f.1", "127.1") is an IPv4
// address in a legacy spelling, not a name: invalid.
func validHost(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	name := strings.TrimSuffix(host, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	for _, label := range labels {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	last := strings.ToLower(labels[len(labels)-1])
	if hex, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(hex, "0123456789abcdef") != ""
	}
	return strings.Trim(last, "0123456789") != ""
}

// mediaHostAllowed applies the workers' own rule (safehttp.HostListed), so
// the door and the workers agree on every host.
func (r urlRules) mediaHostAllowed(host string) bool {
	return safehttp.HostListed(r.mediaHosts, host)
}
