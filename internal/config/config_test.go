package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"wochit-ingest/workflows"
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
	if c.Worker.Transfer.ChunkSize != 16<<20 || c.Worker.VideoSlots != 4 || c.Worker.Prefix != "videos/" {
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
