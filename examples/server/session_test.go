package main

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
)

// The authorization-code flow with PKCE, demo app 2 and impersonation
// sessions (issue 8): after alice's exchange in the demo app, her login
// session at the identity server impersonates bob, and demo app 2, an
// ordinary OpenID Connect client that never saw a subject token, signs
// in as bob with act alice until the impersonation ends.

// TestCodeFlowOwnTokens: a normal sign-in through the code flow gives
// alice's own tokens: no act, no isid; the ID token carries the nonce, the
// access token is for the client, and a refresh token comes along.
func TestCodeFlowOwnTokens(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)

	// Signed out: the login page, which comes back to the same request.
	verifier, challenge := pkcePair()
	authz := codeAuthorizeURL(demoApp2ClientID, f.app2Callback(), challenge, nil)
	p := b.get(authz)
	require.Equal(t, http.StatusOK, p.StatusCode)
	fields := formFor(t, p.Body, "/login")
	assert.Equal(t, authz, fields.Get("return_to"))
	p = b.post("/login", url.Values{"username": {"alice"}, "password": {"alice-demo-password"}, "return_to": {fields.Get("return_to")}, csrfField: {fields.Get(csrfField)}})
	require.Equal(t, authz, p.location(t))

	v := b.codeResponse(authz, f.app2Callback())
	assert.Equal(t, "state-code", v.Get("state"))
	code := v.Get("code")
	require.Len(t, code, 43)

	out := f.redeemOK(t, code, verifier)
	assert.Equal(t, "Bearer", out["token_type"])
	assert.Equal(t, "openid", out["scope"], "alice holds no orders scope in demo-app2")
	_, at := claimsOf(t, out["access_token"].(string))
	assert.Equal(t, "alice", at["sub"])
	assert.Equal(t, demoApp2ClientID, at["aud"])
	assert.Equal(t, demoApp2ClientID, at["client_id"])
	assert.NotContains(t, at, "act")
	assert.NotContains(t, at, "isid")
	_, id := claimsOf(t, out["id_token"].(string))
	assert.Equal(t, "alice", id["sub"])
	assert.Equal(t, "nonce-code", id["nonce"])
	assert.Equal(t, demoApp2ClientID, id["aud"])
	assert.NotContains(t, id, "act")
	assert.NotContains(t, id, "isid")
	assert.True(t, f.active(t, demoApp2ClientID, demoApp2Secret, out["access_token"].(string)))

	// The refresh token works, once.
	rt := out["refresh_token"].(string)
	status, refreshed := f.refreshGrant(t, rt)
	require.Equal(t, http.StatusOK, status, refreshed)
	_, at = claimsOf(t, refreshed["access_token"].(string))
	assert.Equal(t, "alice", at["sub"])
	assert.NotContains(t, at, "act")
	status, again := f.refreshGrant(t, rt)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", again["error"])

	// Demo app 2, through the browser: alice herself, no banner.
	p = assertApp2SignsInAlice(t, b)
	assert.NotContains(t, p.Body, "eyJ", "the tokens stay on the server")
	assert.Contains(t, html.UnescapeString(p.Body), `"sub": "alice"`)
	assert.Empty(t, f.decisions(), "nothing about impersonation is recorded for a user's own sign-in")
}

// TestCodeFlowAuthorizeRefusals: the authorize step of the code flow.
// A bad client or redirect URI is shown, never redirected to; everything
// else goes back to the client with the state, PKCE S256 included.
func TestCodeFlowAuthorizeRefusals(t *testing.T) {
	f, b := aliceBrowser(t)
	_, challenge := pkcePair()
	cb := f.app2Callback()

	t.Run("never redirected", func(t *testing.T) {
		for name, u := range map[string]string{
			"unknown client":          codeAuthorizeURL("nobody", cb, challenge, nil),
			"unregistered redirect":   codeAuthorizeURL(demoApp2ClientID, "https://evil.example/cb", challenge, nil),
			"redirect of another app": codeAuthorizeURL(demoApp2ClientID, f.issuer+"/app/callback", challenge, nil),
			"no redirect_uri":         codeAuthorizeURL(demoApp2ClientID, cb, challenge, url.Values{"redirect_uri": nil}),
			"repeated client_id":      codeAuthorizeURL(demoApp2ClientID, cb, challenge, url.Values{"client_id": {demoApp2ClientID, demoApp2ClientID}}),
		} {
			p := b.get(u)
			assert.Equal(t, http.StatusBadRequest, p.StatusCode, name)
			assert.Empty(t, p.Header.Get("Location"), name)
			assert.True(t, strings.HasPrefix(p.Body, "invalid_request: "), "%s: %s", name, p.Body)
		}
	})

	tests := []struct {
		name  string
		extra url.Values
		code  string
		desc  string
	}{
		{"code_challenge missing", url.Values{"code_challenge": nil}, "invalid_request", "code_challenge is required"},
		{"code_challenge_method missing (plain by default)", url.Values{"code_challenge_method": nil}, "invalid_request", "must be S256"},
		{"code_challenge_method plain", url.Values{"code_challenge_method": {"plain"}, "code_challenge": {strings.Repeat("a", 43)}}, "invalid_request", "plain is not supported"},
		{"malformed code_challenge", url.Values{"code_challenge": {"short"}}, "invalid_request", "43 characters"},
		{"no openid", url.Values{"scope": {"orders:read"}}, "invalid_scope", "openid"},
		{"impersonation scope", url.Values{"scope": {"openid internal_user_impersonate"}}, "invalid_scope", "internal_user_impersonate"},
		{"scope the client does not register", url.Values{"scope": {"openid orders:write"}}, "invalid_scope", "not registered"},
		{"fragment response mode", url.Values{"response_mode": {"fragment"}}, "invalid_request", "query"},
		{"repeated parameter", url.Values{"nonce": {"a", "b"}}, "invalid_request", "repeated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := b.codeResponse(codeAuthorizeURL(demoApp2ClientID, cb, challenge, tc.extra), cb)
			assert.Equal(t, tc.code, v.Get("error"))
			assert.Contains(t, v.Get("error_description"), tc.desc)
			assert.Equal(t, "state-code", v.Get("state"))
			assert.Empty(t, v.Get("code"))
		})
	}

	t.Run("a client without the authorization_code grant", func(t *testing.T) {
		v := b.codeResponse(codeAuthorizeURL(cliClientID, cliRedirectURI, challenge, url.Values{"scope": {"openid"}}), cliRedirectURI)
		assert.Equal(t, "unauthorized_client", v.Get("error"))
		assert.Empty(t, v.Get("code"))
	})
	t.Run("prompt=none signed out", func(t *testing.T) {
		v := f.browser(t).codeResponse(codeAuthorizeURL(demoApp2ClientID, cb, challenge, url.Values{"prompt": {"none"}}), cb)
		assert.Equal(t, "login_required", v.Get("error"))
	})
}

// TestCodeFlowTokenRefusals: PKCE and the code at the token endpoint.
// Every refusal is invalid_grant, and a refused code is used up.
func TestCodeFlowTokenRefusals(t *testing.T) {
	f, b := aliceBrowser(t)
	cb := f.app2Callback()
	invalidGrant := func(t *testing.T, status int, out map[string]any, desc string) {
		t.Helper()
		assert.Equal(t, http.StatusBadRequest, status, out)
		assert.Equal(t, "invalid_grant", out["error"])
		assert.Contains(t, out["error_description"], desc)
		assert.NotContains(t, out, "access_token")
	}

	tests := []struct {
		name   string
		redeem func(t *testing.T, code, verifier string) (int, map[string]any)
		desc   string
	}{
		{"wrong verifier", func(t *testing.T, code, _ string) (int, map[string]any) {
			other, _ := pkcePair()
			return f.redeem(t, demoApp2ClientID, demoApp2Secret, code, cb, other)
		}, "does not match the code_challenge"},
		{"the challenge as verifier (plain)", func(t *testing.T, code, verifier string) (int, map[string]any) {
			return f.redeem(t, demoApp2ClientID, demoApp2Secret, code, cb, s256(verifier))
		}, "does not match the code_challenge"},
		{"no verifier", func(t *testing.T, code, _ string) (int, map[string]any) {
			return f.redeem(t, demoApp2ClientID, demoApp2Secret, code, cb, "")
		}, "code_verifier is missing"},
		{"wrong redirect_uri", func(t *testing.T, code, verifier string) (int, map[string]any) {
			return f.redeem(t, demoApp2ClientID, demoApp2Secret, code, cb+"x", verifier)
		}, "redirect_uri does not match"},
		{"code of another client", func(t *testing.T, code, verifier string) (int, map[string]any) {
			return f.redeem(t, demoAppClientID, demoAppSecret, code, cb, verifier)
		}, "issued to another client"},
		{"unknown code", func(t *testing.T, _, verifier string) (int, map[string]any) {
			return f.redeem(t, demoApp2ClientID, demoApp2Secret, randomToken(), cb, verifier)
		}, "invalid, expired or used"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, verifier := b.code()
			status, out := tc.redeem(t, code, verifier)
			invalidGrant(t, status, out, tc.desc)
			if tc.name != "unknown code" {
				status, out = f.redeem(t, demoApp2ClientID, demoApp2Secret, code, cb, verifier)
				invalidGrant(t, status, out, "invalid, expired or used")
			}
		})
	}

	t.Run("code reuse revokes the tokens of the first redemption", func(t *testing.T) {
		code, verifier := b.code()
		first := f.redeemOK(t, code, verifier)
		status, out := f.redeem(t, demoApp2ClientID, demoApp2Secret, code, cb, verifier)
		invalidGrant(t, status, out, "invalid, expired or used")
		assert.False(t, f.active(t, demoApp2ClientID, demoApp2Secret, first["access_token"].(string)), "RFC 6749 §4.1.2")
		status, out = f.refreshGrant(t, first["refresh_token"].(string))
		assert.Equal(t, "invalid_grant", out["error"], "%d %v", status, out)
	})

	t.Run("missing code", func(t *testing.T) {
		status, out := f.postClient(t, "/oauth2/token", demoApp2ClientID, demoApp2Secret, url.Values{"grant_type": {"authorization_code"}, "redirect_uri": {cb}})
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_request", out["error"])
	})
	t.Run("wrong client secret", func(t *testing.T) {
		code, verifier := b.code()
		status, out := f.redeem(t, demoApp2ClientID, "wrong", code, cb, verifier)
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Equal(t, "invalid_client", out["error"])
	})
}

// TestImpersonationSessionCodeFlow: after alice's exchange for bob in the
// demo app, the code flow of demo-app2, a client that never saw a subject
// token, gives bob's tokens with act alice and the session's isid, the
// scope bob holds there, and the reason claim; refresh keeps act.
func TestImpersonationSessionCodeFlow(t *testing.T) {
	f, b := impersonatingBob(t)
	appSess := findAppSession(t, f)
	require.NotEmpty(t, appSess.ImpersonationID)
	_, exchanged := claimsOf(t, appSess.AccessToken)
	sessID := exchanged["jti"].(string)

	// The session is keyed by a hash of the login session, never its cookie.
	idp, ok := f.s.idp.get(requestWithCookies(t, b, "/"))
	require.True(t, ok)
	stored, err := f.s.stores.sessions.SessionFor(t.Context(), loginSessionID(idp))
	require.NoError(t, err)
	assert.Equal(t, sessID, stored.ID)
	assert.NotEqual(t, idp.ID, stored.LoginSession)
	assert.Equal(t, "ticket 1", stored.Reason)

	// The console shows it.
	p := b.get("/console")
	assert.Contains(t, p.Body, `id="active-impersonation"`)
	assert.Contains(t, p.Body, "You are impersonating bob (ACME Europe) until ")
	assert.Contains(t, p.Body, `action="/console/end"`)
	assert.Contains(t, p.Body, `href="/app2/login"`)

	code, verifier := b.code()
	out := f.redeemOK(t, code, verifier)
	assert.Equal(t, "openid orders:read", out["scope"], "what bob holds in demo-app2")
	_, at := claimsOf(t, out["access_token"].(string))
	assert.Equal(t, "bob", at["sub"])
	assert.Equal(t, map[string]any{"sub": "alice"}, at["act"])
	assert.Equal(t, sessID, at["isid"])
	assert.Equal(t, "ticket 1", at["impersonation_reason"])
	assert.Equal(t, demoApp2ClientID, at["aud"])
	assert.LessOrEqual(t, at["exp"].(float64), float64(stored.Expires.Unix()), "ends with the session")
	_, id := claimsOf(t, out["id_token"].(string))
	assert.Equal(t, "bob", id["sub"])
	assert.Equal(t, map[string]any{"sub": "alice"}, id["act"])
	assert.Equal(t, sessID, id["isid"])
	assert.Equal(t, "nonce-code", id["nonce"])

	status, refreshed := f.refreshGrant(t, out["refresh_token"].(string))
	require.Equal(t, http.StatusOK, status, refreshed)
	_, at = claimsOf(t, refreshed["access_token"].(string))
	assert.Equal(t, "bob", at["sub"])
	assert.Equal(t, map[string]any{"sub": "alice"}, at["act"], "a refresh keeps act")
	assert.Equal(t, sessID, at["isid"])
	_, id = claimsOf(t, refreshed["id_token"].(string))
	assert.Equal(t, map[string]any{"sub": "alice"}, id["act"])

	tokens := f.eventsOf(store.EventSessionTokens)
	require.Len(t, tokens, 2, "the sign-in and the refresh")
	for _, e := range tokens {
		assert.Equal(t, "alice", e.Impersonator)
		assert.Equal(t, "bob", e.Subject)
		assert.Equal(t, demoApp2ClientID, e.ClientID)
		assert.Equal(t, "ticket 1", e.Justification)
	}
}

// requestWithCookies is a request to path carrying b's cookies for it.
func requestWithCookies(t *testing.T, b *browser, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.f.issuer+path, nil)
	require.NoError(t, err)
	for _, c := range b.client.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	return req
}

// TestApp2UnderImpersonation: demo app 2 signs in through the session and
// shows the banner from its own token; Refresh keeps act; the app reads
// nothing else about impersonation. The console's "Impersonate in demo
// app 2" runs the same flow and ends in demo app 2.
func TestApp2UnderImpersonation(t *testing.T) {
	f, b := aliceBrowser(t)

	// Before: alice herself.
	p := b.app2SignIn()
	assert.Contains(t, p.Body, `<p class="info" id="signed-in-as">Signed in as alice</p>`)

	impersonateInApp(t, f, b, "bob")
	p = b.app2SignIn()
	assert.Equal(t, "You are acting as bob — signed in as alice", bannerText(p.Body))
	assert.NotContains(t, p.Body, "Signed in as alice")
	assert.NotContains(t, p.Body, "End impersonation", "demo app 2 knows nothing about ending impersonations")
	claims := html.UnescapeString(p.Body)
	assert.Contains(t, claims, `"sub": "bob"`)
	assert.Contains(t, claims, `"act": {`)
	first := app2Session(t, f)
	_, at := claimsOf(t, first.AccessToken)
	assert.Equal(t, map[string]any{"sub": "alice"}, at["act"])
	require.NotEmpty(t, first.RefreshToken)

	// Refresh: new tokens, act kept, the banner still there.
	p = b.post("/app2/refresh", formFor(t, p.Body, "/app2/refresh"))
	require.Equal(t, "/app2", p.location(t))
	p = b.get("/app2")
	assert.Contains(t, p.Body, "Tokens refreshed")
	assert.Equal(t, "You are acting as bob — signed in as alice", bannerText(p.Body))
	second := app2Session(t, f)
	assert.NotEqual(t, first.AccessToken, second.AccessToken)
	assert.NotEqual(t, first.RefreshToken, second.RefreshToken)
	_, at = claimsOf(t, second.AccessToken)
	assert.Equal(t, map[string]any{"sub": "alice"}, at["act"], "refresh keeps act")
	assert.Equal(t, "bob", at["sub"])
	assert.Equal(t, http.StatusForbidden, b.post("/app2/refresh", url.Values{}).StatusCode, "CSRF checked")

	// The console's second button: the same flow, ending in demo app 2.
	c := f.browser(t)
	c.login("alice", "alice-demo-password")
	p = c.get("/console")
	assert.Contains(t, p.Body, `name="open" value="app2"`)
	p = c.post("/console/impersonate", url.Values{"user": {"carol"}, "reason": {"ticket 2"}, "open": {"app2"}, csrfField: {csrf(t, p.Body)}})
	start := p.location(t)
	assert.True(t, strings.HasPrefix(start, "/app/start?handle="), start)
	p = c.get(start)
	p = c.get(p.location(t))
	consent := formFor(t, p.Body, "/oauth2/authorize")
	consent.Set("consent", "allow")
	p = c.post("/oauth2/authorize", consent)
	p = c.post(f.issuer+"/app/callback", formFor(t, p.Body, f.issuer+"/app/callback"))
	require.Equal(t, "/app2/login", p.location(t), p.Body)
	p = c.get(p.location(t))
	p = c.get(p.location(t))
	p = c.get(p.location(t))
	require.Equal(t, "/app2", p.location(t))
	p = c.get("/app2")
	assert.Equal(t, "You are acting as carol — signed in as alice", bannerText(p.Body))
}

// TestImpersonationEnd: End impersonation in the demo app, in the console,
// or alice's logout ends the session: every token issued under it is
// inactive (the demo app's exchanged token, demo app 2's access token and
// its refresh token, which no longer refreshes), demo app 2 signs alice
// out, and its next sign-in is alice's own.
func TestImpersonationEnd(t *testing.T) {
	tests := []struct {
		name   string
		end    func(t *testing.T, f *fixture, b *browser)
		reason string
	}{
		{"the demo app's End impersonation", func(t *testing.T, f *fixture, b *browser) {
			p := b.get("/app")
			p = b.post("/app/end", formFor(t, p.Body, "/app/end"))
			assert.Equal(t, "/console", p.location(t))
		}, "ended in the demo app"},
		{"the console's End impersonation", func(t *testing.T, f *fixture, b *browser) {
			assert.Equal(t, http.StatusForbidden, b.post("/console/end", url.Values{}).StatusCode, "CSRF checked")
			p := b.get("/console")
			p = b.post("/console/end", formFor(t, p.Body, "/console/end"))
			assert.Equal(t, "/console", p.location(t))
			p = b.get("/console")
			assert.NotContains(t, p.Body, `id="active-impersonation"`)
		}, "ended in the console"},
		{"logout", func(t *testing.T, f *fixture, b *browser) {
			p := b.get("/console")
			p = b.post("/logout", url.Values{csrfField: {csrf(t, p.Body)}})
			assert.Equal(t, "/login", p.location(t))
			b.login("alice", "alice-demo-password")
		}, "logout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, b := impersonatingBob(t)
			b.app2SignIn()
			appToken := findAppSession(t, f).AccessToken
			app2 := app2Session(t, f)
			require.True(t, f.active(t, demoAppClientID, demoAppSecret, appToken))
			require.True(t, f.active(t, demoApp2ClientID, demoApp2Secret, app2.AccessToken))

			tc.end(t, f, b)

			assert.False(t, f.active(t, demoAppClientID, demoAppSecret, appToken), "the demo app's token")
			assert.False(t, f.active(t, demoApp2ClientID, demoApp2Secret, app2.AccessToken), "demo app 2's access token")
			assert.False(t, f.active(t, demoApp2ClientID, demoApp2Secret, app2.RefreshToken), "demo app 2's refresh token")
			status, out := f.refreshGrant(t, app2.RefreshToken)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_grant", out["error"], "the refresh token dies with the session")
			assert.Equal(t, http.StatusUnauthorized, f.apiCall(t, http.MethodGet, "/api/me", appToken).StatusCode)

			ended := f.eventsOf(store.EventImpersonationEnded)
			require.Len(t, ended, 1, "one end, one event")
			assert.Equal(t, tc.reason, ended[0].Reason)
			assert.Equal(t, "alice", ended[0].Impersonator)
			assert.Equal(t, "bob", ended[0].Subject)
			assert.Equal(t, "ticket 1", ended[0].Justification)

			// Demo app 2 finds out at its next page, and signs alice out.
			p := b.get("/app2")
			assert.Contains(t, p.Body, "You have been signed out")
			assert.Empty(t, bannerText(p.Body))
			assertApp2SignsInAlice(t, b)
		})
	}
}

// TestImpersonationSessionPolicyRechecked: the impersonator's role taken
// away mid-session: the next sign-in through the session is alice's own,
// the session's tokens are revoked, and the audit log says why.
func TestImpersonationSessionPolicyRechecked(t *testing.T) {
	f, b := impersonatingBob(t)
	p := b.app2SignIn()
	require.Equal(t, "You are acting as bob — signed in as alice", bannerText(p.Body))
	bobs := app2Session(t, f)

	require.NoError(t, f.s.dir.db.Unassign(demoAppClientID, "impersonator", "alice"))
	assertApp2SignsInAlice(t, b)
	_, at := claimsOf(t, app2Session(t, f).AccessToken)
	assert.Equal(t, "alice", at["sub"])
	assert.NotContains(t, at, "act")

	ended := f.eventsOf(store.EventImpersonationEnded)
	require.Len(t, ended, 1)
	assert.True(t, strings.HasPrefix(ended[0].Reason, "policy: "), ended[0].Reason)
	assert.Equal(t, "policy: impersonator_lacks_role", ended[0].Reason)
	assert.Equal(t, "alice", ended[0].Impersonator)
	assert.Equal(t, "bob", ended[0].Subject)
	assert.False(t, f.active(t, demoApp2ClientID, demoApp2Secret, bobs.AccessToken), "bob's tokens are revoked")
	status, out := f.refreshGrant(t, bobs.RefreshToken)
	assert.Equal(t, "invalid_grant", out["error"], "%d", status)
	assert.NotContains(t, b.get("/console").Body, `id="active-impersonation"`)
}

// TestImpersonationSessionOneSubject: inside an impersonation session of
// bob, impersonating carol is refused with a clear message: by the
// console, and by the authorize endpoint itself (to the client, and in
// the audit log). bob again is fine.
func TestImpersonationSessionOneSubject(t *testing.T) {
	f, b := impersonatingBob(t)

	p := b.get("/console")
	p = b.post("/console/impersonate", url.Values{"user": {"carol"}, "reason": {"ticket 2"}, csrfField: {csrf(t, p.Body)}})
	assert.Equal(t, http.StatusConflict, p.StatusCode)
	assert.Contains(t, p.Body, "You are impersonating bob. End that impersonation before impersonating someone else.")

	// The authorize endpoint, as any client asks it.
	v := b.cliAuthorize("carol", "fragment")
	assert.Equal(t, "invalid_request", v.Get("error"))
	assert.Equal(t, "you are impersonating bob in this session: end that impersonation before impersonating another user", v.Get("error_description"))
	assert.Equal(t, "state-carol", v.Get("state"))
	assert.Empty(t, v.Get("subject_token"))
	denied := f.oneDenial(t, "another impersonation session is active")
	assert.Equal(t, "carol", denied.Subject)

	// Through the demo app: its callback shows the refusal.
	p = b.appStart("carol", "ticket 2", "")
	p = b.get(p.location(t))
	require.Equal(t, http.StatusOK, p.StatusCode)
	p = b.post(f.issuer+"/app/callback", formFor(t, p.Body, f.issuer+"/app/callback"))
	assert.Contains(t, p.Body, "Impersonation not started")
	assert.Contains(t, p.Body, "you are impersonating bob in this session")

	// bob again: allowed.
	v = b.cliAuthorize("bob", "fragment")
	assert.NotEmpty(t, v.Get("subject_token"))
	assert.Empty(t, f.eventsOf(store.EventImpersonationEnded), "refusing carol does not end the session")
}

// TestImpersonationSessionExpiry: on the injected clock, the session ends
// with its maximum duration (1 h): demo app 2's tokens expire with it,
// its refresh token does not outlive it, and the next sign-in is
// alice's own. Codes expire after 60 s.
func TestImpersonationSessionExpiry(t *testing.T) {
	clock := newTestClock()
	f := newFixture(t, func(c *config) { c.Now = clock.Now })
	b := f.browser(t)
	b.login("alice", "alice-demo-password")

	code, verifier := b.code()
	clock.Advance(61 * time.Second)
	status, out := f.redeem(t, demoApp2ClientID, demoApp2Secret, code, f.app2Callback(), verifier)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", out["error"], "a code lives 60 s")

	impersonateInApp(t, f, b, "bob")
	p := b.app2SignIn()
	require.Equal(t, "You are acting as bob — signed in as alice", bannerText(p.Body))
	bobs := app2Session(t, f)

	clock.Advance(59 * time.Minute)
	p = b.get("/app2")
	assert.Equal(t, "You are acting as bob — signed in as alice", bannerText(p.Body), "a minute before the end")

	clock.Advance(2 * time.Minute)
	assert.NotContains(t, b.get("/console").Body, `id="active-impersonation"`)
	p = b.get("/app2")
	assert.Contains(t, p.Body, "You have been signed out")
	status, out = f.refreshGrant(t, bobs.RefreshToken)
	assert.Equal(t, "invalid_grant", out["error"], "%d: the refresh token ends with the session", status)
	assert.False(t, f.active(t, demoApp2ClientID, demoApp2Secret, bobs.AccessToken))
	assertApp2SignsInAlice(t, b)
}

// TestImpersonationWithoutReason: the demo app started without a reason
// still exchanges, but no impersonation session starts (a reason is
// required for one): demo app 2 signs in as alice, and the app says why.
func TestImpersonationWithoutReason(t *testing.T) {
	f, b := aliceBrowser(t)
	p := b.appStart("bob", "", "")
	p = b.get(p.location(t))
	consent := formFor(t, p.Body, "/oauth2/authorize")
	consent.Set("consent", "allow")
	p = b.post("/oauth2/authorize", consent)
	p = b.post(f.issuer+"/app/callback", formFor(t, p.Body, f.issuer+"/app/callback"))
	require.Equal(t, "/app", p.location(t))
	p = b.get("/app")
	assert.Contains(t, p.Body, "You are acting as bob — signed in as alice")
	assert.Contains(t, p.Body, "No impersonation session: it needs a reason")
	assert.NotContains(t, p.Body, `href="/app2/login"`)
	assert.Empty(t, f.eventsOf(store.EventSessionStarted))
	p = b.app2SignIn()
	assert.Contains(t, p.Body, "Signed in as alice")
}

// assertApp2SignsInAlice runs demo app 2's sign-in in b: alice, as
// herself, no banner. It returns the /app2 page.
func assertApp2SignsInAlice(t testing.TB, b *browser) page {
	t.Helper()
	p := b.app2SignIn()
	assert.Contains(t, p.Body, "Signed in as alice")
	assert.Empty(t, bannerText(p.Body))
	return p
}
