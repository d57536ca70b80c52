package commands

import (
	"errors"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

func TestFlagsOverrideEnvironment(t *testing.T) {
	env := []string{"GCS_BUCKET=from-env", "CALLBACK_URL=https://example.com/h", "CALLBACK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "PAYLOAD_KEYS=off", "WORKER_STOP_TIMEOUT=10s"}
	c, err := loadWorker([]string{"--gcs-bucket", "from-flag"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Worker.Bucket != "from-flag" || c.Worker.StopTimeout != 10*time.Second || len(c.Worker.CallbackSecrets) != 1 {
		t.Fatalf("config = %+v", c.Worker)
	}
	if c.Worker.Transfer.ChunkSize != 16<<20 || c.Worker.Transfer.PartSize != 16<<20 || c.Worker.VideoSlots != 4 || c.Worker.ActivitySlots != 100 || c.Worker.Prefix != "videos/" {
		t.Fatalf("defaults not applied: %+v", c.Worker)
	}
}

func TestStorageEmulatorHostBecomesURL(t *testing.T) {
	env := []string{"GCS_BUCKET=b", "CALLBACK_URL=https://example.com/h", "CALLBACK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "PAYLOAD_KEYS=off", "STORAGE_EMULATOR_HOST=localhost:4443"}
	c, err := loadWorker(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Worker.StorageEndpoint != "http://localhost:4443" {
		t.Fatalf("StorageEndpoint = %q", c.Worker.StorageEndpoint)
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	if _, err := loadIngress([]string{"--help"}, nil, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
}

func TestCallbackSchedule(t *testing.T) {
	c, err := loadIngress(nil, []string{"PAYLOAD_KEYS=off"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Server.CallbackSchedule, workflows.DefaultCallbackSchedule) {
		t.Fatalf("default schedule = %v, want %v", c.Server.CallbackSchedule, workflows.DefaultCallbackSchedule)
	}
	c, err = loadIngress(nil, []string{"CALLBACK_SCHEDULE=0s, 1m,1h", "PAYLOAD_KEYS=off"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{0, time.Minute, time.Hour}; !slices.Equal(c.Server.CallbackSchedule, want) {
		t.Fatalf("schedule = %v, want %v", c.Server.CallbackSchedule, want)
	}

	for _, bad := range []string{"5m,soon", "-5s", "0s,,1m"} {
		_, err := loadIngress(nil, []string{"CALLBACK_SCHEDULE=" + bad}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "CALLBACK_SCHEDULE") {
			t.Errorf("CALLBACK_SCHEDULE=%s: error %v, want one naming the setting", bad, err)
		}
	}
}

func TestLoadRedeliver(t *testing.T) {
	env := []string{"TEMPORAL_ADDRESS=temporal.example.com:7233", "TEMPORAL_NAMESPACE=prod", "PAYLOAD_KEYS=off"}
	for _, args := range [][]string{{"vid-1", "--wait"}, {"--wait", "vid-1"}} {
		c, err := loadRedeliver(args, env, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if c.VideoID != "vid-1" || !c.Wait || c.Temporal.HostPort != "temporal.example.com:7233" || c.Temporal.Namespace != "prod" {
			t.Fatalf("%q: config = %+v", args, c)
		}
	}
	for _, args := range [][]string{nil, {"--wait"}, {"vid-1", "vid-2"}} {
		if _, err := loadRedeliver(args, env, io.Discard); err == nil {
			t.Errorf("%q: no error, want one asking for exactly one wochitVideoId", args)
		}
	}
}

func TestIngressSecurityDefaults(t *testing.T) {
	c, err := loadIngress(nil, []string{"PAYLOAD_KEYS=off"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	if diff := cmp.Diff(ingress.WochitSources, s.AllowedSources, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("default allowlist (-want +got):\n%s", diff)
	}
	if len(s.TrustedProxies) != 0 || len(s.Tokens) != 0 || len(s.MediaHosts) != 0 {
		t.Errorf("proxies, tokens and media hosts must default to none: %+v", s)
	}
	if s.RateLimit != ingress.DefaultRateLimit || s.RateBurst != ingress.DefaultRateBurst || s.MaxConcurrentStarts != ingress.DefaultMaxConcurrentStarts {
		t.Errorf("limits = %v/%d/%d, want the defaults", s.RateLimit, s.RateBurst, s.MaxConcurrentStarts)
	}
	if s.OriginPolicy.AllowPrivate || s.OriginPolicy.AllowAnyPort || len(s.OriginPolicy.Ports) != 0 {
		t.Errorf("origin policy = %+v, want production's", s.OriginPolicy)
	}
}

func TestIngressSecuritySettings(t *testing.T) {
	env := []string{
		"INGRESS_ALLOWLIST=203.0.113.7, 198.51.100.0/24,2001:db8::/32",
		"INGRESS_TRUSTED_PROXIES=10.0.0.0/8",
		"INGRESS_TOKENS=0123456789abcdef0123,fedcba9876543210fedc",
		"INGRESS_MEDIA_HOSTS=cdn.example.com,.Media.Example.NET.",
		"INGRESS_RATE_LIMIT=0.5",
		"INGRESS_RATE_BURST=2",
		"INGRESS_MAX_CONCURRENT_STARTS=8",
		"OUTBOUND_ALLOWED_PORTS=8443",
		"PAYLOAD_KEYS=off",
	}
	c, err := loadIngress(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Server
	wantSources := []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32"), netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	if diff := cmp.Diff(wantSources, s.AllowedSources, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("allowlist (-want +got):\n%s", diff)
	}
	if len(s.TrustedProxies) != 1 || s.TrustedProxies[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("trusted proxies = %v", s.TrustedProxies)
	}
	if len(s.Tokens) != 2 || s.Tokens[0] != "0123456789abcdef0123" {
		t.Errorf("got %d tokens, want the 2 configured", len(s.Tokens))
	}
	if diff := cmp.Diff([]string{"cdn.example.com", ".media.example.net"}, s.MediaHosts); diff != "" {
		t.Errorf("media hosts (-want +got):\n%s", diff)
	}
	if s.RateLimit != 0.5 || s.RateBurst != 2 || s.MaxConcurrentStarts != 8 || len(s.OriginPolicy.Ports) != 1 || s.OriginPolicy.Ports[0] != 8443 {
		t.Errorf("limits/ports = %v %d %d %v", s.RateLimit, s.RateBurst, s.MaxConcurrentStarts, s.OriginPolicy.Ports)
	}

	off, err := loadIngress([]string{"--allowlist", "off"}, []string{"PAYLOAD_KEYS=off"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !off.Server.AnySource {
		t.Errorf("--allowlist off left the source check on (%v)", off.Server.AllowedSources)
	}
}

// The workers read the ingress's media-host list too: one setting, so the
// door and the workers' origin client cannot disagree.
func TestWorkerReadsTheMediaHosts(t *testing.T) {
	env := []string{"GCS_BUCKET=b", "CALLBACK_URL=https://example.com/h", "CALLBACK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "PAYLOAD_KEYS=off",
		"INGRESS_MEDIA_HOSTS=cdn.example.com,.Media.Example.NET."}
	c, err := loadWorker(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"cdn.example.com", ".media.example.net"}, c.Worker.Origins.Hosts); diff != "" {
		t.Errorf("worker origin hosts (-want +got):\n%s", diff)
	}
	if len(c.Worker.Callbacks.Hosts) != 0 {
		t.Errorf("callback hosts = %v: the media-host list must not apply to the callback", c.Worker.Callbacks.Hosts)
	}
	if _, err := loadWorker(nil, append(env, "INGRESS_MEDIA_HOSTS=https://cdn.example.com"), io.Discard); err == nil || !strings.Contains(err.Error(), "INGRESS_MEDIA_HOSTS") {
		t.Errorf("a bad media host: err = %v, want one naming INGRESS_MEDIA_HOSTS", err)
	}
}

// Bad values fail at start naming the setting, and a bad token is pointed
// at by position, never shown.

func TestIngressSecurityErrors(t *testing.T) {
	const secretish = "short-secret"
	tests := []struct {
		env  string
		want string
	}{
		{"INGRESS_ALLOWLIST=1.2.3.4,not-an-ip", "INGRESS_ALLOWLIST"},
		{"INGRESS_ALLOWLIST=off,1.2.3.4", "INGRESS_ALLOWLIST"},
		{"INGRESS_TRUSTED_PROXIES=10.0.0.0/33", "INGRESS_TRUSTED_PROXIES"},
		{"INGRESS_TOKENS=" + secretish, "INGRESS_TOKENS"},
		{"INGRESS_TOKENS=0123456789abcdef0123,has/slash/0123456789", "INGRESS_TOKENS"},
		{"INGRESS_MEDIA_HOSTS=cdn..example.com", "INGRESS_MEDIA_HOSTS"},
		{"INGRESS_MEDIA_HOSTS=https://cdn.example.com", "INGRESS_MEDIA_HOSTS"},
		{"INGRESS_RATE_LIMIT=fast", "INGRESS_RATE_LIMIT"},
		{"INGRESS_RATE_LIMIT=-1", "INGRESS_RATE_LIMIT"},
		{"INGRESS_RATE_BURST=0", "INGRESS_RATE_BURST"},
		{"INGRESS_MAX_CONCURRENT_STARTS=0", "INGRESS_MAX_CONCURRENT_STARTS"},
		{"OUTBOUND_ALLOWED_PORTS=70000", "OUTBOUND_ALLOWED_PORTS"},
	}
	for _, tt := range tests {
		_, err := loadIngress(nil, []string{tt.env}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one naming %s", tt.env, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), secretish) || strings.Contains(err.Error(), "has/slash") {
			t.Errorf("%s: the error shows the token: %v", tt.env, err)
		}
	}
}

// writeTemporalConfig writes a Temporal config file (the format of the
// temporal CLI and every SDK) with the profile "staging".
func writeTemporalConfig(t *testing.T, profile string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "temporal.toml")
	if err := os.WriteFile(path, []byte("[profile.staging]\n"+profile), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The Temporal connection's address and namespace come from, highest first:
// the flag, the variable, the profile, the built-in default. (A profile's
// values used to be overwritten by the flags' defaults.)
func TestTemporalSettingsPrecedence(t *testing.T) {
	file := writeTemporalConfig(t, `address = "example.invalid:7233"
namespace = "ns-from-profile"
`)
	profile := []string{"TEMPORAL_CONFIG_FILE=" + file, "TEMPORAL_PROFILE=staging"}
	for _, tt := range []struct {
		name      string
		args, env []string
		addr, ns  string
	}{
		{"built-in default", nil, nil, "localhost:7233", "default"},
		{"profile over default", nil, profile, "example.invalid:7233", "ns-from-profile"},
		{"variable over profile", nil, append([]string{"TEMPORAL_ADDRESS=env.example.invalid:7233"}, profile...), "env.example.invalid:7233", "ns-from-profile"},
		{"empty variable is unset", nil, append([]string{"TEMPORAL_ADDRESS=", "TEMPORAL_NAMESPACE="}, profile...), "example.invalid:7233", "ns-from-profile"},
		{"flag over profile", []string{"--temporal-address", "flag.example.invalid:7233"}, profile, "flag.example.invalid:7233", "ns-from-profile"},
		{"flag over variable", []string{"--temporal-namespace", "ns-from-flag"}, append([]string{"TEMPORAL_NAMESPACE=ns-from-env"}, profile...), "example.invalid:7233", "ns-from-flag"},
		{"flag equal to the default still wins", []string{"--temporal-address", "localhost:7233"}, profile, "localhost:7233", "ns-from-profile"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadSetup(tt.args, tt.env, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.Temporal.HostPort != tt.addr || c.Temporal.Namespace != tt.ns {
				t.Fatalf("address %q, namespace %q; want %q, %q", c.Temporal.HostPort, c.Temporal.Namespace, tt.addr, tt.ns)
			}
		})
	}

	// Every command reads the connection the same way; the ingress starts
	// its runs in the namespace it connects to.
	in, err := loadIngress(nil, append(profile, "PAYLOAD_KEYS=off"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if in.Temporal.HostPort != "example.invalid:7233" || in.Server.Namespace != "ns-from-profile" {
		t.Fatalf("ingress: address %q, namespace %q", in.Temporal.HostPort, in.Server.Namespace)
	}
	r, err := loadRedeliver([]string{"vid-1", "--temporal-address", "flag.example.invalid:7233"}, append(profile, "PAYLOAD_KEYS=off"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.Temporal.HostPort != "flag.example.invalid:7233" || r.Temporal.Namespace != "ns-from-profile" {
		t.Fatalf("redeliver: address %q, namespace %q", r.Temporal.HostPort, r.Temporal.Namespace)
	}
}

func TestTemporalProfileErrors(t *testing.T) {
	file := writeTemporalConfig(t, `address = "example.invalid:7233"`)
	if _, err := loadSetup(nil, []string{"TEMPORAL_CONFIG_FILE=" + file, "TEMPORAL_PROFILE=nope"}, io.Discard); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("an unknown profile: err = %v, want one naming it", err)
	}
	// The file comes from the given environment only: without
	// TEMPORAL_CONFIG_FILE, from its HOME (here: a directory without one).
	c, err := loadSetup(nil, []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME="}, io.Discard)
	if err != nil || c.Temporal.HostPort != "localhost:7233" {
		t.Errorf("no config file: %q, %v", c.Temporal.HostPort, err)
	}
}

// PAYLOAD_KEYS is required by the commands that write or read payloads, so
// no deployment stores signed URLs in clear by accident; "off" says so on
// purpose, and keys set the client's converters.
func TestPayloadKeys(t *testing.T) {
	base := []string{"GCS_BUCKET=b", "CALLBACK_URL=https://example.com/h", "CALLBACK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	if _, err := loadWorker(nil, base, io.Discard); err == nil || !strings.Contains(err.Error(), "PAYLOAD_KEYS: required") {
		t.Fatalf("worker without PAYLOAD_KEYS: %v, want it required", err)
	}
	if _, err := loadIngress(nil, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "PAYLOAD_KEYS: required") {
		t.Fatalf("ingress without PAYLOAD_KEYS: %v, want it required", err)
	}
	if _, err := loadWorker(nil, append(base, "PAYLOAD_KEYS=k1:c2hvcnQ="), io.Discard); err == nil || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Fatalf("a 5-byte key: %v, want an error that does not echo it", err)
	}
	off, err := loadWorker(nil, append(base, "PAYLOAD_KEYS=off"), io.Discard)
	if err != nil || off.Temporal.DataConverter != nil {
		t.Fatalf("PAYLOAD_KEYS=off: %v, converter %v; want the default converter", err, off.Temporal.DataConverter)
	}
	on, err := loadIngress(nil, []string{"PAYLOAD_KEYS=" + payloadcodec.GenerateKey()}, io.Discard)
	if err != nil || on.Temporal.DataConverter == nil || on.Temporal.FailureConverter == nil || on.Server.DataConverter != on.Temporal.DataConverter {
		t.Fatalf("ingress with a key: %v; want the codec on the client and the server", err)
	}
}

// The codec server decodes with the keys everything else encrypts with: it
// cannot run without them, "off" included. And it decrypts for whoever
// presents a token, so CODEC_TOKENS is required too; "off" opts out
// explicitly. Mutation: accept an empty CODEC_TOKENS → the "required" case
// fails.
func TestCodecServerConfig(t *testing.T) {
	key := "PAYLOAD_KEYS=" + payloadcodec.GenerateKey()
	for _, env := range [][]string{{"CODEC_TOKENS=0123456789abcdef"}, {"PAYLOAD_KEYS=off", "CODEC_TOKENS=0123456789abcdef"}, {"PAYLOAD_KEYS=k:c2hvcnQ=", "CODEC_TOKENS=0123456789abcdef"}} {
		if _, err := loadCodecServer(nil, env, io.Discard); err == nil || !strings.Contains(err.Error(), "PAYLOAD_KEYS") {
			t.Errorf("%q: %v, want an error naming PAYLOAD_KEYS", env, err)
		}
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{key}, "CODEC_TOKENS: required"},
		{[]string{key, "CODEC_TOKENS="}, "CODEC_TOKENS: required"},
		{[]string{key, "CODEC_TOKENS=short"}, "token 1 of 1 is shorter than 16"},
		{[]string{key, "CODEC_TOKENS=0123456789abcdef,has/slash/0123456789"}, "token 2 of 2 may contain only"},
	} {
		_, err := loadCodecServer(nil, tc.env, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.env[1:], err, tc.want)
		} else if strings.Contains(err.Error(), "has/slash") {
			t.Errorf("the error quotes the token: %v", err)
		}
	}
	c, err := loadCodecServer([]string{"--allowed-origins", "https://ui.example.com,http://localhost:8233"},
		[]string{key, "CODEC_TOKENS=0123456789abcdef,fedcba9876543210"}, io.Discard)
	if err != nil || c.Keys == nil || !slices.Equal(c.Handler.Tokens, []string{"0123456789abcdef", "fedcba9876543210"}) || c.Handler.Unauthenticated || len(c.Handler.AllowedOrigins) != 2 || c.Addr != ":8089" {
		t.Fatalf("codec server config = %+v, %v", c, err)
	}
	c, err = loadCodecServer([]string{"--tokens", "off"}, []string{key}, io.Discard)
	if err != nil || !c.Handler.Unauthenticated || len(c.Handler.Tokens) != 0 {
		t.Fatalf("--tokens off: %+v, %v; want an unauthenticated server", c.Handler, err)
	}
}
