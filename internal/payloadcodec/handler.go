package payloadcodec

import (
	"bytes"
	"crypto/subtle"
	"io"
	"net/http"
	"strconv"
	"strings"

	"go.temporal.io/sdk/converter"
)

// DefaultMaxBodyBytes is the request body limit of Handler unless
// HandlerOptions.MaxBodyBytes says otherwise.
const DefaultMaxBodyBytes = 4 << 20

// HandlerOptions configure Handler.
type HandlerOptions struct {
	// AllowedOrigins are the origins (scheme://host[:port], exactly as the
	// browser sends them in Origin, e.g. "https://temporal.example.com" or
	// "http://127.0.0.1:8233") of the Temporal Web UIs that may call the
	// codec server from a browser. Requests carrying any other Origin are
	// refused with 403 and get no CORS headers. Requests without Origin
	// (the temporal CLI, curl, other servers) are not affected.
	AllowedOrigins []string

	// Token, when set, is required as "Authorization: Bearer <Token>" on
	// every /encode and /decode request (401 otherwise). CORS preflights
	// carry no credentials and are answered without it.
	//
	// Note: the Web UI cannot send a static token. With the UI's
	// codec.passAccessToken it sends the signed-in user's OIDC access token
	// as the Bearer (only to an https:// endpoint), which will not equal
	// Token; so either leave Token empty for a UI-facing codec server that
	// is protected otherwise (private network, identity-aware proxy), or use
	// Token for the CLI (temporal --codec-endpoint URL --codec-auth "Bearer
	// <Token>") and other programmatic callers.
	Token string

	// MaxBodyBytes limits a request body (413 beyond it). Zero means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// Handler returns a Temporal codec server for the Web UI and the CLI: POST
// <prefix>/encode and POST <prefix>/decode with a JSON body
// {"payloads":[...]} as converter.NewPayloadCodecHTTPHandler serves them
// (the paths only need to end in /encode or /decode, so the handler can be
// mounted under a prefix such as /codec/).
//
// On top of that it answers CORS for opts.AllowedOrigins (the UI sends
// Content-Type: application/json and X-Namespace, plus Authorization and
// Authorization-Extras with passAccessToken, and credentials with
// includeCredentials), checks opts.Token in constant time, and limits the
// body size.
//
// Anyone who can call /decode can read the payloads: do not expose it
// without a Token or network-level protection.
func Handler(ring *Keyring, opts HandlerOptions) http.Handler {
	h := &handler{
		next:    converter.NewPayloadCodecHTTPHandler(NewCodec(ring)),
		origins: make(map[string]bool, len(opts.AllowedOrigins)),
		maxBody: opts.MaxBodyBytes,
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	for _, o := range opts.AllowedOrigins {
		if o = normalizeOrigin(o); o != "" {
			h.origins[o] = true
		}
	}
	if opts.Token != "" {
		h.wantToken = []byte(opts.Token)
	}
	return h
}

type handler struct {
	next      http.Handler
	origins   map[string]bool
	wantToken []byte // nil: no token required
	maxBody   int64
}

// allowedHeaders are those the Temporal Web UI (ui-server v2.55) sets on its
// codec requests.
const allowedHeaders = "Content-Type, X-Namespace, Authorization, Authorization-Extras"

func normalizeOrigin(o string) string {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	if origin := r.Header.Get("Origin"); origin != "" {
		if !h.origins[normalizeOrigin(origin)] {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Credentials", "true")
	}

	if r.Method == http.MethodOptions {
		// Preflight (browsers send it without credentials).
		hdr.Add("Vary", "Access-Control-Request-Method")
		hdr.Add("Vary", "Access-Control-Request-Headers")
		hdr.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		hdr.Set("Access-Control-Allow-Headers", allowedHeaders)
		hdr.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost {
		hdr.Set("Allow", "POST, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}

	if h.wantToken != nil {
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), h.wantToken) != 1 {
			hdr.Set("WWW-Authenticate", `Bearer realm="temporal-codec"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}

	if r.ContentLength > h.maxBody {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	if err != nil {
		http.Error(w, "reading request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if int64(len(body)) > h.maxBody {
		http.Error(w, "request body too large (limit "+strconv.FormatInt(h.maxBody, 10)+" bytes)", http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	h.next.ServeHTTP(w, r)
}
