// Package api is the protected resource server of the examples: a small
// JSON API that accepts the impersonated access tokens of an actas issuer
// and shows what a resource server does with them.
//
//   - GET /api/me answers who the token speaks for: sub, act (the
//     impersonator, null when nobody acts for the subject), scope, org_id
//     and client_id.
//   - POST /api/password stands for an operation only the account holder
//     may perform: it is refused with 403 and a JSON explanation to
//     impersonated callers (resource.ForbidImpersonation) and answered
//     204 otherwise. The demo changes no password.
//
// Every route sits behind resource.Middleware: a request without a
// valid bearer token gets an RFC 6750 401, and every state-changing
// request made under impersonation is recorded with the given Auditor
// before it runs (resource.WithRequestAudit).
//
// The reference server (examples/server) mounts Handler at /api/;
// examples/api/cmd/api runs it alone against a remote issuer's JWKS.
package api

import (
	"encoding/json"
	"net/http"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/store"
)

// Me is the answer of GET /api/me.
type Me struct {
	// Subject is the user whose identity the token carries.
	Subject string `json:"sub"`
	// Act is who really acts (the impersonator), nil when nobody does.
	Act *claims.Actor `json:"act"`
	// Scope is the token's scope, space-delimited on the wire.
	Scope claims.Scope `json:"scope"`
	// OrgID is the subject's organisation.
	OrgID string `json:"org_id"`
	// ClientID is the client the token was issued to.
	ClientID string `json:"client_id"`
}

// Handler returns the API: GET /api/me and POST /api/password, each behind
// resource.Middleware with v, recording impersonated state-changing
// requests to audit. audit may be nil to record nothing. Other paths are
// 404 and other methods 405, after the token check.
func Handler(v *resource.Verifier, audit store.Auditor) http.Handler {
	var opts []resource.MiddlewareOption
	if audit != nil {
		opts = append(opts, resource.WithRequestAudit(audit))
	}
	protect := resource.Middleware(v, opts...)

	mux := http.NewServeMux()
	mux.Handle("GET /api/me", protect(http.HandlerFunc(me)))
	mux.Handle("POST /api/password", protect(resource.ForbidImpersonation(http.HandlerFunc(changePassword))))
	// Unknown paths and methods are only answered to authenticated
	// callers, so that the API's shape is not probed anonymously.
	mux.Handle("/api/", protect(http.NotFoundHandler()))
	mux.Handle("/api/me", protect(methodNotAllowed("GET, HEAD")))
	mux.Handle("/api/password", protect(methodNotAllowed("POST")))
	return mux
}

func me(w http.ResponseWriter, r *http.Request) {
	p, ok := resource.PrincipalFrom(r.Context())
	if !ok { // Middleware always sets it; be safe anyway.
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	scope := p.Scope
	if scope == nil {
		scope = claims.Scope{}
	}
	writeJSON(w, http.StatusOK, Me{
		Subject:  p.Subject,
		Act:      p.Actor,
		Scope:    scope,
		OrgID:    p.OrgID,
		ClientID: p.ClientID,
	})
}

// changePassword is reached only by the account holder
// (ForbidImpersonation refused everyone else). The demo changes nothing.
func changePassword(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{
			"error": "invalid_request", "error_description": "method not allowed",
		})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
