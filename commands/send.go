//go:build !production

package commands

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/internal/temporalclient"
	"github.com/wochit-ingest/wochit-ingest/operate"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// sendConfig configures `wochit-ingest send`.
type sendConfig struct {
	URL    string
	Token  string
	File   string
	Demo   bool
	DevURL string
	Wait   bool
	// Temporal is the connection --wait follows the run over: the same
	// settings (profile, API key, TLS) as every command, but defaulting to
	// dev's Temporal.
	Temporal     client.Options
	Notification contract.Notification
}

func loadSend(args, environ []string, output io.Writer) (sendConfig, error) {
	return config.Load("send", args, environ, output, registerSend)
}

func registerSend(l *config.Loader, c *sendConfig) (finish func()) {
	n := &c.Notification
	l.Str(&c.URL, "url", "SEND_URL", "http://"+devstack.DefaultIngressAddr+"/webhooks/wochit", "ingress webhook URL")
	l.Str(&c.Token, "token", "SEND_TOKEN", "", "ingress token, sent as Authorization: Bearer")
	l.Str(&c.File, "file", "", "", "read the notification JSON from this file ('-' for stdin)")
	l.Bool(&c.Demo, "demo", "", "false", "use the sample media that dev serves, and a fresh video id")
	l.Str(&c.DevURL, "dev-url", "", "http://"+devstack.DefaultDevAddr, "where dev serves its sample media (with --demo)")
	l.Bool(&c.Wait, "wait", "", "false", "follow the workflow and show progress until it completes")
	finishTemporal := l.TemporalSettings(&c.Temporal, devstack.DefaultTemporalAddr, devstack.Namespace)
	finishCodec := payloadCodec(l, &c.Temporal, devPayloadKeyFile)
	l.Str(&n.WochitVideoID, "video-id", "", "", "wochitVideoId (default: random with --demo)")
	l.Str(&n.VideoURL, "video-url", "", "", "videoUrl")
	l.Str(&n.ThumbnailURL, "thumbnail-url", "", "", "thumbnailUrl")
	l.Str(&n.Title, "title", "", "", "title")
	l.Str(&n.VideoContext, "context", "", "", "videoContext")
	return func() { finishTemporal(); finishCodec() }
}

// runSend posts one notification, like Wochit would, and optionally follows
// the workflow it started until it completes.
func runSend(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadSend(args, environ, stderr)
	if err != nil {
		return err
	}
	o := &cfg
	body, videoID, err := o.payload()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("--url is not a valid URL")
	}
	// What is printed names the route, never the token a path may carry.
	shown := routeOf(req.URL)
	req.Header.Set("Content-Type", "application/json")
	if o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+o.Token)
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
	if !o.Wait {
		return nil
	}
	var started struct{ WorkflowID, RunID string }
	if err := json.Unmarshal(answer, &started); err != nil || started.WorkflowID == "" {
		started.WorkflowID = workflows.WorkflowID(videoID)
	}
	c, closeClient, err := temporalclient.Dial(ctx, o.Temporal, temporalclient.Options{Logger: newLogger(logQuiet, io.Discard)})
	if err != nil {
		return fmt.Errorf("--wait needs Temporal at %s: %w", o.Temporal.HostPort, err)
	}
	defer closeClient()
	// A key that cannot decrypt the run is an error of its own
	// (operate.KeyError), never taken for the run's failure.
	return operate.Follow(ctx, c, operateOptions(cfg.Temporal), started.WorkflowID, started.RunID, stdout)
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
func (o *sendConfig) payload() (body []byte, videoID string, err error) {
	if o.File != "" {
		var raw []byte
		if o.File == "-" {
			raw, err = io.ReadAll(os.Stdin)
		} else {
			raw, err = os.ReadFile(o.File)
		}
		if err != nil {
			return nil, "", fmt.Errorf("--file: %w", err)
		}
		var n contract.Notification
		_ = json.Unmarshal(raw, &n) // the ingress judges the payload; we only want the id
		return raw, n.WochitVideoID, nil
	}
	n := o.Notification
	if o.Demo {
		if n.WochitVideoID == "" {
			n.WochitVideoID = "demo-" + randomHex(6)
		}
		base := strings.TrimSuffix(o.DevURL, "/")
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
