// Command wochit-ingest takes ownership of videos produced in the Wochit
// editor: it accepts Wochit's notification, copies the video and thumbnail
// into Google Cloud Storage through a durable Temporal workflow, and tells the
// customer's backend where they are with a signed callback.
//
//	wochit-ingest dev       everything in one process, for a laptop
//	wochit-ingest ingress   the HTTP front door (production)
//	wochit-ingest worker    the Temporal worker (production)
//	wochit-ingest send      post a notification to an ingress
//	wochit-ingest setup     register the search attributes in a namespace
//	wochit-ingest demo-server  demo media and a verifying callback receiver
//	wochit-ingest redeliver send a video's callback again
//	wochit-ingest version   print the version
//
// dev, send and demo-server embed the Temporal server, its Web UI and a GCS
// emulator; `go build -tags production` leaves them (and those modules) out
// of the binary platform teams deploy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/wochit-ingest/wochit-ingest/internal/metrics"
	"github.com/wochit-ingest/wochit-ingest/internal/tracing"
)

func main() {
	os.Exit(runWithSignals(os.Args[1:]))
}

// runWithSignals runs a command until it ends or SIGINT/SIGTERM asks it to
// stop cleanly, and returns the exit code.
func runWithSignals(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, let a second one kill the process the
		// default way, in case a clean shutdown hangs.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, args, os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wochit-ingest:", err)
		return 1
	}
	return 0
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error
	// settings declares the command's settings (nil: none), for the README
	// test; run reads them with the same declarations.
	settings func(*loader)
}

// commands are the production commands; a build without the production tag
// adds the dev ones (commands_dev.go).
var commands = []command{
	{"ingress", "serve the webhook endpoint (production)", runIngress, declare(registerIngress)},
	{"worker", "run the Temporal worker (production)", runWorker, declare(registerWorker)},
	{"setup", "register the search attributes wochit-ingest sets in a Temporal namespace", runSetup, declare(registerSetup)},
	{"redeliver", "send a video's callback again (signals the open run, or re-runs a failed one without re-downloading)", runRedeliver, declare(registerRedeliver)},
	{"codec-server", "decode workflow payloads for the Temporal Web UI and CLI (PAYLOAD_KEYS)", runCodecServer, declare(registerCodecServer)},
	{"version", "print the version", runVersion, nil},
}

// run is the whole program as a function of its inputs, so tests can run it.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errors.New("no command given")
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == name {
			err := c.run(ctx, args[1:], environ, stdout, stderr)
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", name)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: wochit-ingest <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'wochit-ingest <command> --help' for its flags. Every flag has an environment variable.")
}

// instrument sends a Temporal client's logs to log and its metrics to reg;
// call the returned func when the client is closed.
func instrument(opts *client.Options, log *slog.Logger, reg prometheus.Registerer) (stop func()) {
	sdkMetrics, closer := metrics.SDKHandler(reg)
	opts.Logger = sdklog.NewStructuredLogger(log.With("component", "temporal-sdk"))
	opts.MetricsHandler = sdkMetrics
	return func() { _ = closer.Close() }
}

func newLogger(c logConfig, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.Level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// startTracing turns tracing on when the environment asks for it (OTLP) and
// gives the Temporal client the SDK's tracing interceptor; call stop when
// the command ends, to flush the last spans.
func startTracing(ctx context.Context, command string, opts *client.Options, log *slog.Logger) (_ *tracing.Tracing, stop func(), err error) {
	tr, err := tracing.Setup(ctx, "wochit-ingest-"+command, currentVersion())
	if err != nil {
		return nil, nil, err
	}
	ic, err := tr.Interceptor()
	if err != nil {
		return nil, nil, err
	}
	opts.Interceptors = append(opts.Interceptors, ic)
	if tr.Enabled() {
		log.Info("tracing on: spans go to the OTLP endpoint")
	}
	return tr, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tr.Shutdown(ctx)
	}, nil
}

// logQuiet is for clients whose SDK chatter the user does not need.
var (
	logQuiet = logConfig{Level: slog.LevelError, Format: "text"}
	logInfo  = logConfig{Level: slog.LevelInfo, Format: "text"}
)
