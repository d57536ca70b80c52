//go:build !production

package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// send names the route it posts to, never the token a path carries: its
// output ends up in terminals, CI logs and bug reports.
func TestSendPrintsTheRouteNotTheToken(t *testing.T) {
	const token = "tok-0123456789abcdef-secret"
	var gotPath string
	ingress := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"workflowId":"wochit-video-v1","runId":"r1"}`))
	}))
	defer ingress.Close()
	args := []string{"send", "--video-id", "v1", "--video-url", "https://media.example.com/v.mp4",
		"--thumbnail-url", "https://media.example.com/t.jpg", "--context", "c"}

	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append(args, "--url", ingress.URL+"/webhooks/wochit/"+token+"?x=1"), nil, &stdout, &stderr)
	if err != nil {
		t.Fatalf("send: %v (%s)", err, stderr.String())
	}
	if gotPath != "/webhooks/wochit/"+token {
		t.Fatalf("the ingress saw %q: the token was not sent", gotPath)
	}
	if out := stdout.String(); strings.Contains(out, token) || !strings.Contains(out, "POST "+ingress.URL+"/webhooks/wochit/{token} → 202") {
		t.Fatalf("send printed %q; want the route template and no token", out)
	}

	// A failed post names the route too (url.Error would print the URL).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	stdout.Reset()
	err = run(context.Background(), append(args, "--url", closed+"/webhooks/wochit/"+token), nil, &stdout, &stderr)
	if err == nil || strings.Contains(err.Error()+stdout.String(), token) || !strings.Contains(err.Error(), "/webhooks/wochit/{token}") {
		t.Fatalf("failed send reported %v / %q; want the route template and no token", err, stdout.String())
	}
}
