package commands

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"golang.org/x/time/rate"
	"google.golang.org/api/option"

	"github.com/wochit-ingest/wochit-ingest/inbox"
	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/internal/httpserver"
	"github.com/wochit-ingest/wochit-ingest/internal/metrics"
	"github.com/wochit-ingest/wochit-ingest/internal/temporalclient"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// ingressConfig configures `wochit-ingest ingress`.
type ingressConfig struct {
	config.Log
	Temporal        client.Options
	Addr            string
	AdminAddr       string
	ShutdownTimeout time.Duration
	Server          ingress.Config
	Inbox           inboxConfig
}

// inboxConfig says where the inbox is: the ingress writes there, the
// workers drain it.
type inboxConfig struct {
	Bucket, Prefix  string
	StorageEndpoint string
}

// inboxSettings registers where the inbox is, for the ingress (which has
// no GCS_BUCKET of its own otherwise) and the worker.
func inboxSettings(l *config.Loader, bucket, prefix *string) {
	l.Str(bucket, "inbox-bucket", "INBOX_BUCKET", "", "bucket of the inbox of notifications Temporal did not take (empty: GCS_BUCKET)")
	l.Str(prefix, "inbox-prefix", "INBOX_PREFIX", "", "object name prefix of the inbox (empty: GCS_PREFIX + "+inbox.DirName+")")
}

func loadIngress(args, environ []string, output io.Writer) (ingressConfig, error) {
	return config.Load("ingress", args, environ, output, registerIngress)
}

func registerIngress(l *config.Loader, c *ingressConfig) (finish func()) {
	finishLog := l.LogSettings(&c.Log)
	finishTemporal := l.TemporalSettings(&c.Temporal, config.DefaultTemporalAddr, config.DefaultTemporalNamespace)
	finishCodec := payloadCodec(l, &c.Temporal, "")
	l.TracingSettings()
	l.Str(&c.Addr, "addr", "INGRESS_ADDR", ":8080", "address the webhook listens on (nothing else is served there)")
	l.Str(&c.AdminAddr, "admin-addr", "INGRESS_ADMIN_ADDR", ":9090", "address of /healthz, /readyz and /metrics (keep it off the load balancer)")
	var gcsBucket, gcsPrefix string
	l.Str(&gcsBucket, "gcs-bucket", "GCS_BUCKET", "", "the workers' bucket, which holds the inbox by default (empty and no INBOX_BUCKET: no inbox, a notification Temporal does not take gets 503)")
	l.Str(&gcsPrefix, "gcs-prefix", "GCS_PREFIX", "videos/", "the workers' object name prefix; the inbox is under <GCS_PREFIX>"+inbox.DirName+" by default")
	inboxSettings(l, &c.Inbox.Bucket, &c.Inbox.Prefix)
	l.Str(&c.Inbox.StorageEndpoint, "storage-emulator-host", "STORAGE_EMULATOR_HOST", "", "GCS emulator host:port or URL (empty: real GCS with Application Default Credentials)")
	l.Duration(&c.ShutdownTimeout, "shutdown-timeout", "INGRESS_SHUTDOWN_TIMEOUT", "20s", "how long in-flight requests may finish after SIGTERM")
	l.Bool(&c.Server.AllowHTTPURLs, "allow-http-urls", "INGRESS_ALLOW_HTTP_URLS", "false", "accept plain-http media URLs (https only otherwise)")
	l.Duration(&c.Server.StartTimeout, "start-timeout", "INGRESS_START_TIMEOUT", config.FormatDuration(ingress.DefaultStartTimeout), "how long to wait for Temporal to accept a workflow before queuing the notification in the inbox")
	callbackSchedule(l, &c.Server.CallbackSchedule)
	finishSecurity := ingressSecurity(l, &c.Server)
	return func() {
		finishLog()
		finishTemporal()
		finishCodec()
		c.Server.DataConverter = c.Temporal.DataConverter
		finishSecurity()
		c.Server.Namespace = c.Temporal.Namespace
		c.Inbox.Bucket = cmp.Or(c.Inbox.Bucket, gcsBucket)
		c.Inbox.Prefix = cmp.Or(c.Inbox.Prefix, gcsPrefix+inbox.DirName)
		c.Inbox.StorageEndpoint = storageEndpoint(c.Inbox.StorageEndpoint)
	}
}

// storageEndpoint is an emulator address as a base URL.
func storageEndpoint(e string) string {
	if e != "" && !strings.Contains(e, "://") {
		e = "http://" + e
	}
	return strings.TrimSuffix(e, "/")
}

// openInbox connects to cfg's inbox; nil when none is configured.
func openInbox(ctx context.Context, cfg inboxConfig, dc converter.DataConverter) (*inbox.Inbox, func(), error) {
	if cfg.Bucket == "" {
		return nil, func() {}, nil
	}
	var opts []option.ClientOption
	if cfg.StorageEndpoint != "" {
		opts = []option.ClientOption{option.WithEndpoint(cfg.StorageEndpoint + "/storage/v1/"), option.WithoutAuthentication()}
	}
	gcs, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("GCS client for the inbox: %w", err)
	}
	return inbox.New(gcs, cfg.Bucket, cfg.Prefix, dc), func() { _ = gcs.Close() }, nil
}

// callbackSchedule is read by whoever starts workflows (the ingress, and
// dev's ingress): each run keeps the schedule it was started with.
func callbackSchedule(l *config.Loader, dst *[]time.Duration) {
	l.Value((*scheduleValue)(dst), "callback-schedule", "CALLBACK_SCHEDULE", workflows.FormatCallbackSchedule(workflows.DefaultCallbackSchedule),
		"wait before each callback attempt, comma-separated (each stretched by up to 10% of jitter)")
}

// scheduleValue is a callback schedule such as "0s,5s,5m,30m".
type scheduleValue []time.Duration

func (s *scheduleValue) Set(v string) error {
	schedule, err := workflows.ParseCallbackSchedule(v)
	if err != nil {
		return err
	}
	*s = schedule
	return nil
}
func (s *scheduleValue) String() string { return workflows.FormatCallbackSchedule(*s) }

// minTokenLen keeps tokens out of guessing range (16 random URL-safe
// characters are about 95 bits).
const minTokenLen = 16

// ingressSecurity registers the settings that decide who may post
// notifications and which media URLs get through.
func ingressSecurity(l *config.Loader, s *ingress.Config) (finish func()) {
	var allowlist, proxies, tokens, hosts, ports []string
	var rateLimit string
	l.List(&allowlist, "allowlist", "INGRESS_ALLOWLIST", defaultAllowlist(), "client IPs/CIDRs that may post notifications (default: Wochit's addresses); 'off' lets every source post")
	l.List(&proxies, "trusted-proxies", "INGRESS_TRUSTED_PROXIES", "", "IPs/CIDRs of load balancers whose X-Forwarded-For is believed")
	l.List(&tokens, "tokens", "INGRESS_TOKENS", "", "shared secrets (comma-separated, for rotation); each notification must present one in the path or as a Bearer token")
	l.List(&hosts, "media-hosts", "INGRESS_MEDIA_HOSTS", "", "hosts media URLs may use: 'cdn.example.com' exactly, '.example.com' for subdomains (empty: any public host)")
	l.Str(&rateLimit, "rate-limit", "INGRESS_RATE_LIMIT", strconv.Itoa(ingress.DefaultRateLimit), "notifications per second allowed per source (0: no limit)")
	l.Int(&s.RateBurst, "rate-burst", "INGRESS_RATE_BURST", strconv.Itoa(ingress.DefaultRateBurst), "notifications a source may send at once above the rate")
	l.Int(&s.MaxConcurrentStarts, "max-concurrent-starts", "INGRESS_MAX_CONCURRENT_STARTS", strconv.Itoa(ingress.DefaultMaxConcurrentStarts), "workflow starts in flight before notifications are answered 429")
	l.Bool(&s.OriginPolicy.AllowPrivate, "origin-allow-private", "ORIGIN_ALLOW_PRIVATE", "false", "accept media URLs on loopback/private addresses (never in production)")
	l.List(&ports, "allowed-ports", "OUTBOUND_ALLOWED_PORTS", "", "ports media URLs may use besides 80 and 443")
	return func() {
		if len(allowlist) == 1 && strings.EqualFold(allowlist[0], "off") {
			s.AnySource = true
		} else {
			s.AllowedSources = prefixes(l, "INGRESS_ALLOWLIST", allowlist)
		}
		s.TrustedProxies = prefixes(l, "INGRESS_TRUSTED_PROXIES", proxies)
		s.Tokens = checkTokens(l, "INGRESS_TOKENS", tokens)
		s.MediaHosts = checkMediaHosts(l, "INGRESS_MEDIA_HOSTS", hosts)
		s.OriginPolicy.Ports = l.Ports("OUTBOUND_ALLOWED_PORTS", ports)

		r, err := strconv.ParseFloat(rateLimit, 64)
		if err != nil || r < 0 {
			l.Fail("INGRESS_RATE_LIMIT", "want a number of notifications per second, such as 50 or 0.5")
		}
		s.RateLimit = rate.Limit(r)
		if r == 0 {
			s.RateLimit = rate.Inf // the zero Config would mean the default
		}
		if s.RateLimit != rate.Inf && s.RateBurst < 1 {
			l.Fail("INGRESS_RATE_BURST", "must be at least 1 while INGRESS_RATE_LIMIT is set")
		}
		if s.MaxConcurrentStarts < 1 {
			l.Fail("INGRESS_MAX_CONCURRENT_STARTS", "must be at least 1")
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
func prefixes(l *config.Loader, env string, items []string) []netip.Prefix {
	var out []netip.Prefix
	for _, item := range items {
		if ip, err := netip.ParseAddr(item); err == nil {
			ip = ip.Unmap()
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			l.Fail(env, "%q is not an IP address or CIDR", item)
			continue
		}
		out = append(out, p.Masked())
	}
	return out
}

// checkTokens checks shared secrets. Errors say which one is wrong by
// position, never by value: configuration errors end up in logs.
func checkTokens(l *config.Loader, env string, items []string) []ingress.Token {
	var out []ingress.Token
	for i, t := range items {
		switch {
		case len(t) < minTokenLen:
			l.Fail(env, "token %d of %d is shorter than %d characters; generate one with: openssl rand -hex 32", i+1, len(items), minTokenLen)
		case strings.Trim(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") != "":
			l.Fail(env, "token %d of %d may contain only letters, digits and - . _ ~ (it travels in a URL path)", i+1, len(items))
		default:
			out = append(out, ingress.Token(t))
		}
	}
	return out
}

// checkMediaHosts checks "host" and ".suffix" entries.
func checkMediaHosts(l *config.Loader, env string, items []string) []string {
	var out []string
	for _, h := range items {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		name := strings.TrimPrefix(h, ".")
		if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != "" || strings.Contains(name, "..") {
			l.Fail(env, "%q is not a host name or .suffix", h)
			continue
		}
		out = append(out, h)
	}
	return out
}

// runIngress serves the webhook endpoint until SIGINT/SIGTERM, then stops
// accepting connections and lets requests in flight finish.
func runIngress(ctx context.Context, args, environ []string, _, stderr io.Writer) error {
	cfg, err := loadIngress(args, environ, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	reg := metrics.NewRegistry()
	tr, stopTracing, err := startTracing(ctx, "ingress", log)
	if err != nil {
		return err
	}
	defer stopTracing()
	cfg.Server.Tracing = tr
	// Lazy: the ingress starts while Temporal is down (a pod restarted
	// during an outage must not crash-loop); notifications then go to the
	// inbox. The client's request metrics go on the same /metrics.
	c, closeClient, err := temporalclient.Dial(ctx, cfg.Temporal, temporalclient.Options{Logger: log, Metrics: reg, Tracing: tr, Lazy: true})
	if err != nil {
		return fmt.Errorf("temporal client: %w", err)
	}
	defer closeClient()

	box, closeInbox, err := openInbox(ctx, cfg.Inbox, cfg.Server.DataConverter)
	if err != nil {
		return err
	}
	defer closeInbox()
	if box != nil {
		cfg.Server.Inbox = box
		log.Info("ingress inbox", "bucket", box.Bucket, "prefix", box.Prefix)
		if cfg.Server.DataConverter == nil {
			log.Warn("PAYLOAD_KEYS is off: inbox objects hold notifications, signed URLs included, in clear")
		}
	} else {
		log.Warn("no GCS_BUCKET or INBOX_BUCKET: no inbox; while Temporal does not take starts, notifications get 503")
	}

	cfg.Server.Logger = log
	cfg.Server.Registry = reg
	front := ingress.NewServer(cfg.Server, c)
	admin, err := httpserver.Start(cfg.AdminAddr, httpserver.New(front.Admin()))
	if err != nil {
		return fmt.Errorf("INGRESS_ADMIN_ADDR: %w", err)
	}
	defer admin.Stop(5 * time.Second)
	srv, err := httpserver.Start(cfg.Addr, httpserver.New(front))
	if err != nil {
		return fmt.Errorf("INGRESS_ADDR: %w", err)
	}
	log.Info("ingress listening", "addr", srv.Addr(), "adminAddr", admin.Addr(), "temporal", cfg.Temporal.HostPort, "namespace", cfg.Temporal.Namespace)
	logSecurity(log, cfg.Server)
	if err := srv.Wait(ctx); err != nil {
		return err
	}
	log.Info("ingress shutting down", "timeout", cfg.ShutdownTimeout)
	return srv.Stop(cfg.ShutdownTimeout)
}

// logSecurity states at start who may post, so a deployment that is more
// open than intended shows it in its first lines of log. Tokens are counted,
// never shown.
func logSecurity(log *slog.Logger, c ingress.Config) {
	allowlist := "off: every source may post"
	switch {
	case c.AnySource:
	case len(c.AllowedSources) == 0:
		allowlist = fmt.Sprint(ingress.WochitSources)
	default:
		allowlist = fmt.Sprint(c.AllowedSources)
	}
	log.Info("ingress admission", "allowlist", allowlist, "trustedProxies", fmt.Sprint(c.TrustedProxies),
		"tokens", len(c.Tokens), "mediaHosts", fmt.Sprint(c.MediaHosts),
		"rateLimit", float64(c.RateLimit), "rateBurst", c.RateBurst, "maxConcurrentStarts", c.MaxConcurrentStarts)
	if c.AnySource {
		log.Warn("INGRESS_ALLOWLIST is off: anyone who can reach this port can post notifications")
	}
	if len(c.Tokens) == 0 {
		log.Warn("no INGRESS_TOKENS set: notifications are not authenticated beyond the source address (a token is recommended)")
	}
}
