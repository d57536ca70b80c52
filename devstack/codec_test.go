package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Workflow histories hold the notification, and with it Wochit's signed
// URLs, for the namespace's retention: read through the server's API, every
// payload is encrypted and no URL token appears anywhere; the Web UI is
// pointed at dev's codec server, which decodes them for whoever can reach it.
func TestHistoriesAreEncryptedAndTheCodecServerDecodesThem(t *testing.T) {
	endToEnd(t)
	recv := newReceiver(t)
	stack := startStack(t, t.TempDir(), randomAddrs(), recv.url, func(o *devstack.Options) { o.UIAddr = "127.0.0.1:0" })
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

	// The Web UI is told where the codec server is…
	resp, err := http.Get(stack.UIURL + "/api/v1/settings")
	if err != nil {
		t.Fatal(err)
	}
	settings, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(settings), `"Endpoint":"`+stack.CodecURL+`"`) {
		t.Fatalf("the Web UI's settings do not name the codec server %s: %s", stack.CodecURL, settings)
	}
	// …and the codec server, asked as the UI asks, decodes the input.
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{input}})
	req, _ := http.NewRequest(http.MethodPost, stack.CodecURL+"/decode", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", devstack.Namespace)
	req.Header.Set("Origin", stack.UIURL)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	decoded, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
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
