package main

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
)

// Helpers of the tests of the authorization-code flow, demo app 2 and
// impersonation sessions.

// newTestClock is a clock the tests move (config.Now), from now.
func newTestClock() *testkit.Clock { return testkit.NewClockAt(time.Now()) }

// app2Callback is demo app 2's redirect URI.
func (f *fixture) app2Callback() string { return f.issuer + "/app2/callback" }

// pkcePair returns a fresh code verifier and its S256 challenge.
func pkcePair() (verifier, challenge string) {
	v := randomToken()
	return v, s256(v)
}

// codeAuthorizeURL is an authorization-code request of client with the
// PKCE challenge; extra replaces parameters (a nil value removes one).
func codeAuthorizeURL(client, redirectURI, challenge string, extra url.Values) string {
	v := url.Values{
		"client_id":             {client},
		"redirect_uri":          {redirectURI},
		"response_type":         {"code"},
		"scope":                 {"openid orders:read"},
		"state":                 {"state-code"},
		"nonce":                 {"nonce-code"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	for k, vs := range extra {
		if vs == nil {
			delete(v, k)
			continue
		}
		v[k] = vs
	}
	return "/oauth2/authorize?" + v.Encode()
}

// codeResponse runs the authorize request u in b (signed in, no page in
// between) and returns the parameters of the redirect to redirectURI.
func (b *browser) codeResponse(u, redirectURI string) url.Values {
	b.t.Helper()
	p := b.get(u)
	require.Equal(b.t, http.StatusFound, p.StatusCode, "authorize answered %d: %s", p.StatusCode, p.Body)
	loc, err := url.Parse(p.location(b.t))
	require.NoError(b.t, err)
	require.Equal(b.t, redirectURI, (&url.URL{Scheme: loc.Scheme, Host: loc.Host, Path: loc.Path}).String())
	require.Empty(b.t, loc.Fragment)
	return loc.Query()
}

// code runs a code-flow authorize request of demo app 2 in b and returns
// the code and its verifier.
func (b *browser) code() (code, verifier string) {
	b.t.Helper()
	verifier, challenge := pkcePair()
	v := b.codeResponse(codeAuthorizeURL(demoApp2ClientID, b.f.app2Callback(), challenge, nil), b.f.app2Callback())
	require.Empty(b.t, v.Get("error"), "authorize answered %v", v)
	require.Equal(b.t, "state-code", v.Get("state"))
	require.Len(b.t, v.Get("code"), 43, "256-bit codes")
	return v.Get("code"), verifier
}

// redeem posts the authorization_code grant as client.
func (f *fixture) redeem(t *testing.T, client, secret, code, redirectURI, verifier string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return f.postClient(t, "/oauth2/token", client, secret, form)
}

// redeemOK redeems a code of demo app 2 and requires tokens.
func (f *fixture) redeemOK(t *testing.T, code, verifier string) map[string]any {
	t.Helper()
	status, out := f.redeem(t, demoApp2ClientID, demoApp2Secret, code, f.app2Callback(), verifier)
	require.Equal(t, http.StatusOK, status, out)
	for _, k := range []string{"access_token", "id_token", "refresh_token"} {
		require.NotEmpty(t, out[k], k)
	}
	return out
}

// refreshGrant posts the refresh_token grant as demo app 2.
func (f *fixture) refreshGrant(t *testing.T, refreshToken string) (int, map[string]any) {
	t.Helper()
	return f.postClient(t, "/oauth2/token", demoApp2ClientID, demoApp2Secret,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// active introspects token as client.
func (f *fixture) active(t *testing.T, client, secret, token string) bool {
	t.Helper()
	status, in := f.postClient(t, "/oauth2/introspect", client, secret, url.Values{"token": {token}})
	require.Equal(t, http.StatusOK, status, in)
	return in["active"] == true
}

// impersonateInApp runs the console's Impersonate of subject in b (alice
// signed in) through the demo app: authorize, consent, callback. The
// impersonation session is then active.
func impersonateInApp(t *testing.T, f *fixture, b *browser, subject string) {
	t.Helper()
	cb := appCallbackForm(t, f, b, subject)
	p := b.post(f.issuer+"/app/callback", cb)
	require.Equal(t, "/app", p.location(t), p.Body)
	p = b.get("/app")
	require.Contains(t, p.Body, "You are acting as "+subject+" — signed in as alice")
	require.Contains(t, p.Body, `href="/app2/login"`, "the app offers demo app 2")
}

// app2SignIn runs demo app 2's sign-in in b (signed in at the identity
// server): /app2/login, the authorize request, the callback. It returns
// the /app2 page.
func (b *browser) app2SignIn() page {
	b.t.Helper()
	p := b.get("/app2/login")
	authz := p.location(b.t)
	require.True(b.t, strings.HasPrefix(authz, b.f.issuer+"/oauth2/authorize?"), authz)
	p = b.get(authz)
	cb := p.location(b.t)
	require.True(b.t, strings.HasPrefix(cb, b.f.app2Callback()+"?"), "authorize answered %d %s: %s", p.StatusCode, cb, p.Body)
	p = b.get(cb)
	require.Equal(b.t, "/app2", p.location(b.t), p.Body)
	p = b.get("/app2")
	require.Equal(b.t, http.StatusOK, p.StatusCode, p.Body)
	return p
}

// impersonatingBob returns a fixture and alice's browser, in which she
// impersonates bob through the demo app (impersonateInApp).
func impersonatingBob(t *testing.T) (*fixture, *browser) {
	t.Helper()
	f, b := aliceBrowser(t)
	impersonateInApp(t, f, b, "bob")
	return f, b
}

// aliceBrowser returns a fixture and a browser signed in there as alice.
func aliceBrowser(t *testing.T) (*fixture, *browser) {
	t.Helper()
	f := newFixture(t)
	b := f.browser(t)
	b.login("alice", "alice-demo-password")
	return f, b
}

// app2Session returns demo app 2's only session holding tokens.
func app2Session(t *testing.T, f *fixture) session {
	t.Helper()
	return sessionWithToken(t, f.s.app2.sessions, "no demo app 2 session with a token")
}

// sessionWithToken returns the only session of st holding an access
// token; it fails the test with missing when there is none.
func sessionWithToken(t testing.TB, st *sessionStore, missing string) session {
	t.Helper()
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, s := range st.m {
		if s.AccessToken != "" {
			return *s
		}
	}
	require.Fail(t, missing)
	return session{}
}

// bannerText returns the text of a page's banner, or "".
func bannerText(body string) string {
	_, rest, ok := strings.Cut(body, `<p id="banner-text">`)
	if !ok {
		return ""
	}
	text, _, _ := strings.Cut(rest, "</p>")
	return html.UnescapeString(text)
}

// eventsOf returns the recorded audit events of type typ.
func (f *fixture) eventsOf(typ store.EventType) []store.Event {
	return ofType(f.s.dir.db.Events(), typ)
}

// oneDenial requires exactly one recorded impersonation.denied event,
// denied, its reason containing reasonContains (testkit.RequireOneEvent),
// and returns it.
func (f *fixture) oneDenial(t testing.TB, reasonContains string) store.Event {
	t.Helper()
	return testkit.RequireOneEvent(t, f.eventsOf(store.EventImpersonationDenied), store.EventImpersonationDenied, store.OutcomeDenied, reasonContains)
}
