package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/actas/actas/examples/api"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fixture struct {
	key     store.PrivateKey
	db      *memory.Store
	handler http.Handler
	now     time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ks, key := testKeys(t)
	db := memory.New()
	now := time.Now()
	v, err := resource.NewVerifier(testIssuer, testAudience, ks, resource.WithRevocation(db))
	require.NoError(t, err)
	return &fixture{key: key, db: db, handler: api.Handler(v, db), now: now}
}

func (f *fixture) do(t *testing.T, method, path, token string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

func TestMeImpersonated(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.do(t, http.MethodGet, "/api/me", sign(t, f.key, "at+jwt", accessClaims(f.now)))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.JSONEq(t, `{"sub":"bob","act":{"sub":"alice"},"scope":"openid orders:read","org_id":"acme-eu","client_id":"demo-app"}`, w.Body.String())
	assert.Empty(t, f.db.Events(), "a GET is not audited")
}

func TestMeAccountHolder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := accessClaims(f.now)
	delete(c, "act")
	w := f.do(t, http.MethodGet, "/api/me", sign(t, f.key, "at+jwt", c))
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var got api.Me
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	assert.Equal(t, "bob", got.Subject)
	assert.Nil(t, got.Act)
	assert.Contains(t, w.Body.String(), `"act":null`)
}

func TestPasswordRefusedToImpersonator(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	w := f.do(t, http.MethodPost, "/api/password", sign(t, f.key, "at+jwt", accessClaims(f.now)))
	require.Equal(t, http.StatusForbidden, w.Code)
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	var body map[string]string
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, "access_denied", body["error"])
	assert.Contains(t, body["error_description"], "impersonat")

	events := f.db.Events()
	require.Len(t, events, 2, "the impersonated attempt is audited, and so is its refusal")
	for i, outcome := range []string{store.OutcomeAttempted, store.OutcomeDenied} {
		e := events[i]
		assert.Equal(t, store.EventImpersonatedRequest, e.Type)
		assert.Equal(t, outcome, e.Outcome)
		assert.Equal(t, http.MethodPost, e.Method)
		assert.Equal(t, "/api/password", e.Path)
		assert.Equal(t, "bob", e.Subject)
		assert.Equal(t, "alice", e.Impersonator)
	}
	assert.Equal(t, "forbidden under impersonation", events[1].Reason)
}

func TestPasswordAllowedToAccountHolder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := accessClaims(f.now)
	delete(c, "act")
	w := f.do(t, http.MethodPost, "/api/password", sign(t, f.key, "at+jwt", c))
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Empty(t, f.db.Events(), "only impersonated requests are audited")
}

// TestRFC6750InvalidTokens: every refused token is a 401 with a Bearer
// challenge (RFC 6750 §3); a request without any token gets the bare
// challenge and no error code (RFC 6750 §3.1).
func TestRFC6750InvalidTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, otherKey := testKeys(t)
	revoked := accessClaims(f.now)
	require.NoError(t, f.db.Revoke(t.Context(), revoked["jti"].(string), f.now.Add(time.Hour)))

	with := func(k string, v any) map[string]any {
		c := accessClaims(f.now)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name  string
		token string
		code  string
	}{
		{name: "no token", token: "", code: ""},
		{name: "garbage", token: "garbage", code: "invalid_token"},
		{name: "unknown key", token: sign(t, otherKey, "at+jwt", accessClaims(f.now)), code: "invalid_token"},
		{name: "expired", token: sign(t, f.key, "at+jwt", with("exp", f.now.Add(-time.Hour).Unix())), code: "invalid_token"},
		{name: "other audience", token: sign(t, f.key, "at+jwt", with("aud", "demo-app")), code: "invalid_token"},
		{name: "other issuer", token: sign(t, f.key, "at+jwt", with("iss", testIssuer+"/")), code: "invalid_token"},
		{name: "id token", token: sign(t, f.key, "JWT", accessClaims(f.now)), code: "invalid_token"},
		{name: "subject token", token: sign(t, f.key, "subject+jwt", accessClaims(f.now)), code: "invalid_token"},
		{name: "no jti", token: sign(t, f.key, "at+jwt", with("jti", nil)), code: "invalid_token"},
		{name: "revoked", token: sign(t, f.key, "at+jwt", revoked), code: "invalid_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []struct{ method, path string }{{http.MethodGet, "/api/me"}, {http.MethodPost, "/api/password"}} {
				w := f.do(t, req.method, req.path, tc.token)
				require.Equal(t, http.StatusUnauthorized, w.Code, req.path)
				challenge := w.Header().Get("WWW-Authenticate")
				assert.True(t, strings.HasPrefix(challenge, "Bearer "), challenge)
				if tc.code == "" {
					assert.NotContains(t, challenge, "error=")
				} else {
					assert.Contains(t, challenge, `error="`+tc.code+`"`)
				}
			}
		})
	}
	// Refused requests change nothing: no impersonated request is recorded,
	// but every refused token is (request.refused), without the token.
	for _, e := range f.db.Events() {
		assert.Equal(t, store.EventRequestRefused, e.Type)
		assert.Contains(t, e.Reason, "invalid_token")
		assert.Empty(t, e.Subject, "a refused token names nobody")
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	good := sign(t, f.key, "at+jwt", accessClaims(f.now))
	tests := []struct {
		name, method, path, token string
		status                    int
	}{
		{"unknown path, no token", http.MethodGet, "/api/nope", "", http.StatusUnauthorized},
		{"unknown path", http.MethodGet, "/api/nope", good, http.StatusNotFound},
		{"me, wrong method, no token", http.MethodDelete, "/api/me", "", http.StatusUnauthorized},
		{"me, wrong method", http.MethodDelete, "/api/me", good, http.StatusMethodNotAllowed},
		{"password, wrong method", http.MethodGet, "/api/password", good, http.StatusMethodNotAllowed},
		{"me, HEAD", http.MethodHead, "/api/me", good, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(t, tc.method, tc.path, tc.token)
			assert.Equal(t, tc.status, w.Code)
		})
	}
}

// TestOverHTTP serves the API with httptest.NewServer, as a remote
// resource server would be reached.
func TestOverHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := httptest.NewServer(f.handler)
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/me", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+sign(t, f.key, "at+jwt", accessClaims(f.now)))
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var got api.Me
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "alice", got.Act.Subject)
}
