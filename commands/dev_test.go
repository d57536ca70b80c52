//go:build !production

package commands

import (
	"io"
	"slices"
	"testing"
	"time"
)

func TestDevCallbackScheduleFlagWins(t *testing.T) {
	d, err := loadDev([]string{"--callback-schedule", "0s,2s"}, []string{"CALLBACK_SCHEDULE=0s,1m"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{0, 2 * time.Second}; !slices.Equal(d.CallbackSchedule, want) {
		t.Fatalf("dev schedule = %v, want the flag's %v", d.CallbackSchedule, want)
	}
}

// send reads the same settings as every command: its own flags and
// variables, and the Temporal connection --wait follows the run over,
// profile, API key and TLS included.
func TestSendConfig(t *testing.T) {
	c, err := loadSend(nil, []string{"SEND_URL=http://ingress.example.invalid/webhooks/wochit", "SEND_TOKEN=tok"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "http://ingress.example.invalid/webhooks/wochit" || c.Token != "tok" || c.DevURL != "http://127.0.0.1:8081" ||
		c.Temporal.HostPort != "127.0.0.1:7233" || c.Temporal.Namespace != "default" || c.Temporal.Credentials != nil {
		t.Fatalf("send defaults: %+v", c)
	}

	file := writeTemporalConfig(t, `address = "example.invalid:7233"
namespace = "ns-from-profile"
api_key = "key-from-profile"
[profile.staging.tls]
server_name = "tls.example.invalid"
`)
	profile := []string{"TEMPORAL_CONFIG_FILE=" + file, "TEMPORAL_PROFILE=staging"}
	c, err = loadSend([]string{"--wait", "--demo"}, profile, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Wait || !c.Demo || c.Temporal.HostPort != "example.invalid:7233" || c.Temporal.Namespace != "ns-from-profile" {
		t.Fatalf("send --wait with a profile: %+v", c)
	}
	if c.Temporal.Credentials == nil {
		t.Error("the profile's API key is not applied")
	}
	if tls := c.Temporal.ConnectionOptions.TLS; tls == nil || tls.ServerName != "tls.example.invalid" {
		t.Errorf("the profile's TLS settings are not applied: %+v", tls)
	}
	c, err = loadSend([]string{"--temporal-address", "127.0.0.1:7233"}, profile, io.Discard)
	if err != nil || c.Temporal.HostPort != "127.0.0.1:7233" {
		t.Fatalf("send --temporal-address: %q, %v; want the flag", c.Temporal.HostPort, err)
	}
}

func TestDemoServerConfig(t *testing.T) {
	c, err := loadDemo(nil, []string{"DEMO_ADDR=127.0.0.1:0", "CALLBACK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, io.Discard)
	if err != nil || c.Addr != "127.0.0.1:0" || len(c.CallbackSecrets) != 1 {
		t.Fatalf("demo-server: %+v, %v", c, err)
	}
	if _, err := loadDemo(nil, nil, io.Discard); err == nil {
		t.Fatal("demo-server started without CALLBACK_SECRET")
	}
}
