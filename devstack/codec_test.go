package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Workflow histories hold the notification, and with it Wochit's signed
// URLs, for the namespace's retention: read through the server's API, every
// payload is encrypted and no URL token appears anywhere; the Web UI is
// pointed at dev's codec server, which decodes them for whoever presents its
// token (the UI, in its endpoint).
func TestHistoriesAreEncryptedAndTheCodecServerDecodesThem(t *testing.T) {
	devstacktest.EndToEnd(t)
	recv := devstacktest.NewReceiver(t)
	stack := startStack(t, t.TempDir(), randomAddrs(), recv.URL, func(o *devstack.Options) { o.UIAddr = "127.0.0.1:0" })
	defer stack.Stop(context.Background())

	const token = "X-Goog-Signature=0123456789abcdefSECRET"
	video, thumb := stack.DemoURLs()
	started := postNotification(t, stack.IngressURL, map[string]string{
		"wochitVideoId": "codec-1", "videoContext": "ctx", "title": "Encrypted",
		"videoUrl": video + "?" + token, "thumbnailUrl": thumb + "?" + token,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var res workflows.IngestResult
	if err := stack.Client.GetWorkflow(ctx, started["workflowId"], started["runId"]).Get(ctx, &res); err != nil {
		t.Fatal(err)
	}

	// The raw history, as any client of the server (or its database) sees it.
	var input *commonpb.Payload
	events := 0
	for it := stack.Client.GetWorkflowHistory(ctx, started["workflowId"], started["runId"], false, 0); it.HasNext(); {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		raw, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte("SECRET")) || bytes.Contains(raw, []byte("X-Goog-Signature")) {
			t.Fatalf("event %d (%s) holds the URL token in clear", ev.GetEventId(), ev.GetEventType())
		}
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			input = a.GetInput().GetPayloads()[0]
		}
	}
	if input == nil || string(input.GetMetadata()["encoding"]) != payloadcodec.EncodingEncrypted {
		t.Fatalf("%d events; the workflow input is %v, want an encrypted payload", events, input.GetMetadata())
	}

	// The Web UI is told where the codec server is, with its token as the
	// endpoint's last path segment (the UI cannot send a header of its own)…
	resp, err := http.Get(stack.UIURL + "/api/v1/settings")
	if err != nil {
		t.Fatal(err)
	}
	settingsJSON, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var settings struct{ Codec struct{ Endpoint string } }
	if err := json.Unmarshal(settingsJSON, &settings); err != nil {
		t.Fatalf("the Web UI's settings: %v: %s", err, settingsJSON)
	}
	if stack.CodecToken == "" || settings.Codec.Endpoint != stack.CodecURL+"/"+stack.CodecToken {
		t.Fatalf("the Web UI's codec endpoint is %q, want dev's codec server %s with its token", settings.Codec.Endpoint, stack.CodecURL)
	}
	// …and the codec server, asked as the UI asks (its endpoint + /decode,
	// its Origin and headers), decodes the input; without the token, or with
	// a wrong one, it refuses. Mutation: drop Tokens from dev's
	// HandlerOptions → the UI's request still decodes but the tokenless
	// ones do too, and this fails; drop the token from the UI's endpoint →
	// the UI's request gets 401.
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{input}})
	askAsTheUI := func(endpoint, auth string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, endpoint+"/decode?preserveStorageRefs=true", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", devstack.Namespace)
		req.Header.Set("Origin", stack.UIURL)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	for _, refused := range []struct{ endpoint, auth string }{
		{stack.CodecURL, ""},
		{stack.CodecURL + "/wrong-token-0123456789abcdef", ""},
		{stack.CodecURL, "Bearer wrong-token-0123456789abcdef"},
	} {
		if resp, got := askAsTheUI(refused.endpoint, refused.auth); resp.StatusCode != http.StatusUnauthorized || bytes.Contains(got, []byte("Encrypted")) {
			t.Errorf("POST %s/decode (Authorization %q) = %d %s, want 401", refused.endpoint, refused.auth, resp.StatusCode, got)
		}
	}
	if resp, _ := askAsTheUI(stack.CodecURL, "Bearer "+stack.CodecToken); resp.StatusCode != http.StatusOK {
		t.Errorf("the CLI's way (Bearer token) = %d, want 200", resp.StatusCode)
	}
	resp, decoded := askAsTheUI(settings.Codec.Endpoint, "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != stack.UIURL {
		t.Fatalf("codec server answered %d (CORS %q): %s", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), decoded)
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal(decoded, &out); err != nil || len(out.GetPayloads()) != 1 {
		t.Fatalf("decoding the codec server's answer: %v: %s", err, decoded)
	}
	var in workflows.IngestInput
	if err := json.Unmarshal(out.GetPayloads()[0].GetData(), &in); err != nil || in.Notification.VideoURL != video+"?"+token {
		t.Fatalf("decoded input %+v (%v), want the notification as sent", in.Notification, err)
	}
}
