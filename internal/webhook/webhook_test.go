package webhook

import (
	"fmt"
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
// specification's reference implementations, both as the literal value their
// test suites expect and as the Go reference library computes it.
func TestSignatureMatchesReferenceVector(t *testing.T) {
	s := mustSigner(t, secretA)
	body := []byte(`{"test": 2432232314}`)
	got := s.Signature("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), body)
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature = %q, the specification's vector is %q", got, want)
	}
	want, err := reference(t, secretA).Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), body)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("signature = %q, reference = %q", got, want)
	}
}

// Several secrets give several signatures, in order, one per secret.
func TestSignerSignsWithEverySecret(t *testing.T) {
	at := time.Unix(1614265330, 0)
	body := []byte(`{"type":"video.stored"}`)
	sigs := strings.Fields(mustSigner(t, secretB, secretA).Signature("msg_1", at, body))
	if len(sigs) != 2 {
		t.Fatalf("got %d signatures %q, want 2", len(sigs), sigs)
	}
	for i, secret := range []string{secretB, secretA} {
		want, err := reference(t, secret).Sign("msg_1", at, body)
		if err != nil {
			t.Fatal(err)
		}
		if sigs[i] != want {
			t.Errorf("signature %d = %q, want %q (the reference library's, with secret %d)", i+1, sigs[i], want, i+1)
		}
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

func TestParseSecrets(t *testing.T) {
	for _, list := range []string{secretA + " " + secretB, secretA + "," + secretB, "  " + secretA + " ,  " + secretB + " "} {
		got, err := ParseSecrets(list)
		if err != nil || len(got) != 2 || got[0].Encode() != secretA || got[1].Encode() != secretB {
			t.Errorf("ParseSecrets(%q) = %v, %v; want both secrets in order", list, got, err)
		}
	}
	// The error says which secret is wrong, and never echoes a secret.
	_, err := ParseSecrets(secretA + " whsec_c2hvcnQ=")
	if err == nil || !strings.Contains(err.Error(), "secret #2") || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Fatalf("error = %v, want one naming secret #2 without its value", err)
	}
	if _, err := ParseSecrets(" , "); err == nil {
		t.Fatal("an empty list parsed")
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	s, err := ParseSecret(secretA)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(s); strings.Contains(got, strings.TrimPrefix(secretA, "whsec_")) {
		t.Fatalf("printing a secret shows it: %q", got)
	}
}
