package safehttp

import (
	"cmp"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// ClientOptions tune one client built on a Policy.
type ClientOptions struct {
	// MaxRedirects is how many redirects are followed; 0 means none: the 3xx
	// response itself is returned to the caller.
	MaxRedirects int
	// Timeout bounds a whole request including reading the body; 0 means no
	// bound (transfers stream for as long as the activity allows and rely on
	// the header and idle timeouts instead).
	Timeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers after the
	// request was written. Defaults to 30 s.
	ResponseHeaderTimeout time.Duration
	// MaxResponseHeaderBytes refuses a response whose headers are larger.
	// Defaults to DefaultMaxResponseHeaderBytes.
	MaxResponseHeaderBytes int64
}

// DefaultMaxResponseHeaderBytes bounds a response's headers: far above what
// media servers and webhook receivers send, far below net/http's own 10 MiB,
// which a hostile server would make every request read and hold.
const DefaultMaxResponseHeaderBytes = 64 << 10

// NewTransport returns a transport whose every connection is checked against
// the policy at dial time: host names by CheckHost before they are resolved,
// the resolved address and port by the dialer's Control function just before
// connect. Proxies from the environment are ignored: a proxy would make the
// dial-time check see the proxy's address instead of the target.
func NewTransport(p Policy, headerTimeout time.Duration) *http.Transport {
	if headerTimeout == 0 {
		headerTimeout = 30 * time.Second
	}
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   p.control,
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           p.dialContext(dialer),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		ExpectContinueTimeout: time.Second,
		// Also sent to HTTP/2 servers as SETTINGS_MAX_HEADER_LIST_SIZE.
		MaxResponseHeaderBytes: DefaultMaxResponseHeaderBytes,
	}
}

// NewClient returns an HTTP client that only reaches destinations the policy
// allows, on every redirect hop as well. A redirect the policy refuses (to
// a host it blocks, off its Hosts, to another scheme, from https to http,
// or carrying credentials) fails the request with a *BlockedError before
// the next hop is contacted: the same URL would redirect the same way.
func NewClient(p Policy, o ClientOptions) *http.Client {
	transport := NewTransport(p, o.ResponseHeaderTimeout)
	transport.MaxResponseHeaderBytes = cmp.Or(o.MaxResponseHeaderBytes, DefaultMaxResponseHeaderBytes)
	return &http.Client{
		Transport: transport,
		Timeout:   o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if o.MaxRedirects == 0 {
				return http.ErrUseLastResponse
			}
			if len(via) > o.MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", o.MaxRedirects)
			}
			return p.checkRedirect(req.URL, via[0].URL)
		},
	}
}

// checkRedirect judges a redirect's target from its spelling; the dial-time
// checks still apply to the connection it leads to.
func (p Policy) checkRedirect(to, first *url.URL) error {
	refuse := func(reason string) error { return &BlockedError{Address: to.Host, Reason: reason} }
	switch {
	case to.Scheme != "https" && to.Scheme != "http":
		return refuse("redirect to a non-HTTP scheme")
	case first.Scheme == "https" && to.Scheme != "https":
		return refuse("redirect from https to http")
	case to.User != nil:
		// Never carry credentials to another host.
		return refuse("redirect to a URL with userinfo")
	}
	return p.CheckHost(to.Hostname())
}
