// Package commands is the wochit-ingest command line: one file per command,
// holding its settings and its run function, and the table of commands
// here. main calls Main; tests call run, the whole program as a function of
// its inputs.
//
// dev, send and demo-server (devcommands.go) embed the Temporal server, its
// Web UI and a GCS emulator; `go build -tags production` leaves them (and
// those modules) out of the binary platform teams deploy.
package commands

//go:generate go run ./gendocs -o ../docs/configuration.md

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

	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/internal/logging"
	"github.com/wochit-ingest/wochit-ingest/internal/tracing"
)

// Main runs the command args name until it ends or SIGINT/SIGTERM asks it
// to stop cleanly, and returns the exit code. version is the one set at
// build time (main.version), if any.
func Main(args []string, version string) int {
	linkedVersion = version
	return runWithSignals(args)
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
	// settings declares the command's settings (nil: none), for the
	// configuration reference; run reads them with the same declarations.
	settings func(*config.Loader)
}

// commands are the commands of this build: the dev ones (devcommands.go;
// none with -tags production), then the production ones.
var commands = append(devCommands(), []command{
	{"ingress", "serve the webhook endpoint (production)", runIngress, config.Declare(registerIngress)},
	{"worker", "run the Temporal worker (production)", runWorker, config.Declare(registerWorker)},
	{"setup", "register the search attributes wochit-ingest sets in a Temporal namespace", runSetup, config.Declare(registerSetup)},
	{"status", "show a video's run decrypted: stage, deadlines, files, callback attempts, failure reason", runStatus, config.Declare(registerStatus)},
	{"list", "list runs by filter: --failed, --reason, --stage, --callback, --since/--until, --context", runList, config.Declare(registerList)},
	{"follow", "follow a video's run until it closes (the progress send --wait shows)", runFollow, config.Declare(registerFollow)},
	{"redeliver", "send a video's callback again, or every matching video's (list's filters); stored files are never downloaded again", runRedeliver, config.Declare(registerRedeliver)},
	{"codec-server", "decode workflow payloads for the Temporal Web UI and CLI (PAYLOAD_KEYS)", runCodecServer, config.Declare(registerCodecServer)},
	{"version", "print the version", runVersion, nil},
}...)

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
	if leftOut(name) {
		return fmt.Errorf("%q is a development command, left out of this production build (-tags production): build without the tag to use it", name)
	}
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

// newLogger logs in c's format: text, or JSON in Cloud Logging's shape
// (internal/logging). The loader has checked the format already; an unknown
// one logs text.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	h, err := logging.NewHandler(w, logging.Options{Level: c.Level, Format: c.Format, ProjectID: c.Project})
	if err != nil {
		h = slog.NewTextHandler(w, &slog.HandlerOptions{Level: c.Level})
	}
	return slog.New(h)
}

// startTracing turns tracing on when the environment asks for it (OTLP), for
// the Temporal client's interceptor and the servers; call stop when the
// command ends, to flush the last spans.
func startTracing(ctx context.Context, command string, log *slog.Logger) (_ *tracing.Tracing, stop func(), err error) {
	tr, err := tracing.Setup(ctx, "wochit-ingest-"+command, currentVersion())
	if err != nil {
		return nil, nil, err
	}
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
	logQuiet = config.Log{Level: slog.LevelError, Format: "text"}
	logInfo  = config.Log{Level: slog.LevelInfo, Format: "text"}
)
