package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The real `ingress` command, with nothing but an address configured, lets
// only Wochit's addresses in: this test, on loopback, gets 403.
func TestIngressCommandAllowlistIsOnByDefault(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"ingress"}, []string{"INGRESS_ADDR=127.0.0.1:0", "TEMPORAL_ADDRESS=127.0.0.1:1", "PAYLOAD_KEYS=off"}, &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ingress: %v", err)
		}
	}()

	addrPattern := regexp.MustCompile(`msg="ingress listening" addr=(\S+)`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; {
		if m := addrPattern.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("the ingress did not report its address:\n%s", stderr.String())
		} else {
			time.Sleep(20 * time.Millisecond) // polling the log, with a deadline
		}
	}

	body := `{"wochitVideoId":"cmd-1","videoUrl":"https://media.example.com/v.mp4","thumbnailUrl":"https://media.example.com/t.jpg","videoContext":"c"}`
	resp, err := http.Post("http://"+addr+"/webhooks/wochit", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	if resp.StatusCode != http.StatusForbidden || answer["error"] != "forbidden_source" {
		t.Fatalf("answer = %d %v, want 403 forbidden_source", resp.StatusCode, answer)
	}
	for _, want := range []string{"ingress admission", "54.81.68.237", "no INGRESS_TOKENS set"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the start-up log lacks %q:\n%s", want, stderr.String())
		}
	}
}
