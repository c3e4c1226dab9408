package impersonation

import (
	"net/http"

	"github.com/actas/actas/internal/wire"
	"github.com/actas/actas/store"
)

// jwksHandler serves the public keys of keys as a JWK Set (RFC 7517 §5):
// what the jwks_uri of the discovery document points at. After a rotation
// it keeps serving retired keys until they stop verifying. It answers GET
// and HEAD, 405 otherwise.
func jwksHandler(keys store.KeySet) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			wire.WriteError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
			return
		}
		pub, err := keys.PublicKeys(r.Context())
		if err != nil {
			wire.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "try again later")
			return
		}
		body, err := store.MarshalJWKS(pub)
		if err != nil {
			wire.WriteError(w, http.StatusInternalServerError, "server_error", "internal error")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=60")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}
