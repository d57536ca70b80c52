//go:build !production

package main

import (
	"io"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/devstack"
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
	return load("send", args, environ, output, registerSend)
}

func registerSend(l *loader, c *sendConfig) (finish func()) {
	n := &c.Notification
	l.str(&c.URL, "url", "SEND_URL", "http://127.0.0.1:8080/webhooks/wochit", "ingress webhook URL")
	l.str(&c.Token, "token", "SEND_TOKEN", "", "ingress token, sent as Authorization: Bearer")
	l.str(&c.File, "file", "", "", "read the notification JSON from this file ('-' for stdin)")
	l.boolean(&c.Demo, "demo", "", "false", "use the sample media that dev serves, and a fresh video id")
	l.str(&c.DevURL, "dev-url", "", "http://"+devstack.DefaultDevAddr, "where dev serves its sample media (with --demo)")
	l.boolean(&c.Wait, "wait", "", "false", "follow the workflow and show progress until it completes")
	finishTemporal := l.temporalSettings(&c.Temporal, devstack.DefaultTemporalAddr, devstack.Namespace)
	finishCodec := l.payloadCodec(&c.Temporal, devPayloadKeyFile)
	l.str(&n.WochitVideoID, "video-id", "", "", "wochitVideoId (default: random with --demo)")
	l.str(&n.VideoURL, "video-url", "", "", "videoUrl")
	l.str(&n.ThumbnailURL, "thumbnail-url", "", "", "thumbnailUrl")
	l.str(&n.Title, "title", "", "", "title")
	l.str(&n.VideoContext, "context", "", "", "videoContext")
	return func() { finishTemporal(); finishCodec() }
}
