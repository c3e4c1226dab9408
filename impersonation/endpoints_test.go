package impersonation_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
)

// TestHandlers_MountServesEveryEndpoint: one call, one Mount, and every
// endpoint answers where the discovery document says it is.
func TestHandlers_MountServesEveryEndpoint(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	e, err := f.svc.Handlers(context.Background(), &ahAuthenticator{user: "alice", authTime: f.clock.Now()})
	require.NoError(t, err)
	mux := http.NewServeMux()
	require.NoError(t, e.Mount(mux))

	serve := func(method, path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		w := serve(http.MethodGet, p, "")
		require.Equal(t, http.StatusOK, w.Code, p)
		var md impersonation.Metadata
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &md))
		assert.Equal(t, testIssuer, md.Issuer)
		assert.Equal(t, testIssuer+"/oauth2/userinfo", md.UserInfoEndpoint)
		assert.Equal(t, []string{tokenexchange.GrantType, tokenexchange.GrantTypeRefreshToken}, md.GrantTypesSupported,
			"sessions on: the refresh grant is served and announced")
		assert.Contains(t, md.ClaimsSupported, impersonation.ClaimSessionID)
		assert.Equal(t, []string{store.ES256}, md.IDTokenSigningAlgValuesSupported, "the signing key's algorithm")
	}
	assert.Equal(t, http.StatusOK, serve(http.MethodGet, "/oauth2/jwks", "").Code)

	// The whole flow through the mounted paths.
	w := serve(http.MethodGet, "/oauth2/authorize?"+authorizeValues(appID, "bob").Encode(), "")
	got := readAuthorizeResponse(t, w, store.ResponseModeFragment)
	require.NotEmpty(t, got.params.Get("subject_token"))
	form := url.Values{
		"grant_type": {tokenexchange.GrantType}, "client_id": {appID}, "client_secret": {appSecret},
		"subject_token": {got.params.Get("subject_token")}, "subject_token_type": {tokenexchange.TokenTypeJWT},
		"actor_token": {got.params.Get("id_token")}, "actor_token_type": {tokenexchange.TokenTypeIDToken},
	}
	w = serve(http.MethodPost, "/oauth2/token", form.Encode())
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var tok map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &tok))
	at, _ := tok["access_token"].(string)
	require.NotEmpty(t, at)
	r := httptest.NewRequest(http.MethodGet, "/oauth2/userinfo", nil)
	r.Header.Set("Authorization", "Bearer "+at)
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.JSONEq(t, `{"sub":"bob","act":{"sub":"alice"},"org_id":"acme-eu","org_name":"ACME Europe"}`, w.Body.String())
	creds := url.Values{"client_id": {appID}, "client_secret": {appSecret}, "token": {at}}
	w = serve(http.MethodPost, "/oauth2/introspect", creds.Encode())
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), `"active":true`)
	assert.Equal(t, http.StatusOK, serve(http.MethodPost, "/oauth2/revoke", creds.Encode()).Code)
	w = serve(http.MethodPost, "/oauth2/introspect", creds.Encode())
	assert.Contains(t, w.Body.String(), `"active":false`, "revoked through the mounted revocation endpoint")
}

// TestHandlers_RefusalsAreRecordedAndObserved: a refusal at a mounted
// endpoint is recorded once, then handed to the host's observer.
func TestHandlers_RefusalsAreRecordedAndObserved(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var seen []string
	e, err := f.svc.Handlers(context.Background(), &ahAuthenticator{},
		impersonation.WithRefusalObserver(func(_ *http.Request, _ string, err error) { seen = append(seen, err.Error()) }))
	require.NoError(t, err)
	n := len(f.db.Events())
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=password"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	e.Token.ServeHTTP(w, r)
	assert.Equal(t, http.StatusUnauthorized, w.Code, "no client authentication")
	testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventRequestRefused, store.OutcomeDenied, "invalid_client")
	assert.Len(t, seen, 1)
	testkit.AssertNoLeak(t, w.Body.String())
}

// TestHandlers_RefusesBadConfiguration: what Handlers and Mount cannot
// honour is an error, never ignored.
func TestHandlers_RefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	ctx := context.Background()
	login := &ahAuthenticator{user: "alice"}

	_, err := f.svc.Handlers(ctx, nil)
	require.Error(t, err, "no Authenticator")
	_, err = f.svc.Handlers(ctx, login, impersonation.WithGrant(tokenexchange.GrantTypeRefreshToken, f.svc.Sessions()))
	require.Error(t, err, "the sessions' refresh grant cannot be replaced")
	_, err = f.svc.Handlers(ctx, login, impersonation.WithGrant(tokenexchange.GrantType, f.svc.Sessions()))
	require.Error(t, err, "token exchange cannot be replaced")

	e, err := f.svc.Handlers(ctx, login)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/oauth2/token", http.NotFoundHandler())
	require.Error(t, e.Mount(mux), "a path already taken")
	_, pattern := mux.Handler(httptest.NewRequest(http.MethodGet, "/oauth2/jwks", nil))
	assert.Empty(t, pattern, "nothing mounted when Mount fails")

	md := impersonation.DefaultMetadata(testIssuer, "")
	md.EndSessionEndpoint = "" // no WithLogout here: TestHandlers_EndSessionConfiguration
	md.JWKSURI = "/relative/jwks"
	e, err = f.svc.Handlers(ctx, login, impersonation.WithMetadata(md))
	require.NoError(t, err)
	require.Error(t, e.Mount(http.NewServeMux()), "a relative endpoint URL")

	md = impersonation.DefaultMetadata(testIssuer, "")
	md.EndSessionEndpoint = ""
	md.RevocationEndpoint = md.TokenEndpoint
	e, err = f.svc.Handlers(ctx, login, impersonation.WithMetadata(md))
	require.NoError(t, err)
	require.Error(t, e.Mount(http.NewServeMux()), "two endpoints on one path")
}

// TestHandlers_TokenFallback: with WithTokenFallback, the token endpoint
// serves token exchange and hands the host's grants to the host, body
// intact; the host's requests leave no refusal record of the endpoint's.
func TestHandlers_TokenFallback(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var hostBody string
	host := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hostBody = string(b)
		w.WriteHeader(http.StatusTeapot)
	})
	e, err := f.svc.Handlers(context.Background(), &ahAuthenticator{user: "alice"}, impersonation.WithTokenFallback(host))
	require.NoError(t, err)
	n := len(f.db.Events())

	form := "grant_type=authorization_code&code=the-hosts-code&client_id=host-app"
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	e.Token.ServeHTTP(w, r)
	assert.Equal(t, http.StatusTeapot, w.Code)
	assert.Equal(t, form, hostBody)
	assert.Empty(t, testkit.EventsSince(f.db.Events(), n), "the host's request is not the endpoint's to record")

	st, id := f.authorize(t, "alice", "bob")
	r = httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(exchangeRequest(st, id).Values().Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(appID, appSecret)
	w = httptest.NewRecorder()
	e.Token.ServeHTTP(w, r)
	assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), `"access_token"`)
}
