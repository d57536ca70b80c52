//go:build !production

package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

type sendOptions struct {
	url          string
	token        string
	file         string
	demo         bool
	devURL       string
	wait         bool
	temporalAddr string
	namespace    string
	n            contract.Notification
}

// runSend posts one notification, like Wochit would, and optionally follows
// the workflow it started until it completes.
func runSend(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	env := envMap(environ)
	var o sendOptions
	fs := flag.NewFlagSet("wochit-ingest send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", envOr(env, "SEND_URL", "http://127.0.0.1:8080/webhooks/wochit"), "ingress webhook URL [$SEND_URL]")
	fs.StringVar(&o.token, "token", envOr(env, "SEND_TOKEN", ""), "ingress token, sent as Authorization: Bearer [$SEND_TOKEN]")
	fs.StringVar(&o.file, "file", "", "read the notification JSON from this file ('-' for stdin)")
	fs.BoolVar(&o.demo, "demo", false, "use the sample media that `dev` serves, and a fresh video id")
	fs.StringVar(&o.devURL, "dev-url", "http://"+devstack.DefaultDevAddr, "where `dev` serves its sample media (with --demo)")
	fs.BoolVar(&o.wait, "wait", false, "follow the workflow and show progress until it completes")
	fs.StringVar(&o.temporalAddr, "temporal-address", envOr(env, "TEMPORAL_ADDRESS", devstack.DefaultTemporalAddr), "Temporal frontend, for --wait [$TEMPORAL_ADDRESS]")
	fs.StringVar(&o.namespace, "temporal-namespace", envOr(env, "TEMPORAL_NAMESPACE", devstack.Namespace), "Temporal namespace, for --wait [$TEMPORAL_NAMESPACE]")
	fs.StringVar(&o.n.WochitVideoID, "video-id", "", "wochitVideoId (default: random with --demo)")
	fs.StringVar(&o.n.VideoURL, "video-url", "", "videoUrl")
	fs.StringVar(&o.n.ThumbnailURL, "thumbnail-url", "", "thumbnailUrl")
	fs.StringVar(&o.n.Title, "title", "", "title")
	fs.StringVar(&o.n.VideoContext, "context", "", "videoContext")
	if err := fs.Parse(args); err != nil {
		return err
	}

	body, videoID, err := o.payload()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("--url is not a valid URL")
	}
	// What is printed names the route, never the token a path may carry.
	shown := routeOf(req.URL)
	req.Header.Set("Content-Type", "application/json")
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its message would repeat the URL, token included
		}
		return fmt.Errorf("posting to %s: %w", shown, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintf(stdout, "POST %s → %s\n%s\n", shown, resp.Status, strings.TrimSpace(string(answer)))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the ingress answered %s", resp.Status)
	}
	if !o.wait {
		return nil
	}
	var started struct{ WorkflowID, RunID string }
	if err := json.Unmarshal(answer, &started); err != nil || started.WorkflowID == "" {
		started.WorkflowID = workflows.WorkflowID(videoID)
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort: o.temporalAddr, Namespace: o.namespace,
		Logger: sdklog.NewStructuredLogger(newLogger(logQuiet, io.Discard)),
	})
	if err != nil {
		return fmt.Errorf("--wait needs Temporal at %s: %w", o.temporalAddr, err)
	}
	defer c.Close()
	return follow(ctx, c, started.WorkflowID, started.RunID, stdout)
}

// routeOf is u as the ingress's access log names it: a token path segment
// becomes {token}, and userinfo, query and fragment are dropped.
func routeOf(u *url.URL) string {
	shown := *u
	shown.User, shown.RawQuery, shown.Fragment, shown.RawFragment, shown.ForceQuery = nil, "", "", "", false
	if base, token, ok := strings.Cut(shown.Path, "/webhooks/wochit/"); ok && token != "" {
		shown.Path, shown.RawPath = base+"/webhooks/wochit/", ""
		return shown.String() + "{token}" // appended: String would escape the braces
	}
	return shown.String()
}

// payload builds the notification body from --file or the flags.
func (o *sendOptions) payload() (body []byte, videoID string, err error) {
	if o.file != "" {
		var raw []byte
		if o.file == "-" {
			raw, err = io.ReadAll(os.Stdin)
		} else {
			raw, err = os.ReadFile(o.file)
		}
		if err != nil {
			return nil, "", fmt.Errorf("--file: %w", err)
		}
		var n contract.Notification
		_ = json.Unmarshal(raw, &n) // the ingress judges the payload; we only want the id
		return raw, n.WochitVideoID, nil
	}
	n := o.n
	if o.demo {
		if n.WochitVideoID == "" {
			n.WochitVideoID = "demo-" + randomHex(6)
		}
		base := strings.TrimSuffix(o.devURL, "/")
		n.VideoURL = cmp.Or(n.VideoURL, base+devstack.DemoVideoPath)
		n.ThumbnailURL = cmp.Or(n.ThumbnailURL, base+devstack.DemoThumbnailPath)
		n.Title = cmp.Or(n.Title, "Demo video")
		n.VideoContext = cmp.Or(n.VideoContext, "demo-user")
	}
	if n.WochitVideoID == "" && n.VideoURL == "" {
		return nil, "", errors.New("give --demo, --file, or the notification fields (--video-id, --video-url, --thumbnail-url, --context, --title)")
	}
	body, err = json.Marshal(n)
	return body, n.WochitVideoID, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func envOr(env map[string]string, key, fallback string) string {
	if v := env[key]; v != "" {
		return v
	}
	return fallback
}
