package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
)

// RP-Initiated Logout in the reference server: the library's end-session
// endpoint at /oauth2/logout, the host's login as its Logins, demo apps 2
// and 3 logging out through it.

// endSessionURL is the end-session endpoint of f.
func (f *fixture) endSessionURL() string { return f.issuer + "/oauth2/logout" }

// codeFlowSignIn runs the sign-in of the code-flow app at path (/app2 or
// /app3) in b, signed in at the identity server, and returns its page.
func (b *browser) codeFlowSignIn(path string) page {
	b.t.Helper()
	p := b.get(path + "/login")
	p = b.get(p.location(b.t))
	cb := p.location(b.t)
	require.True(b.t, strings.HasPrefix(cb, b.f.issuer+path+"/callback?"), "authorize answered %d %s: %s", p.StatusCode, cb, p.Body)
	p = b.get(cb)
	require.Equal(b.t, path, p.location(b.t), p.Body)
	p = b.get(path)
	require.Equal(b.t, http.StatusOK, p.StatusCode)
	return p
}

// appLogout posts the app at path's Sign out and returns where it sends
// the browser: the end-session endpoint, and its parameters.
func (b *browser) appLogout(path string) url.Values {
	b.t.Helper()
	p := b.get(path)
	p = b.post(path+"/logout", formFor(b.t, p.Body, path+"/logout"))
	loc, err := url.Parse(p.location(b.t))
	require.NoError(b.t, err)
	require.Equal(b.t, b.f.endSessionURL(), (&url.URL{Scheme: loc.Scheme, Host: loc.Host, Path: loc.Path}).String())
	return loc.Query()
}

// signedInAtIdP reports whether b is signed in at the identity server.
func (b *browser) signedInAtIdP() bool {
	b.t.Helper()
	p := b.get("/console")
	return p.StatusCode == http.StatusOK
}

// TestApp2LogoutEndsTheImpersonationAndTheLogin: alice impersonates bob
// and signs in to demo app 2 through the session; its Sign out goes
// through the end-session endpoint with its ID token, skips the
// confirmation (demo-app2 skips logout consent), ends the impersonation
// session with every token issued under it, then alice's login, and comes
// back to /app2/signed-out with its state.
func TestApp2LogoutEndsTheImpersonationAndTheLogin(t *testing.T) {
	f, b := impersonatingBob(t)
	p := b.app2SignIn()
	require.Equal(t, "You are acting as bob — signed in as alice", bannerText(p.Body))
	app2 := app2Session(t, f)
	appToken := findAppSession(t, f).AccessToken
	require.NotEmpty(t, app2.IDToken)

	v := b.appLogout("/app2")
	assert.Equal(t, demoApp2ClientID, v.Get("client_id"))
	assert.Equal(t, app2.IDToken, v.Get("id_token_hint"))
	assert.Equal(t, f.issuer+"/app2/signed-out", v.Get("post_logout_redirect_uri"))
	require.Len(t, v.Get("state"), 43)

	p = b.get(f.endSessionURL() + "?" + v.Encode())
	require.Equal(t, http.StatusSeeOther, p.StatusCode, "no confirmation: %s", p.Body)
	assert.Equal(t, f.issuer+"/app2/signed-out?state="+v.Get("state"), p.location(t))
	p = b.get(p.location(t))
	assert.Equal(t, "/app2", p.location(t))
	p = b.get("/app2")
	assert.Contains(t, p.Body, "You are signed out of Demo app 2 and of the identity server.")
	assert.Empty(t, bannerText(p.Body))
	assert.Contains(t, p.Body, `id="sign-in"`)

	assert.False(t, b.signedInAtIdP(), "alice's login ended")
	assert.False(t, f.active(t, demoApp2ClientID, demoApp2Secret, app2.AccessToken), "demo app 2's access token")
	assert.False(t, f.active(t, demoAppClientID, demoAppSecret, appToken), "the demo app's exchanged token")
	status, out := f.refreshGrant(t, app2.RefreshToken)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", out["error"])
	assert.Equal(t, http.StatusUnauthorized, f.apiCall(t, http.MethodGet, "/api/me", appToken).StatusCode)

	ended := f.eventsOf(store.EventImpersonationEnded)
	require.Len(t, ended, 1, "one end, one event, though the app revokes its tokens afterwards")
	assert.Equal(t, "logout", ended[0].Reason)
	assert.Equal(t, "alice", ended[0].Impersonator)
	assert.Equal(t, "bob", ended[0].Subject)
	out2 := f.eventsOf(store.EventLoggedOut)
	require.Len(t, out2, 1)
	assert.Equal(t, "alice", out2[0].Subject)
	assert.Equal(t, demoApp2ClientID, out2[0].ClientID)
	assert.Equal(t, "acme", out2[0].Org)
}

// TestApp3LogoutAsksFirst: demo-app3 does not skip logout consent: its
// Sign out shows the identity server's confirmation page, nobody is
// signed out until alice confirms, and then she comes back to
// /app3/signed-out.
func TestApp3LogoutAsksFirst(t *testing.T) {
	f, b := aliceBrowser(t)
	p := b.codeFlowSignIn("/app3")
	require.Contains(t, p.Body, "Signed in as alice")

	v := b.appLogout("/app3")
	assert.Equal(t, f.issuer+"/app3/signed-out", v.Get("post_logout_redirect_uri"))
	p = b.get(f.endSessionURL() + "?" + v.Encode())
	require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
	assert.Contains(t, p.Body, "The app <strong>demo-app3</strong> asks to sign you out of the identity server.")
	assert.Contains(t, p.Body, "You are signed in as <strong>alice</strong>")
	assert.NotContains(t, p.Body, `id="logout-impersonation"`)
	assert.Equal(t, "DENY", p.Header.Get("X-Frame-Options"))
	assert.True(t, b.signedInAtIdP(), "asking signs nobody out")
	assert.Empty(t, f.eventsOf(store.EventLoggedOut))

	confirm := formFor(t, p.Body, f.endSessionURL())
	require.NotEmpty(t, confirm.Get(impersonation.LogoutConfirmField))
	p = b.post(f.endSessionURL(), confirm)
	require.Equal(t, f.issuer+"/app3/signed-out?state="+v.Get("state"), p.location(t))
	p = b.get(p.location(t))
	p = b.get(p.location(t))
	assert.Contains(t, p.Body, "You are signed out of Demo app 3 and of the identity server.")
	assert.False(t, b.signedInAtIdP())
	require.Len(t, f.eventsOf(store.EventLoggedOut), 1)

	b.login("alice", "alice-demo-password")
	p = b.post(f.endSessionURL(), confirm)
	assert.Equal(t, http.StatusForbidden, p.StatusCode, "a confirmation is used once, and made for one login")
	assert.Empty(t, p.Header.Get("Location"))
	assert.True(t, b.signedInAtIdP())
}

// TestApp3LogoutConfirmationPageDuringImpersonation: a logout asked for
// under an impersonation session says that it ends the impersonation, and
// does so once confirmed.
func TestApp3LogoutConfirmationPageDuringImpersonation(t *testing.T) {
	f, b := impersonatingBob(t)
	p := b.get(f.endSessionURL() + "?client_id=" + demoApp3ClientID)
	require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
	assert.Contains(t, p.Body, "Signing out also ends your impersonation of <strong>bob</strong>.")
	require.Empty(t, f.eventsOf(store.EventImpersonationEnded))
	p = b.post(f.endSessionURL(), formFor(t, p.Body, f.endSessionURL()))
	require.Equal(t, http.StatusOK, p.StatusCode, "no post_logout_redirect_uri: the signed-out page")
	assert.Contains(t, p.Body, "You are signed out of the identity server.")
	ended := f.eventsOf(store.EventImpersonationEnded)
	require.Len(t, ended, 1)
	assert.Equal(t, "logout", ended[0].Reason)
}

// TestEndSessionRefusalsAreNoRedirect: what the end-session endpoint
// cannot honour is the server's error page, never a redirect, and signs
// nobody out.
func TestEndSessionRefusalsAreNoRedirect(t *testing.T) {
	tests := []struct {
		name  string
		query url.Values
		want  string
	}{
		{name: "unregistered post_logout_redirect_uri", query: url.Values{"client_id": {demoApp2ClientID}, "post_logout_redirect_uri": {"https://evil.example/"}}, want: "post_logout_redirect_uri is not registered for the client"},
		{name: "another app's post_logout_redirect_uri", query: url.Values{"client_id": {demoApp2ClientID}, "post_logout_redirect_uri": {"APP3"}}, want: "post_logout_redirect_uri is not registered for the client"},
		{name: "a forged hint", query: url.Values{"id_token_hint": {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."}, "post_logout_redirect_uri": {"APP2"}}, want: "id_token_hint is not a valid ID token of this issuer"},
		{name: "unknown client", query: url.Values{"client_id": {"nope"}}, want: "unknown client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, b := aliceBrowser(t)
			q := url.Values{}
			for k, vs := range tc.query {
				for _, v := range vs {
					q.Add(k, strings.NewReplacer("APP2", f.issuer+"/app2/signed-out", "APP3", f.issuer+"/app3/signed-out").Replace(v))
				}
			}
			n := len(f.s.dir.db.Events())
			p := b.get(f.endSessionURL() + "?" + q.Encode())
			assert.Equal(t, http.StatusBadRequest, p.StatusCode)
			assert.Empty(t, p.Header.Get("Location"), "never a redirect")
			assert.Contains(t, p.Body, "Sign-out refused")
			assert.Contains(t, p.Body, tc.want)
			assert.NotContains(t, p.Body, "evil.example")
			assert.True(t, b.signedInAtIdP(), "nobody signed out")
			testkit.RequireOneEvent(t, testkit.EventsSince(f.s.dir.db.Events(), n), store.EventRequestRefused, store.OutcomeDenied, tc.want)
		})
	}
}

// TestEndSessionNobodySignedIn: no login page, just "signed out".
func TestEndSessionNobodySignedIn(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	p := b.get(f.endSessionURL())
	assert.Equal(t, http.StatusOK, p.StatusCode)
	assert.Contains(t, p.Body, "You are signed out of the identity server.")
	assert.NotContains(t, p.Body, `action="/login"`, "no login page")
	assert.Empty(t, f.eventsOf(store.EventLoggedOut))
}

// TestDiscoveryAnnouncesEndSession: the discovery document names the
// end-session endpoint where it is mounted.
func TestDiscoveryAnnouncesEndSession(t *testing.T) {
	f := newFixture(t)
	p := f.browser(t).get("/.well-known/openid-configuration")
	require.Equal(t, http.StatusOK, p.StatusCode)
	var md impersonation.Metadata
	require.NoError(t, json.Unmarshal([]byte(p.Body), &md))
	assert.Equal(t, f.endSessionURL(), md.EndSessionEndpoint)
	assert.Equal(t, http.StatusMethodNotAllowed, f.apiCall(t, http.MethodPut, "/oauth2/logout", "").StatusCode)
}

// TestAppLogoutWithoutARegisteredReturn: a data file whose demo-app2
// registers no post-logout redirect URI: the app revokes its tokens at
// once and sends the browser to the end-session endpoint without one,
// where the user confirms (no skip_logout_consent) and is told they are
// signed out.
func TestAppLogoutWithoutARegisteredReturn(t *testing.T) {
	data := `{
  "organizations": [{"id": "acme"}],
  "users": [{"id": "alice", "username": "alice", "password": "pw-alice-file", "org": "acme"}],
  "clients": [
    {"id": "demo-app2", "secret": "app2-file-secret", "redirect_uris": ["ISSUER/app2/callback"],
     "scopes": ["openid"], "grant_types": ["authorization_code", "refresh_token"], "refresh_tokens": true}
  ]
}`
	f := newFixture(t, func(c *config) {
		c.DataFile = writeData(t, strings.ReplaceAll(data, "ISSUER", c.Issuer))
		c.App2ClientID = demoApp2ClientID
	})
	b := f.browser(t)
	b.login("alice", "pw-alice-file")
	p := b.codeFlowSignIn("/app2")
	require.Contains(t, p.Body, "Signed in as alice")
	app2 := app2Session(t, f)
	secret := "app2-file-secret"
	require.True(t, f.active(t, demoApp2ClientID, secret, app2.AccessToken))

	v := b.appLogout("/app2")
	assert.Empty(t, v.Get("post_logout_redirect_uri"))
	assert.Equal(t, app2.IDToken, v.Get("id_token_hint"))
	assert.False(t, f.active(t, demoApp2ClientID, secret, app2.AccessToken), "revoked before leaving")
	status, out := f.postClient(t, "/oauth2/token", demoApp2ClientID, secret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {app2.RefreshToken}})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", out["error"], "the refresh token is revoked too")

	p = b.get(f.endSessionURL() + "?" + v.Encode())
	require.Equal(t, http.StatusOK, p.StatusCode)
	p = b.post(f.endSessionURL(), formFor(t, p.Body, f.endSessionURL()))
	require.Equal(t, http.StatusOK, p.StatusCode)
	assert.Contains(t, p.Body, "You are signed out of the identity server.")
	assert.False(t, b.signedInAtIdP())
}
