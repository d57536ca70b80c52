package main

import (
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"golang.org/x/time/rate"

	"github.com/wochit-ingest/wochit-ingest/ingress"
)

// ingressConfig configures `wochit-ingest ingress`.
type ingressConfig struct {
	logConfig
	Temporal        client.Options
	Addr            string
	ShutdownTimeout time.Duration
	Server          ingress.Config
}

func loadIngress(args, environ []string, output io.Writer) (ingressConfig, error) {
	return load("ingress", args, environ, output, registerIngress)
}

func registerIngress(l *loader, c *ingressConfig) (finish func()) {
	finishLog := l.logSettings(&c.logConfig)
	finishTemporal := l.temporalSettings(&c.Temporal, defaultTemporalAddr, defaultTemporalNamespace)
	finishCodec := l.payloadCodec(&c.Temporal, "")
	l.tracingSettings()
	l.str(&c.Addr, "addr", "INGRESS_ADDR", ":8080", "address the ingress listens on")
	l.duration(&c.ShutdownTimeout, "shutdown-timeout", "INGRESS_SHUTDOWN_TIMEOUT", "20s", "how long in-flight requests may finish after SIGTERM")
	l.boolean(&c.Server.AllowHTTPURLs, "allow-http-urls", "INGRESS_ALLOW_HTTP_URLS", "false", "accept plain-http media URLs (https only otherwise)")
	l.duration(&c.Server.StartTimeout, "start-timeout", "INGRESS_START_TIMEOUT", "5s", "how long to wait for Temporal to accept a workflow before answering 503")
	l.callbackSchedule(&c.Server.CallbackSchedule)
	finishSecurity := l.ingressSecurity(&c.Server)
	return func() {
		finishLog()
		finishTemporal()
		finishCodec()
		c.Server.DataConverter = c.Temporal.DataConverter
		finishSecurity()
		c.Server.Namespace = c.Temporal.Namespace
	}
}

// minTokenLen keeps tokens out of guessing range (16 random URL-safe
// characters are about 95 bits).
const minTokenLen = 16

// ingressSecurity registers the settings that decide who may post
// notifications and which media URLs get through.
func (l *loader) ingressSecurity(s *ingress.Config) (finish func()) {
	var allowlist, proxies, tokens, hosts, ports []string
	var rateLimit string
	l.list(&allowlist, "allowlist", "INGRESS_ALLOWLIST", defaultAllowlist(), "client IPs/CIDRs that may post notifications (default: Wochit's addresses); 'off' lets every source post")
	l.list(&proxies, "trusted-proxies", "INGRESS_TRUSTED_PROXIES", "", "IPs/CIDRs of load balancers whose X-Forwarded-For is believed")
	l.list(&tokens, "tokens", "INGRESS_TOKENS", "", "shared secrets (comma-separated, for rotation); each notification must present one in the path or as a Bearer token")
	l.list(&hosts, "media-hosts", "INGRESS_MEDIA_HOSTS", "", "hosts media URLs may use: 'cdn.example.com' exactly, '.example.com' for subdomains (empty: any public host)")
	l.str(&rateLimit, "rate-limit", "INGRESS_RATE_LIMIT", strconv.Itoa(ingress.DefaultRateLimit), "notifications per second allowed per source (0: no limit)")
	l.integer(&s.RateBurst, "rate-burst", "INGRESS_RATE_BURST", strconv.Itoa(ingress.DefaultRateBurst), "notifications a source may send at once above the rate")
	l.integer(&s.MaxConcurrentStarts, "max-concurrent-starts", "INGRESS_MAX_CONCURRENT_STARTS", strconv.Itoa(ingress.DefaultMaxConcurrentStarts), "workflow starts in flight before notifications are answered 429")
	l.boolean(&s.OriginPolicy.AllowPrivate, "origin-allow-private", "ORIGIN_ALLOW_PRIVATE", "false", "accept media URLs on loopback/private addresses (never in production)")
	l.list(&ports, "allowed-ports", "OUTBOUND_ALLOWED_PORTS", "", "ports media URLs may use besides 80 and 443")
	return func() {
		if len(allowlist) == 1 && strings.EqualFold(allowlist[0], "off") {
			s.AnySource = true
		} else {
			s.AllowedSources = l.prefixes("INGRESS_ALLOWLIST", allowlist)
		}
		s.TrustedProxies = l.prefixes("INGRESS_TRUSTED_PROXIES", proxies)
		s.Tokens = l.tokens("INGRESS_TOKENS", tokens)
		s.MediaHosts = l.mediaHosts("INGRESS_MEDIA_HOSTS", hosts)
		s.OriginPolicy.Ports = l.ports("OUTBOUND_ALLOWED_PORTS", ports)

		r, err := strconv.ParseFloat(rateLimit, 64)
		if err != nil || r < 0 {
			l.fail("INGRESS_RATE_LIMIT", "want a number of notifications per second, such as 50 or 0.5")
		}
		s.RateLimit = rate.Limit(r)
		if r == 0 {
			s.RateLimit = rate.Inf // the zero Config would mean the default
		}
		if s.RateLimit != rate.Inf && s.RateBurst < 1 {
			l.fail("INGRESS_RATE_BURST", "must be at least 1 while INGRESS_RATE_LIMIT is set")
		}
		if s.MaxConcurrentStarts < 1 {
			l.fail("INGRESS_MAX_CONCURRENT_STARTS", "must be at least 1")
		}
	}
}

func defaultAllowlist() string {
	var ips []string
	for _, p := range ingress.WochitSources {
		ips = append(ips, p.Addr().String())
	}
	return strings.Join(ips, ",")
}

// prefixes parses IPs ("1.2.3.4", "2001:db8::1") and CIDRs ("10.0.0.0/8").
func (l *loader) prefixes(env string, items []string) []netip.Prefix {
	var out []netip.Prefix
	for _, item := range items {
		if ip, err := netip.ParseAddr(item); err == nil {
			ip = ip.Unmap()
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			l.fail(env, "%q is not an IP address or CIDR", item)
			continue
		}
		out = append(out, p.Masked())
	}
	return out
}

// tokens checks shared secrets. Errors say which one is wrong by position,
// never by value: configuration errors end up in logs.
func (l *loader) tokens(env string, items []string) []ingress.Token {
	var out []ingress.Token
	for i, t := range items {
		switch {
		case len(t) < minTokenLen:
			l.fail(env, "token %d of %d is shorter than %d characters; generate one with: openssl rand -hex 32", i+1, len(items), minTokenLen)
		case strings.Trim(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") != "":
			l.fail(env, "token %d of %d may contain only letters, digits and - . _ ~ (it travels in a URL path)", i+1, len(items))
		default:
			out = append(out, ingress.Token(t))
		}
	}
	return out
}

// mediaHosts checks "host" and ".suffix" entries.
func (l *loader) mediaHosts(env string, items []string) []string {
	var out []string
	for _, h := range items {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		name := strings.TrimPrefix(h, ".")
		if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != "" || strings.Contains(name, "..") {
			l.fail(env, "%q is not a host name or .suffix", h)
			continue
		}
		out = append(out, h)
	}
	return out
}
