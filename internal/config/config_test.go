package config

import (
	"errors"
	"flag"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// README's configuration tables must list every setting the code reads.
func TestREADMEDocumentsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for cmd, settings := range Settings() {
		for _, s := range settings {
			if s.Env != "" && !strings.Contains(string(readme), "`"+s.Env+"`") {
				t.Errorf("README does not document %s (%s)", s.Env, cmd)
			}
			if s.Flag != "" && !strings.Contains(string(readme), "`--"+s.Flag) {
				t.Errorf("README does not document --%s (%s)", s.Flag, cmd)
			}
		}
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	env := []string{"GCS_BUCKET=from-env", "CALLBACK_URL=https://example.com/h", "CALLBACK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "WORKER_STOP_TIMEOUT=10s"}
	c, err := LoadWorker([]string{"--gcs-bucket", "from-flag"}, env, io.Discard)
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
	env := []string{"GCS_BUCKET=b", "CALLBACK_URL=https://example.com/h", "CALLBACK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "STORAGE_EMULATOR_HOST=localhost:4443"}
	c, err := LoadWorker(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Worker.StorageEndpoint != "http://localhost:4443" {
		t.Fatalf("StorageEndpoint = %q", c.Worker.StorageEndpoint)
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	if _, err := LoadIngress([]string{"--help"}, nil, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1024": 1024, "16MiB": 16 << 20, "10GiB": 10 << 30, "5 KiB": 5 << 10, "2MB": 2e6} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1.5MiB", "9999999999GiB"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", bad)
		}
	}
}

func TestCallbackSchedule(t *testing.T) {
	c, err := LoadIngress(nil, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Server.CallbackSchedule, workflows.DefaultCallbackSchedule) {
		t.Fatalf("default schedule = %v, want %v", c.Server.CallbackSchedule, workflows.DefaultCallbackSchedule)
	}
	c, err = LoadIngress(nil, []string{"CALLBACK_SCHEDULE=0s, 1m,1h"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{0, time.Minute, time.Hour}; !slices.Equal(c.Server.CallbackSchedule, want) {
		t.Fatalf("schedule = %v, want %v", c.Server.CallbackSchedule, want)
	}
	d, err := LoadDev([]string{"--callback-schedule", "0s,2s"}, []string{"CALLBACK_SCHEDULE=0s,1m"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{0, 2 * time.Second}; !slices.Equal(d.CallbackSchedule, want) {
		t.Fatalf("dev schedule = %v, want the flag's %v", d.CallbackSchedule, want)
	}

	for _, bad := range []string{"5m,soon", "-5s", "0s,,1m"} {
		_, err := LoadIngress(nil, []string{"CALLBACK_SCHEDULE=" + bad}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "CALLBACK_SCHEDULE") {
			t.Errorf("CALLBACK_SCHEDULE=%s: error %v, want one naming the setting", bad, err)
		}
	}
}

func TestLoadRedeliver(t *testing.T) {
	env := []string{"TEMPORAL_ADDRESS=temporal.example.com:7233", "TEMPORAL_NAMESPACE=prod"}
	for _, args := range [][]string{{"vid-1", "--wait"}, {"--wait", "vid-1"}} {
		c, err := LoadRedeliver(args, env, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if c.VideoID != "vid-1" || !c.Wait || c.Temporal.HostPort != "temporal.example.com:7233" || c.Temporal.Namespace != "prod" {
			t.Fatalf("%q: config = %+v", args, c)
		}
	}
	for _, args := range [][]string{nil, {"--wait"}, {"vid-1", "vid-2"}} {
		if _, err := LoadRedeliver(args, env, io.Discard); err == nil {
			t.Errorf("%q: no error, want one asking for exactly one wochitVideoId", args)
		}
	}
}

func TestIngressSecurityDefaults(t *testing.T) {
	c, err := LoadIngress(nil, nil, io.Discard)
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
	}
	c, err := LoadIngress(nil, env, io.Discard)
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

	off, err := LoadIngress([]string{"--allowlist", "off"}, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !off.Server.AnySource {
		t.Errorf("--allowlist off left the source check on (%v)", off.Server.AllowedSources)
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
		_, err := LoadIngress(nil, []string{tt.env}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one naming %s", tt.env, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), secretish) || strings.Contains(err.Error(), "has/slash") {
			t.Errorf("%s: the error shows the token: %v", tt.env, err)
		}
	}
}
