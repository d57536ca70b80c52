package commands

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/internal/httpserver"
	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
	"github.com/wochit-ingest/wochit-ingest/internal/temporalclient"
)

// codecServerConfig configures `wochit-ingest codec-server`.
type codecServerConfig struct {
	config.Log
	Addr    string
	Keys    *payloadcodec.Keyring
	Handler payloadcodec.HandlerOptions
}

func loadCodecServer(args, environ []string, output io.Writer) (codecServerConfig, error) {
	return config.Load("codec-server", args, environ, output, registerCodecServer)
}

func registerCodecServer(l *config.Loader, c *codecServerConfig) (finish func()) {
	finishLog := l.LogSettings(&c.Log)
	var tokens []string
	l.Str(&c.Addr, "addr", "CODEC_ADDR", ":8089", "address the codec server listens on")
	l.List(&c.Handler.AllowedOrigins, "allowed-origins", "CODEC_ALLOWED_ORIGINS", "", "origins of the Temporal Web UI allowed to call it (CORS), comma-separated")
	l.List(&tokens, "tokens", "CODEC_TOKENS", "", "shared secrets (comma-separated, for rotation); each request presents one as the endpoint's last path segment (the Web UI) or as a Bearer token (the CLI); required, off: none")
	l.Document(config.Setting{Env: "PAYLOAD_KEYS", Usage: "the keys it decodes with (required), as for ingress and worker"})
	return func() {
		finishLog()
		switch {
		case len(tokens) == 1 && strings.EqualFold(tokens[0], "off"):
			c.Handler.Unauthenticated = true
		case len(tokens) == 0:
			l.Fail("CODEC_TOKENS", "required: it decrypts every payload for whoever presents one (generate one with: openssl rand -hex 32), or \"off\" to rely on the network alone")
		default:
			for _, t := range checkTokens(l, "CODEC_TOKENS", tokens) {
				c.Handler.Tokens = append(c.Handler.Tokens, string(t))
			}
		}
		keys := strings.TrimSpace(l.Env("PAYLOAD_KEYS"))
		if keys == payloadKeysOff {
			keys = "" // nothing to decode with
		}
		c.Keys = keyring(l, keys, "the keys the workers and the ingress encrypt with")
	}
}

// runCodecServer serves the Temporal codec endpoints (POST /encode, /decode)
// with PAYLOAD_KEYS, so the Web UI (its codec endpoint setting) and the
// temporal CLI (--codec-endpoint) show payloads decoded to operators who can
// reach it. Keep it where only operators can: it decrypts for any caller
// that presents one of CODEC_TOKENS (and, from a browser, comes from one of
// the CORS origins).
func runCodecServer(ctx context.Context, args, environ []string, _, stderr io.Writer) error {
	cfg, err := loadCodecServer(args, environ, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.Handle("/", payloadcodec.Handler(cfg.Keys, cfg.Handler))
	srv, err := httpserver.Start(cfg.Addr, httpserver.New(mux))
	if err != nil {
		return fmt.Errorf("CODEC_ADDR: %w", err)
	}
	log.Info("codec server listening", "addr", srv.Addr(), "keys", cfg.Keys.String(), "origins", fmt.Sprint(cfg.Handler.AllowedOrigins), "tokens", len(cfg.Handler.Tokens), "unauthenticated", cfg.Handler.Unauthenticated)
	return srv.Run(ctx, 5*time.Second)
}

// payloadKeysOff is the PAYLOAD_KEYS value that stores payloads unencrypted.
const payloadKeysOff = "off"

// payloadCodec reads PAYLOAD_KEYS, the keys that encrypt every payload a
// client writes to Temporal (the notification, with its signed URLs, above
// all), and sets the client's converters. Every client of a namespace needs
// the same keys. Unless devKeyFile is given (send, which falls back to dev's
// generated key), the variable is required: "off" opts out explicitly. It
// is read from the environment only, never a flag, so keys stay out of
// process listings. Call finish after the Temporal settings' finish.
func payloadCodec(l *config.Loader, dst *client.Options, devKeyFile string) (finish func()) {
	l.InGroup(config.GroupTemporal, func() {
		l.Document(config.Setting{Env: "PAYLOAD_KEYS", Usage: "payload encryption keys, id:base64(32 bytes), comma-separated, all but the encrypting one marked :decrypt-only (required; off: unencrypted)"})
	})
	return func() {
		keys := strings.TrimSpace(l.Env("PAYLOAD_KEYS"))
		if keys == "" && devKeyFile != "" {
			if b, err := os.ReadFile(devKeyFile); err == nil {
				keys = strings.TrimSpace(string(b))
			} else {
				return // not dev's machine: send without --wait needs no key
			}
		}
		if keys == payloadKeysOff {
			return
		}
		if ring := keyring(l, keys, "the keys that encrypt workflow payloads (see README, Encrypted histories), or \"off\" to store them unencrypted"); ring != nil {
			temporalclient.Encrypt(dst, ring)
		}
	}
}

// keyring parses PAYLOAD_KEYS, failing with "required: <what>" when empty.
func keyring(l *config.Loader, keys, what string) *payloadcodec.Keyring {
	if keys == "" {
		l.Fail("PAYLOAD_KEYS", "required: %s", what)
		return nil
	}
	ring, err := payloadcodec.ParseKeyring(keys)
	if err != nil {
		l.Fail("PAYLOAD_KEYS", "%v", err)
		return nil
	}
	return ring
}
