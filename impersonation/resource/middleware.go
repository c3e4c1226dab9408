package resource

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/actas/actas/internal/wire"
	"github.com/actas/actas/store"
)

type principalKey struct{}

// middlewareKey carries, beside the Principal, the Middleware that put it
// there, so that RequireScope and ForbidImpersonation answer with its
// realm and record with its auditor.
type middlewareKey struct{}

// WithPrincipal returns a copy of ctx carrying p, as [Middleware] does.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// defaultMiddleware is what RequireScope and ForbidImpersonation use when
// no Middleware ran: realm "api", no audit.
var defaultMiddleware = &middleware{realm: "api"}

// middlewareFrom returns the Middleware that ran for ctx, or the default.
func middlewareFrom(ctx context.Context) *middleware {
	if m, ok := ctx.Value(middlewareKey{}).(*middleware); ok && m != nil {
		return m
	}
	return defaultMiddleware
}

// PrincipalFrom returns the Principal that [Middleware] put in ctx.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// MiddlewareOption configures [Middleware].
type MiddlewareOption func(*middleware)

// WithRealm sets the realm of WWW-Authenticate challenges.
func WithRealm(realm string) MiddlewareOption { return func(m *middleware) { m.realm = realm } }

// WithRequestAudit records an audit event for every request refused for
// an invalid token (store.EventRequestRefused, with the failed check as
// reason), and (store.EventImpersonatedRequest:
// method, path, subject, actor, client, scopes, jti) for every
// state-changing request (any method but GET, HEAD and OPTIONS) made with
// an impersonated token, before the handler runs, with outcome
// store.OutcomeAttempted (the handler may still refuse it). If the event
// cannot be recorded the request is refused with 503: nothing is changed
// under impersonation without a trace.
func WithRequestAudit(a store.Auditor) MiddlewareOption {
	return func(m *middleware) { m.audit = a }
}

type middleware struct {
	v     *Verifier
	realm string
	audit store.Auditor
}

// Middleware verifies the bearer access token (RFC 6750 §2.1) of every
// request and puts its [Principal] in the request context for next.
// A request without a token is answered 401 with a bare Bearer challenge
// (RFC 6750 §3.1); an invalid token 401 with error="invalid_token"; a key
// or revocation store failure 503.
func Middleware(v *Verifier, opts ...MiddlewareOption) func(http.Handler) http.Handler {
	m := &middleware{v: v, realm: "api"}
	for _, o := range opts {
		o(m)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := wire.BearerToken(r)
			if !ok {
				m.challenge(w, http.StatusUnauthorized, "", "")
				return
			}
			p, err := m.v.Verify(r.Context(), token)
			switch {
			case errors.Is(err, ErrInvalidToken):
				if m.audit != nil {
					// A stolen subject or ID token, a revoked or forged
					// token tried here leaves a trace; the reason names the
					// failed check, never the token.
					_ = m.audit.Record(r.Context(), store.Event{
						Type:    store.EventRequestRefused,
						Time:    m.v.now().UTC(),
						Outcome: store.OutcomeDenied,
						Reason:  "invalid_token: " + err.Error(),
						Method:  r.Method,
						Path:    r.URL.Path,
					})
				}
				m.challenge(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid")
				return
			case err != nil:
				wire.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "try again later")
				return
			}
			if m.audit != nil && p.Impersonated() && stateChanging(r.Method) {
				if err := m.audit.Record(r.Context(), m.requestEvent(r, p, store.OutcomeAttempted)); err != nil {
					wire.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "try again later")
					return
				}
			}
			ctx := context.WithValue(WithPrincipal(r.Context(), p), middlewareKey{}, m)
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// RequireScope refuses, with 403 and error="insufficient_scope" (RFC 6750
// §3.1), a request whose Principal lacks any of scopes, and with 401 one
// that has no Principal (Middleware did not run). Its challenges carry the
// realm of the Middleware in front of it ("api" without one).
func RequireScope(scopes ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m := middlewareFrom(r.Context())
			p, ok := PrincipalFrom(r.Context())
			if !ok {
				m.challenge(w, http.StatusUnauthorized, "", "")
				return
			}
			for _, s := range scopes {
				if !p.Scope.Contains(s) {
					wire.WriteBearerError(w, http.StatusForbidden, m.realm, "insufficient_scope", "the access token lacks a required scope", strings.Join(scopes, " "))
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ForbidImpersonation refuses with 403 any request made under
// impersonation, for operations only the account holder may perform
// (password or MFA changes, deleting the account, ...). Requests without a
// Principal get 401, with the realm of the Middleware in front of it. Behind
// a Middleware WithRequestAudit, a refusal is recorded as
// store.EventImpersonatedRequest with outcome store.OutcomeDenied (after
// the Middleware's attempted event for a state-changing request); if that
// record fails, the answer is 503 rather than 403.
func ForbidImpersonation(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := middlewareFrom(r.Context())
		p, ok := PrincipalFrom(r.Context())
		switch {
		case !ok:
			m.challenge(w, http.StatusUnauthorized, "", "")
		case p.Impersonated():
			if m.audit != nil {
				ev := m.requestEvent(r, p, store.OutcomeDenied)
				ev.Reason = "forbidden under impersonation"
				if err := m.audit.Record(r.Context(), ev); err != nil {
					wire.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "try again later")
					return
				}
			}
			wire.WriteError(w, http.StatusForbidden, "access_denied", "not allowed while impersonating")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// requestEvent is the store.EventImpersonatedRequest of r made under p's
// impersonation, with outcome. Only a Middleware with an auditor records,
// and it has a Verifier.
func (m *middleware) requestEvent(r *http.Request, p *Principal, outcome string) store.Event {
	ev := store.Event{
		Type:     store.EventImpersonatedRequest,
		Time:     m.v.now().UTC(),
		ClientID: p.ClientID,
		Subject:  p.Subject,
		Org:      p.OrgID,
		JTI:      p.TokenID,
		Scopes:   p.Scope,
		Outcome:  outcome,
		Method:   r.Method,
		Path:     r.URL.Path,
		// The reason, when the issuer puts it in the token
		// (impersonation_reason).
		Justification: p.Reason,
	}
	if p.Actor != nil {
		ev.Impersonator = p.Actor.Subject
	}
	return ev
}

func (m *middleware) challenge(w http.ResponseWriter, status int, code, desc string) {
	wire.WriteBearerError(w, status, m.realm, code, desc, "")
}

func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}
