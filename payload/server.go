package payload

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// DefaultMaxBodyBytes bounds one /encode or /decode request: the UI decodes a page of
// history at a time, and Temporal caps a payload at 2 MB.
const DefaultMaxBodyBytes = 8 << 20

// ServerOptions configure a codec server (Handler).
type ServerOptions struct {
	// Codecs encode and decode, as Options.Codecs returns them.
	Codecs []converter.PayloadCodec
	// Origins may call from a browser (CORS): the Temporal UI's origin, such as
	// http://127.0.0.1:8233. "*" allows any origin (never with a token).
	Origins []string
	// Token, when set, must come as "Authorization: Bearer <Token>".
	Token string
	// Namespaces, when set, are the only values accepted in the X-Namespace header.
	Namespaces []string
	// MaxBodyBytes: DefaultMaxBodyBytes when zero.
	MaxBodyBytes int64
}

// Handler serves Temporal's remote codec protocol: POST .../encode and .../decode with
// {"payloads":[...]} (the JSON form of temporal.api.common.v1.Payloads), as the
// Temporal UI and CLI call it, with CORS for the UI's origin. GET /healthz answers ok.
func Handler(o ServerOptions) http.Handler {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	codec := converter.NewPayloadCodecHTTPHandler(o.Codecs...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/healthz" {
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		o.cors(w, r)
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != http.MethodPost {
			http.Error(w, "POST .../encode or .../decode", http.StatusMethodNotAllowed)
			return
		}
		if !o.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="reelflow codec"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		if ns := r.Header.Get("X-Namespace"); len(o.Namespaces) > 0 && !slices.Contains(o.Namespaces, ns) {
			http.Error(w, "namespace "+quote(ns)+" is not served here", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, o.MaxBodyBytes)
		codec.ServeHTTP(w, r)
	})
}

func (o ServerOptions) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || !(slices.Contains(o.Origins, origin) || slices.Contains(o.Origins, "*")) {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Max-Age", "600")
}

func (o ServerOptions) authorized(r *http.Request) bool {
	if o.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(o.Token)) == 1
}

// bearer returns a request hook that sets the bearer token, or nil without one.
func bearer(token string) func(*http.Request) error {
	if token == "" {
		return nil
	}
	return func(r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' {
			return '?'
		}
		return r
	}, s) + `"`
}
