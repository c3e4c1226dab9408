package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
)

// userInfo calls the UserInfo endpoint with token as Bearer credentials
// (GET) or as the access_token form parameter (POST).
func (f *fixture) userInfo(t *testing.T, method, token string) page {
	t.Helper()
	if method == http.MethodGet {
		return f.apiCall(t, http.MethodGet, "/oauth2/userinfo", token)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, f.issuer+"/oauth2/userinfo", strings.NewReader(url.Values{"access_token": {token}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return page{Response: resp, Body: string(body)}
}

// userInfoClaims requires a 200 JSON answer and returns its members.
func userInfoClaims(t *testing.T, p page) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
	assert.Equal(t, "application/json", p.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", p.Header.Get("Cache-Control"))
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(p.Body), &got))
	return got
}

// TestUserInfo: the UserInfo endpoint (OpenID Connect Core §5.3) the
// discovery document names answers, for the access token of a whole
// impersonation (authorize, exchange), the impersonated user's claims and
// who is acting; each such read is in the audit log; the token's
// revocation ends it.
func TestUserInfo(t *testing.T) {
	f := newFixture(t)
	token := impersonatedToken(t, f, "bob")
	bob := map[string]any{"sub": "bob", "act": map[string]any{"sub": "alice"}, "org_id": "acme-eu", "org_name": "ACME Europe"}

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		before := len(f.s.dir.db.Events())
		assert.Equal(t, bob, userInfoClaims(t, f.userInfo(t, method, token)), method)
		events := f.s.dir.db.Events()[before:]
		require.Len(t, events, 1, method)
		e := events[0]
		assert.Equal(t, store.EventImpersonatedRequest, e.Type)
		assert.Equal(t, store.OutcomeGranted, e.Outcome)
		assert.Equal(t, method, e.Method)
		assert.Equal(t, "/oauth2/userinfo", e.Path)
		assert.Equal(t, "alice", e.Impersonator)
		assert.Equal(t, "bob", e.Subject)
		assert.Equal(t, cliClientID, e.ClientID)
	}

	p := f.userInfo(t, http.MethodGet, "")
	assert.Equal(t, http.StatusUnauthorized, p.StatusCode)
	assert.Equal(t, `Bearer realm="userinfo"`, p.Header.Get("WWW-Authenticate"))

	p = f.apiCall(t, http.MethodGet, "/oauth2/userinfo?"+url.Values{"access_token": {token}}.Encode(), "")
	assert.Equal(t, http.StatusBadRequest, p.StatusCode, "never a token in the URL")
	assert.Contains(t, p.Header.Get("WWW-Authenticate"), `error="invalid_request"`)
	assert.NotContains(t, p.Body, token)

	status, _ := f.postClient(t, "/oauth2/revoke", cliClientID, cliSecret, url.Values{"token": {token}})
	require.Equal(t, http.StatusOK, status)
	p = f.userInfo(t, http.MethodGet, token)
	assert.Equal(t, http.StatusUnauthorized, p.StatusCode, "revoked: the impersonation is over")
	assert.Contains(t, p.Header.Get("WWW-Authenticate"), `Bearer realm="userinfo", error="invalid_token"`)
	assert.NotContains(t, p.Body, "bob")
	last := f.s.dir.db.Events()
	assert.Equal(t, store.EventRequestRefused, last[len(last)-1].Type, "the refusal is on record")
}

// TestUserInfo_CodeFlow: demo app 2, an ordinary OpenID Connect client,
// reads the user's own claims with alice's own sign-in, and bob's, with
// act naming alice, with a sign-in through her impersonation session.
func TestUserInfo_CodeFlow(t *testing.T) {
	t.Run("own sign-in", func(t *testing.T) {
		f, b := aliceBrowser(t)
		code, verifier := b.code()
		tokens := f.redeemOK(t, code, verifier)
		got := userInfoClaims(t, f.userInfo(t, http.MethodGet, tokens["access_token"].(string)))
		assert.Equal(t, map[string]any{"sub": "alice", "org_id": "acme", "org_name": "ACME Corporation"}, got, "no act for the user's own token")
	})
	t.Run("sign-in through the impersonation session", func(t *testing.T) {
		f, b := impersonatingBob(t)
		b.app2SignIn()
		got := userInfoClaims(t, f.userInfo(t, http.MethodGet, app2Session(t, f).AccessToken))
		assert.Equal(t, map[string]any{"sub": "bob", "act": map[string]any{"sub": "alice"}, "org_id": "acme-eu", "org_name": "ACME Europe"}, got)
		reads := f.eventsOf(store.EventImpersonatedRequest)
		require.NotEmpty(t, reads)
		last := reads[len(reads)-1]
		assert.Equal(t, "/oauth2/userinfo", last.Path)
		assert.Equal(t, demoApp2ClientID, last.ClientID)
		assert.Equal(t, "ticket 1", last.Justification, "the console's reason, from the token's impersonation_reason")
	})
}
