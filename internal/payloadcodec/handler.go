package payloadcodec

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"net/http"
	"path"
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

	// Tokens are the shared secrets a caller must present on every
	// /encode and /decode request (401 otherwise), one of them, in either
	// of two places:
	//
	//   - "Authorization: Bearer <token>": the temporal CLI
	//     (--codec-auth "Bearer <token>") and other programs;
	//   - the path segment just before /encode or /decode, i.e. the
	//     endpoint https://codec.example.com/<token>: the Web UI, which
	//     cannot send a header of its own (ui-server v2.55 sends only
	//     Content-Type and X-Namespace, plus the signed-in user's OIDC
	//     token with codec.passAccessToken, which is not ours to check).
	//
	// Several may be valid at once, for rotation. Only their SHA-256
	// hashes are kept and every one is compared in constant time. CORS
	// preflights carry no credentials and are answered without a token.
	Tokens []string

	// Unauthenticated must be set to serve without Tokens. Without either,
	// every /encode and /decode request is refused: the handler fails
	// closed rather than decrypting for anyone who reaches it.
	Unauthenticated bool

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
// includeCredentials), requires one of opts.Tokens (in the path or as a
// Bearer), and limits the body size.
//
// Anyone who can call /decode can read the payloads: keep the tokens
// secret, and the server where only operators can reach it.
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
	for _, t := range opts.Tokens {
		if t != "" {
			h.tokens = append(h.tokens, sha256.Sum256([]byte(t)))
		}
	}
	h.open = opts.Unauthenticated && len(h.tokens) == 0
	return h
}

type handler struct {
	next    http.Handler
	origins map[string]bool
	tokens  [][sha256.Size]byte // SHA-256 of each accepted token
	open    bool                // no token required (HandlerOptions.Unauthenticated)
	maxBody int64
}

// authorized reports whether r presents one of the tokens, in the path
// (…/<token>/decode) or as a Bearer. Every hash is compared whatever
// matched, so timing says neither which token nor how much of one matched.
func (h *handler) authorized(r *http.Request) bool {
	if h.open {
		return true
	}
	var candidates []string
	dir, _ := path.Split(strings.TrimSuffix(r.URL.Path, "/"))
	if seg := path.Base(dir); seg != "" && seg != "/" && seg != "." {
		candidates = append(candidates, seg)
	}
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		if token = strings.TrimSpace(token); token != "" {
			candidates = append(candidates, token)
		}
	}
	match := 0
	for _, c := range candidates {
		sum := sha256.Sum256([]byte(c))
		for _, want := range h.tokens {
			match |= subtle.ConstantTimeCompare(sum[:], want[:])
		}
	}
	return match == 1
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

	if !h.authorized(r) {
		hdr.Set("WWW-Authenticate", `Bearer realm="temporal-codec"`)
		http.Error(w, "unauthorized: this codec server needs its token, as the last path segment of the endpoint or as a Bearer token", http.StatusUnauthorized)
		return
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
