package docs

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
)

// verifyVector is examples/verify/vector.json, the callback the customer's
// examples verify.
type verifyVector struct {
	Secret, OtherSecret, ID, Timestamp, Signature, Body string
}

func readVector(t *testing.T) (verifyVector, http.Header, time.Time) {
	t.Helper()
	raw, err := os.ReadFile("examples/verify/vector.json")
	if err != nil {
		t.Fatal(err)
	}
	var v verifyVector
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	unix, err := strconv.ParseInt(v.Timestamp, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", v.ID)
	h.Set("webhook-timestamp", v.Timestamp)
	h.Set("webhook-signature", v.Signature)
	return v, h, time.Unix(unix, 0)
}

// The vector is what our signer sends during a rotation (both signatures,
// byte for byte), and the reference Standard Webhooks library verifies it
// with either secret and rejects it tampered with: so the examples that
// verify it prove a customer's code accepts our callbacks.
func TestVectorIsOurSignatureAndTheReferenceLibraryVerifiesIt(t *testing.T) {
	v, h, sent := readVector(t)
	body := []byte(v.Body)

	secrets, err := webhook.ParseSecrets(v.OtherSecret + " " + v.Secret)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := webhook.NewSigner(secrets...)
	if err != nil {
		t.Fatal(err)
	}
	if got := signer.Signature(v.ID, sent, body); got != v.Signature {
		t.Fatalf("our signer signs the vector\n  %s\nthe vector says\n  %s", got, v.Signature)
	}

	for _, secret := range []string{v.Secret, v.OtherSecret} {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
			t.Errorf("the reference library does not verify the vector: %v", err)
		}
		tampered := []byte(strings.Replace(v.Body, `"size":50331648`, `"size":50331649`, 1))
		if err := wh.VerifyIgnoringTimestamp(tampered, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("the reference library verifies a tampered body: %v", err)
		}
		// The vector is old: with the clock, it is refused as a replay.
		if err := wh.Verify(body, h); !errors.Is(err, standardwebhooks.ErrMessageTooOld) {
			t.Errorf("the reference library, with the clock, says %v; want %v", err, standardwebhooks.ErrMessageTooOld)
		}
	}

	// Our own verifier (the dev receiver's) agrees, tolerance included.
	customer, err := webhook.ParseSecret(v.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.Verify(h, body, sent.Add(2*time.Second), webhook.DefaultTolerance, customer); err != nil {
		t.Errorf("webhook.Verify: %v", err)
	}
	if err := webhook.Verify(h, body, sent.Add(6*time.Minute), webhook.DefaultTolerance, customer); !errors.Is(err, webhook.ErrTimestampSkew) {
		t.Errorf("webhook.Verify 6 minutes later: %v, want %v", err, webhook.ErrTimestampSkew)
	}

	// And it is a callback as the document describes it.
	h.Set("User-Agent", "wochit-ingest")
	if err := CheckCallback(h, body); err != nil {
		t.Error(err)
	}
}
