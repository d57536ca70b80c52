package webhook

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

func mustSigner(t *testing.T, secrets ...string) *Signer {
	t.Helper()
	parsed, err := ParseSecrets(strings.Join(secrets, " "))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(parsed...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reference(t *testing.T, secret string) *standardwebhooks.Webhook {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh
}

// A vector computed independently: the example of the Standard Webhooks
// specification's reference implementations.
func TestSignatureMatchesReferenceVector(t *testing.T) {
	s := mustSigner(t, secretA)
	body := []byte(`{"test": 2432232314}`)
	got := s.Signature("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), body)
	want, err := reference(t, secretA).Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), body)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("signature = %q, reference = %q", got, want)
	}
}

func TestReferenceLibraryVerifiesOurDeliveries(t *testing.T) {
	body := []byte(`{"type":"video.stored"}`)
	now := time.Now()
	tests := []struct {
		name      string
		signWith  []string
		checkWith string
		tamper    func(h http.Header, body []byte) []byte
		wantOK    bool
	}{
		{"valid", []string{secretA}, secretA, nil, true},
		{"rotation: old secret still verifies", []string{secretB, secretA}, secretA, nil, true},
		{"rotation: new secret verifies", []string{secretB, secretA}, secretB, nil, true},
		{"wrong secret", []string{secretA}, secretB, nil, false},
		{"tampered body", []string{secretA}, secretA, func(_ http.Header, b []byte) []byte { return append([]byte(nil), append(b, ' ')...) }, false},
		{"tampered timestamp", []string{secretA}, secretA, func(h http.Header, b []byte) []byte {
			h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10))
			return b
		}, false},
		{"tampered id", []string{secretA}, secretA, func(h http.Header, b []byte) []byte { h.Set(HeaderID, "msg_other"); return b }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			mustSigner(t, tt.signWith...).SetHeaders(h, "msg_1", now, body)
			b := body
			if tt.tamper != nil {
				b = tt.tamper(h, body)
			}
			err := reference(t, tt.checkWith).Verify(b, h)
			if (err == nil) != tt.wantOK {
				t.Fatalf("reference Verify = %v, want ok=%v", err, tt.wantOK)
			}
			// Our own verifier (used by the dev receiver) must agree.
			secret, _ := ParseSecret(tt.checkWith)
			ourErr := Verify(h, b, now, DefaultTolerance, secret)
			if (ourErr == nil) != tt.wantOK {
				t.Fatalf("our Verify = %v, want ok=%v", ourErr, tt.wantOK)
			}
		})
	}
}

func TestVerifyRejectsStaleTimestamps(t *testing.T) {
	s := mustSigner(t, secretA)
	secret, _ := ParseSecret(secretA)
	h := http.Header{}
	sent := time.Now().Add(-6 * time.Minute)
	s.SetHeaders(h, "msg_1", sent, []byte("{}"))
	if err := Verify(h, []byte("{}"), time.Now(), DefaultTolerance, secret); err != ErrTimestampSkew {
		t.Fatalf("err = %v, want ErrTimestampSkew", err)
	}
}

func TestParseSecretErrors(t *testing.T) {
	for _, bad := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_c2hvcnQ="} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) succeeded", bad)
		}
	}
}
