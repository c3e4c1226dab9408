package resource_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
)

// recordingHandler remembers whether it ran and the Principal it saw.
type recordingHandler struct {
	calls     atomic.Int32
	principal atomic.Pointer[resource.Principal]
}

func (h *recordingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	if p, ok := resource.PrincipalFrom(r.Context()); ok {
		h.principal.Store(p)
	}
	w.WriteHeader(http.StatusNoContent)
}

// call sends method path with the given Authorization header values to h.
func call(h http.Handler, method, path string, authorization ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	for _, a := range authorization {
		r.Header.Add("Authorization", a)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// jsonError decodes an error body's error member.
func jsonError(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body map[string]string
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	return body["error"]
}

func TestMiddleware_BearerChallenges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		authorization func(t testing.TB, f *fixture) []string
		opts          []resource.MiddlewareOption
		wantStatus    int
		wantChallenge string // exact WWW-Authenticate, or prefix when wantError
		wantError     string
	}{
		{name: "no token", authorization: func(testing.TB, *fixture) []string { return nil },
			wantStatus: 401, wantChallenge: `Bearer realm="api"`},
		{name: "no token, custom realm", opts: []resource.MiddlewareOption{resource.WithRealm("orders")},
			authorization: func(testing.TB, *fixture) []string { return nil },
			wantStatus:    401, wantChallenge: `Bearer realm="orders"`},
		{name: "Basic credentials are no bearer token", authorization: func(testing.TB, *fixture) []string { return []string{"Basic YWxpY2U6c2VjcmV0"} },
			wantStatus: 401, wantChallenge: `Bearer realm="api"`},
		{name: "empty bearer", authorization: func(testing.TB, *fixture) []string { return []string{"Bearer "} },
			wantStatus: 401, wantChallenge: `Bearer realm="api"`},
		{name: "two Authorization headers", authorization: func(t testing.TB, f *fixture) []string {
			at := f.accessToken(t)
			return []string{"Bearer " + at, "Bearer " + at}
		}, wantStatus: 401, wantChallenge: `Bearer realm="api"`},
		{name: "invalid token", authorization: func(testing.TB, *fixture) []string { return []string{"Bearer not-a-token"} },
			wantStatus: 401, wantChallenge: `Bearer realm="api", error="invalid_token"`, wantError: "invalid_token"},
		{name: "invalid token, custom realm", opts: []resource.MiddlewareOption{resource.WithRealm("orders")},
			authorization: func(testing.TB, *fixture) []string { return []string{"Bearer not-a-token"} },
			wantStatus:    401, wantChallenge: `Bearer realm="orders", error="invalid_token"`, wantError: "invalid_token"},
		{name: "subject token as bearer", authorization: func(t testing.TB, f *fixture) []string {
			st, _ := flow(t, f)
			return []string{"Bearer " + st}
		}, wantStatus: 401, wantChallenge: `Bearer realm="api", error="invalid_token"`, wantError: "invalid_token"},
		{name: "ID token as bearer", authorization: func(t testing.TB, f *fixture) []string {
			_, id := flow(t, f)
			return []string{"Bearer " + id}
		}, wantStatus: 401, wantChallenge: `Bearer realm="api", error="invalid_token"`, wantError: "invalid_token"},
		{name: "valid token", authorization: func(t testing.TB, f *fixture) []string { return []string{"Bearer " + f.accessToken(t)} },
			wantStatus: 204},
		{name: "valid token, lower-case scheme", authorization: func(t testing.TB, f *fixture) []string { return []string{"bearer " + f.accessToken(t)} },
			wantStatus: 204},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			next := &recordingHandler{}
			h := resource.Middleware(f.verifier(t, appID), tc.opts...)(next)
			w := call(h, http.MethodGet, "/orders", tc.authorization(t, f)...)

			assert.Equal(t, tc.wantStatus, w.Code)
			if tc.wantStatus != http.StatusNoContent {
				assert.Zero(t, next.calls.Load(), "handler not called")
				got := w.Header().Get("WWW-Authenticate")
				if tc.wantError == "" {
					assert.Equal(t, tc.wantChallenge, got, "no error attribute without a token (RFC 6750 §3.1)")
					assert.Empty(t, w.Body.String(), "no error information without a token (RFC 6750 §3.1)")
				} else {
					assert.True(t, strings.HasPrefix(got, tc.wantChallenge), "WWW-Authenticate: %q", got)
					assert.Equal(t, tc.wantError, jsonError(t, w))
				}
				assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
				return
			}
			require.Equal(t, int32(1), next.calls.Load())
			p := next.principal.Load()
			require.NotNil(t, p, "handler sees the Principal")
			assert.Equal(t, "bob", p.Subject)
			assert.Equal(t, "alice", p.Actor.Subject)
			assert.Equal(t, appID, p.ClientID)
		})
	}
}

func TestMiddleware_KeyOrRevocationStoreFailureIs503(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	next := &recordingHandler{}
	h := resource.Middleware(f.verifier(t, appID, resource.WithRevocation(failingRevocation{})))(next)
	w := call(h, http.MethodGet, "/orders", "Bearer "+f.accessToken(t))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "temporarily_unavailable", jsonError(t, w))
	assert.NotContains(t, w.Body.String(), "redis")
	assert.Zero(t, next.calls.Load())
}

func TestMiddleware_RevokedTokenIs401(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	at := f.accessToken(t)
	require.NoError(t, f.db.Revoke(context.Background(), testkit.DecodeJWT(t, at).Str(t, "jti"), f.clock.Now().Add(2*time.Hour)))
	next := &recordingHandler{}
	h := resource.Middleware(f.verifier(t, appID, resource.WithRevocation(f.db)))(next)
	w := call(h, http.MethodGet, "/orders", "Bearer "+at)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Contains(t, w.Header().Get("WWW-Authenticate"), `error="invalid_token"`)
	assert.Zero(t, next.calls.Load())
}

func TestRequireScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		scopes     []string
		wantStatus int
	}{
		{name: "held scope passes", scopes: []string{scopeOrdersRead}, wantStatus: http.StatusNoContent},
		{name: "every held scope passes", scopes: []string{"openid", scopeOrdersRead}, wantStatus: http.StatusNoContent},
		{name: "scope the subject lacks is insufficient_scope", scopes: []string{scopeOrdersWrite}, wantStatus: http.StatusForbidden},
		{name: "one missing of several is insufficient_scope", scopes: []string{scopeOrdersRead, scopeOrdersWrite}, wantStatus: http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			next := &recordingHandler{}
			h := resource.Middleware(f.verifier(t, appID))(resource.RequireScope(tc.scopes...)(next))
			w := call(h, http.MethodGet, "/orders", "Bearer "+f.accessToken(t))
			assert.Equal(t, tc.wantStatus, w.Code)
			if tc.wantStatus == http.StatusForbidden {
				assert.Zero(t, next.calls.Load())
				assert.Equal(t, "insufficient_scope", jsonError(t, w))
				wa := w.Header().Get("WWW-Authenticate")
				assert.Contains(t, wa, `error="insufficient_scope"`)
				assert.Contains(t, wa, `scope="`+strings.Join(tc.scopes, " ")+`"`)
			} else {
				assert.Equal(t, int32(1), next.calls.Load())
			}
		})
	}
}

func TestRequireScope_WithoutPrincipalIs401(t *testing.T) {
	t.Parallel()
	next := &recordingHandler{}
	w := call(resource.RequireScope(scopeOrdersRead)(next), http.MethodGet, "/orders")
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `Bearer realm="api"`, w.Header().Get("WWW-Authenticate"))
	assert.Zero(t, next.calls.Load())
}

func TestForbidImpersonation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		principal  *resource.Principal
		wantStatus int
	}{
		{name: "impersonated caller refused", principal: &resource.Principal{Subject: "bob", Actor: &claims.Actor{Subject: "alice"}, ClientID: appID}, wantStatus: http.StatusForbidden},
		{name: "nested impersonation refused", principal: &resource.Principal{Subject: "bob", Actor: &claims.Actor{Subject: "alice", Act: &claims.Actor{Subject: "root"}}}, wantStatus: http.StatusForbidden},
		{name: "account holder passes", principal: &resource.Principal{Subject: "bob", ClientID: appID}, wantStatus: http.StatusNoContent},
		{name: "no principal is 401", principal: nil, wantStatus: http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			next := &recordingHandler{}
			r := httptest.NewRequest(http.MethodPost, "/account/password", nil)
			if tc.principal != nil {
				r = r.WithContext(resource.WithPrincipal(r.Context(), tc.principal))
			}
			w := httptest.NewRecorder()
			resource.ForbidImpersonation(next).ServeHTTP(w, r)
			assert.Equal(t, tc.wantStatus, w.Code)
			if tc.wantStatus == http.StatusNoContent {
				assert.Equal(t, int32(1), next.calls.Load())
				return
			}
			assert.Zero(t, next.calls.Load())
			if tc.wantStatus == http.StatusForbidden {
				assert.Equal(t, "access_denied", jsonError(t, w))
			}
		})
	}
}

func TestForbidImpersonation_BehindMiddleware(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	next := &recordingHandler{}
	h := resource.Middleware(f.verifier(t, appID))(resource.ForbidImpersonation(next))
	w := call(h, http.MethodPost, "/account/password", "Bearer "+f.accessToken(t))
	assert.Equal(t, http.StatusForbidden, w.Code)
	assert.Zero(t, next.calls.Load())
}

func TestMiddleware_RequestAudit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		impersonal bool // a token without act
		reason     string
		wantEvent  bool
	}{
		{name: "POST under impersonation, with the reason claim", method: http.MethodPost, reason: "ticket 4711", wantEvent: true},
		{name: "POST under impersonation", method: http.MethodPost, wantEvent: true},
		{name: "PUT under impersonation", method: http.MethodPut, wantEvent: true},
		{name: "PATCH under impersonation", method: http.MethodPatch, wantEvent: true},
		{name: "DELETE under impersonation", method: http.MethodDelete, wantEvent: true},
		{name: "GET under impersonation", method: http.MethodGet},
		{name: "HEAD under impersonation", method: http.MethodHead},
		{name: "OPTIONS under impersonation", method: http.MethodOptions},
		{name: "POST by the account holder", method: http.MethodPost, impersonal: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			at := f.accessToken(t)
			if tc.impersonal {
				at = withClaims(func(_ *fixture, c map[string]any) { delete(c, "act") })(t, f)
			}
			if tc.reason != "" {
				at = withClaims(func(_ *fixture, c map[string]any) { c["impersonation_reason"] = tc.reason })(t, f)
			}
			audit := memory.New()
			next := &recordingHandler{}
			h := resource.Middleware(f.verifier(t, appID), resource.WithRequestAudit(audit))(next)
			w := call(h, tc.method, "/orders/42?x=1", "Bearer "+at)
			assert.Equal(t, http.StatusNoContent, w.Code)
			assert.Equal(t, int32(1), next.calls.Load())

			if !tc.wantEvent {
				assert.Empty(t, audit.Events())
				return
			}
			e := testkit.RequireOneEvent(t, audit.Events(), store.EventImpersonatedRequest, store.OutcomeAttempted, "")
			assert.Equal(t, tc.method, e.Method)
			assert.Equal(t, "/orders/42", e.Path)
			assert.Equal(t, "bob", e.Subject)
			assert.Equal(t, "alice", e.Impersonator)
			assert.Equal(t, appID, e.ClientID)
			assert.Equal(t, "acme-eu", e.Org)
			assert.Equal(t, []string{"openid", scopeOrdersRead}, e.Scopes)
			assert.Equal(t, testkit.DecodeJWT(t, at).Str(t, "jti"), e.JTI)
			assert.Equal(t, f.clock.Now().UTC(), e.Time)
			assert.Equal(t, tc.reason, e.Justification, "the impersonator's reason, when the token carries it")
		})
	}
}

func TestMiddleware_RequestAuditFailureRefusesRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	failing := &testkit.SwitchAuditor{Next: f.db}
	failing.Fail.Store(true)
	next := &recordingHandler{}
	h := resource.Middleware(f.verifier(t, appID), resource.WithRequestAudit(failing))(next)

	w := call(h, http.MethodPost, "/orders", "Bearer "+f.accessToken(t))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "temporarily_unavailable", jsonError(t, w))
	assert.Zero(t, next.calls.Load(), "nothing changes under impersonation without a trace")
	testkit.AssertNoLeak(t, w.Body.String())

	// Reads need no trace and still pass.
	w = call(h, http.MethodGet, "/orders", "Bearer "+f.accessToken(t))
	assert.Equal(t, http.StatusNoContent, w.Code)
}

// TestRequireScope_UsesTheMiddlewaresRealm: behind a Middleware with its
// own realm, RequireScope answers with that realm.
func TestRequireScope_UsesTheMiddlewaresRealm(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	next := &recordingHandler{}
	h := resource.Middleware(f.verifier(t, appID), resource.WithRealm("orders"))(resource.RequireScope(scopeOrdersWrite)(next))
	w := call(h, http.MethodGet, "/orders", "Bearer "+f.accessToken(t))
	assert.Equal(t, http.StatusForbidden, w.Code)
	assert.True(t, strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer realm="orders", error="insufficient_scope"`), w.Header().Get("WWW-Authenticate"))
	assert.Zero(t, next.calls.Load())
}

// TestForbidImpersonation_RefusalIsAudited: behind a Middleware with
// request audit, the refusal is recorded as denied after the attempt; a
// refusal that cannot be recorded is 503.
func TestForbidImpersonation_RefusalIsAudited(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	at := f.accessToken(t)
	audit := memory.New()
	next := &recordingHandler{}
	h := resource.Middleware(f.verifier(t, appID), resource.WithRequestAudit(audit))(resource.ForbidImpersonation(next))

	w := call(h, http.MethodPost, "/account/password", "Bearer "+at)

	assert.Equal(t, http.StatusForbidden, w.Code)
	assert.Zero(t, next.calls.Load())
	events := audit.Events()
	require.Len(t, events, 2, "%+v", events)
	assert.Equal(t, store.OutcomeAttempted, events[0].Outcome)
	d := events[1]
	assert.Equal(t, store.EventImpersonatedRequest, d.Type)
	assert.Equal(t, store.OutcomeDenied, d.Outcome)
	assert.Equal(t, "forbidden under impersonation", d.Reason)
	assert.Equal(t, "bob", d.Subject)
	assert.Equal(t, "alice", d.Impersonator)
	assert.Equal(t, "/account/password", d.Path)
	assert.Equal(t, testkit.DecodeJWT(t, at).Str(t, "jti"), d.JTI)

	// A GET is not audited as an attempt; its refusal still is.
	n := len(audit.Events())
	w = call(h, http.MethodGet, "/account/password", "Bearer "+at)
	assert.Equal(t, http.StatusForbidden, w.Code)
	testkit.RequireOneEvent(t, testkit.EventsSince(audit.Events(), n), store.EventImpersonatedRequest, store.OutcomeDenied, "forbidden under impersonation")

	// The denied record fails: 503, and next still does not run.
	failing := &testkit.SwitchAuditor{Next: memory.New()}
	failing.Fail.Store(true)
	h = resource.Middleware(f.verifier(t, appID), resource.WithRequestAudit(failing))(resource.ForbidImpersonation(next))
	w = call(h, http.MethodGet, "/account/password", "Bearer "+at)
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Zero(t, next.calls.Load())
}
