package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
)

// payloadKeysOff is the PAYLOAD_KEYS value that stores payloads unencrypted.
const payloadKeysOff = "off"

// payloadCodec reads PAYLOAD_KEYS, the keys that encrypt every payload a
// client writes to Temporal (the notification, with its signed URLs, above
// all), and sets the client's converters. Every client of a namespace needs
// the same keys. Unless devKeyFile is given (send, which falls back to dev's
// generated key), the variable is required: "off" opts out explicitly. It
// is read from the environment only, never a flag, so keys stay out of
// process listings. Call finish after the Temporal settings' finish.
func (l *loader) payloadCodec(dst *client.Options, devKeyFile string) (finish func()) {
	l.settings = append(l.settings, setting{Env: "PAYLOAD_KEYS", Usage: "payload encryption keys, id:base64(32 bytes), comma-separated, all but the encrypting one marked :decrypt-only (required; off: unencrypted)"})
	return func() {
		keys := strings.TrimSpace(l.env["PAYLOAD_KEYS"])
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
		if ring := l.keyring(keys, "the keys that encrypt workflow payloads (see README, Encrypted histories), or \"off\" to store them unencrypted"); ring != nil {
			dst.DataConverter = payloadcodec.DataConverter(ring)
			dst.FailureConverter = payloadcodec.FailureConverter(ring)
		}
	}
}

// keyring parses PAYLOAD_KEYS, failing with "required: <what>" when empty.
func (l *loader) keyring(keys, what string) *payloadcodec.Keyring {
	if keys == "" {
		l.fail("PAYLOAD_KEYS", "required: %s", what)
		return nil
	}
	ring, err := payloadcodec.ParseKeyring(keys)
	if err != nil {
		l.fail("PAYLOAD_KEYS", "%v", err)
		return nil
	}
	return ring
}

// codecServerConfig configures `wochit-ingest codec-server`.
type codecServerConfig struct {
	logConfig
	Addr    string
	Keys    *payloadcodec.Keyring
	Handler payloadcodec.HandlerOptions
}

func loadCodecServer(args, environ []string, output io.Writer) (codecServerConfig, error) {
	return load("codec-server", args, environ, output, registerCodecServer)
}

func registerCodecServer(l *loader, c *codecServerConfig) (finish func()) {
	finishLog := l.logSettings(&c.logConfig)
	var tokens []string
	l.str(&c.Addr, "addr", "CODEC_ADDR", ":8089", "address the codec server listens on")
	l.list(&c.Handler.AllowedOrigins, "allowed-origins", "CODEC_ALLOWED_ORIGINS", "", "origins of the Temporal Web UI allowed to call it (CORS), comma-separated")
	l.list(&tokens, "tokens", "CODEC_TOKENS", "", "shared secrets (comma-separated, for rotation); each request presents one as the endpoint's last path segment (the Web UI) or as a Bearer token (the CLI); required, off: none")
	l.settings = append(l.settings,
		setting{Env: "PAYLOAD_KEYS", Usage: "the keys it decodes with (required), as for ingress and worker"},
	)
	return func() {
		finishLog()
		switch {
		case len(tokens) == 1 && strings.EqualFold(tokens[0], "off"):
			c.Handler.Unauthenticated = true
		case len(tokens) == 0:
			l.fail("CODEC_TOKENS", "required: it decrypts every payload for whoever presents one (generate one with: openssl rand -hex 32), or \"off\" to rely on the network alone")
		default:
			for _, t := range l.tokens("CODEC_TOKENS", tokens) {
				c.Handler.Tokens = append(c.Handler.Tokens, string(t))
			}
		}
		keys := strings.TrimSpace(l.env["PAYLOAD_KEYS"])
		if keys == payloadKeysOff {
			keys = "" // nothing to decode with
		}
		c.Keys = l.keyring(keys, "the keys the workers and the ingress encrypt with")
	}
}

// devPayloadKeyFile is where `dev` with its default data dir keeps its key.
var devPayloadKeyFile = filepath.Join(".data", "payload-keys")
