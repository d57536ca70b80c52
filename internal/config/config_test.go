package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"
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
