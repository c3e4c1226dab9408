package main

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
)

func TestConsoleRequiresLogin(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	for _, path := range []string{"/console", "/console/audit", "/console/audit?format=json"} {
		p := b.get(path)
		assert.Equal(t, "/login?return_to="+url.QueryEscape(path), p.location(t), path)
	}
	p := b.post("/console/impersonate", url.Values{"user": {"bob"}, "reason": {"x"}})
	assert.Equal(t, http.StatusSeeOther, p.StatusCode)
	assert.True(t, strings.HasPrefix(p.location(t), "/login"))
}

// TestConsoleListing: alice (acme) sees the users of acme and its child
// acme-eu that she may impersonate; not herself, not dave (globex). Bob
// holds no impersonation role and sees nobody.
func TestConsoleListing(t *testing.T) {
	f, b := aliceBrowser(t)
	p := b.get("/console")
	require.Equal(t, http.StatusOK, p.StatusCode)
	assert.Contains(t, p.Body, `<tr data-user="bob">`)
	assert.Contains(t, p.Body, `<tr data-user="carol">`)
	assert.NotContains(t, p.Body, `data-user="dave"`)
	assert.NotContains(t, p.Body, `data-user="alice"`)
	assert.Contains(t, p.Body, "ACME Europe")
	impersonateForms := 0
	for _, fm := range forms(p.Body) {
		if fm.Action == "/console/impersonate" {
			impersonateForms++
			assert.NotEmpty(t, fm.Fields.Get(csrfField))
		}
	}
	assert.Equal(t, 2, impersonateForms)
	assert.Contains(t, p.Body, `name="reason"`)

	bob := f.browser(t)
	bob.login("bob", "bob-demo-password")
	p = bob.get("/console")
	require.Equal(t, http.StatusOK, p.StatusCode)
	assert.Contains(t, p.Body, `id="no-role"`)
	assert.NotContains(t, p.Body, "data-user=")
}

func TestConsoleImpersonateChecks(t *testing.T) {
	f, b := aliceBrowser(t)
	token := csrf(t, b.get("/console").Body)
	tests := []struct {
		name   string
		form   url.Values
		status int
		text   string
	}{
		{"missing CSRF token", url.Values{"user": {"bob"}, "reason": {"ticket 1"}}, http.StatusForbidden, "did not come from this site"},
		{"wrong CSRF token", url.Values{"user": {"bob"}, "reason": {"ticket 1"}, csrfField: {"forged"}}, http.StatusForbidden, "did not come from this site"},
		{"no reason", url.Values{"user": {"bob"}, csrfField: {token}}, http.StatusBadRequest, "Give a reason"},
		{"reason too long", url.Values{"user": {"bob"}, "reason": {strings.Repeat("x", 513)}, csrfField: {token}}, http.StatusBadRequest, "at most 512 bytes"},
		{"not permitted", url.Values{"user": {"dave"}, "reason": {"ticket 1"}, csrfField: {token}}, http.StatusForbidden, "may not impersonate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := b.post("/console/impersonate", tc.form)
			assert.Equal(t, tc.status, p.StatusCode)
			assert.Contains(t, p.Body, tc.text)
			assert.Empty(t, p.Header.Get("Location"))
		})
	}
	assert.Empty(t, f.s.dir.db.Events(), "nothing started")
}

// TestConsoleToAppFlow is the whole demo: the console's Impersonate
// button, the real authorize request of the demo app (form_post, state,
// nonce, reason), consent, the callback's token exchange, the banner, the
// API refusing the password change, and End impersonation revoking the
// token.
func TestConsoleToAppFlow(t *testing.T) {
	f, b := aliceBrowser(t)
	p := b.get("/console")
	p = b.post("/console/impersonate", url.Values{"user": {"bob"}, "reason": {"ticket 4711: bob cannot see his orders"}, csrfField: {csrf(t, p.Body)}})
	start := p.location(t)
	require.True(t, strings.HasPrefix(start, "/app/start?"), start)

	// The app starts the flow: state and nonce in its own session.
	p = b.get(start)
	authz, err := url.Parse(p.location(t))
	require.NoError(t, err)
	assert.Equal(t, f.issuer+"/oauth2/authorize", authz.Scheme+"://"+authz.Host+authz.Path)
	q := authz.Query()
	assert.Equal(t, demoAppClientID, q.Get("client_id"))
	assert.Equal(t, f.issuer+"/app/callback", q.Get("redirect_uri"))
	assert.Equal(t, "id_token subject_token", q.Get("response_type"))
	assert.Equal(t, "form_post", q.Get("response_mode"))
	assert.Equal(t, "bob", q.Get("requested_subject"))
	assert.Equal(t, "ticket 4711: bob cannot see his orders", q.Get("impersonation_reason"))
	assert.Contains(t, q.Get("scope"), "internal_user_impersonate")
	assert.Len(t, q.Get("state"), 43)
	assert.Len(t, q.Get("nonce"), 43)
	appCookie := sessionCookie(t, p.Response, "actas_demo_app")
	assert.Equal(t, "/app", appCookie.Path)
	assert.True(t, appCookie.HttpOnly)

	// Consent, then the form_post page.
	p = b.get(authz.String())
	require.Equal(t, http.StatusOK, p.StatusCode)
	consent := formFor(t, p.Body, "/oauth2/authorize")
	consent.Set("consent", "allow")
	p = b.post("/oauth2/authorize", consent)
	require.Equal(t, http.StatusOK, p.StatusCode)
	callback := formFor(t, p.Body, f.issuer+"/app/callback")
	require.NotEmpty(t, callback.Get("subject_token"))

	// A forged callback (wrong state) is refused and does not consume
	// the pending request.
	forged := url.Values{"state": {"forged"}, "subject_token": {callback.Get("subject_token")}, "id_token": {callback.Get("id_token")}}
	assert.Equal(t, http.StatusBadRequest, b.post("/app/callback", forged).StatusCode)

	// The browser posts the form to the app, which exchanges the tokens.
	p = b.post(f.issuer+"/app/callback", callback)
	require.Equal(t, "/app", p.location(t), p.Body)
	assert.Equal(t, http.StatusBadRequest, b.post("/app/callback", callback).StatusCode, "a response is used once")

	p = b.get("/app")
	require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
	assert.Contains(t, p.Body, "You are acting as bob — signed in as alice")
	assert.Contains(t, html.UnescapeString(p.Body), `"sub": "bob"`, "the API's answer is shown")
	assert.NotContains(t, p.Body, "eyJ", "the access token stays on the server")
	endForm := formFor(t, p.Body, "/app/end")
	assert.NotEmpty(t, endForm.Get(csrfField))

	// The token the app keeps is for the API and impersonated.
	appSess := findAppSession(t, f)
	_, at := claimsOf(t, appSess.AccessToken)
	assert.Equal(t, f.issuer+"/api", at["aud"])
	assert.Equal(t, "bob", at["sub"])
	assert.Equal(t, map[string]any{"sub": "alice"}, at["act"])

	// Changing bob's password is refused to the impersonator.
	p = b.post("/app/password", formFor(t, p.Body, "/app/password"))
	require.Equal(t, "/app", p.location(t))
	p = b.get("/app")
	assert.Contains(t, p.Body, "POST /api/password: 403, refused: not allowed while impersonating.")

	// End impersonation: CSRF first.
	assert.Equal(t, http.StatusForbidden, b.post("/app/end", url.Values{}).StatusCode)
	status, in := f.postClient(t, "/oauth2/introspect", demoAppClientID, demoAppSecret, url.Values{"token": {appSess.AccessToken}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, in["active"], "a refused End changes nothing")

	p = b.post("/app/end", endForm)
	assert.Equal(t, "/console", p.location(t))
	status, in = f.postClient(t, "/oauth2/introspect", demoAppClientID, demoAppSecret, url.Values{"token": {appSess.AccessToken}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"active": false}, in, "the token is revoked")
	assert.Equal(t, http.StatusUnauthorized, f.apiCall(t, http.MethodGet, "/api/me", appSess.AccessToken).StatusCode)

	p = b.get("/app")
	assert.NotContains(t, p.Body, "You are acting as")
	assert.Contains(t, p.Body, "not signed in to the demo app")

	assert.Equal(t, []string{"impersonation.started", "token.exchanged", "impersonation.session_started", "impersonation.request", "impersonation.request", "impersonation.ended"}, f.decisions(),
		"the password change attempted and refused under impersonation; End impersonation ends the impersonation session, whose end revokes the token: one impersonation.ended")
	assert.Contains(t, f.eventTypes(), string(store.EventRequestRefused), "the revoked token's refusals at the API and the introspection are traced too")
	events := f.s.dir.db.Events()
	assert.Equal(t, "ticket 4711: bob cannot see his orders", events[0].Justification)
	assert.Len(t, f.s.dir.db.Notices(), 1, "bob is told")
}

// findAppSession returns the demo app's only session holding a token.
func findAppSession(t *testing.T, f *fixture) session {
	t.Helper()
	return sessionWithToken(t, f.s.app.sessions, "no app session with a token")
}

// TestAppCallbackErrors: the app reports a declined consent, and refuses
// callbacks without a flow in progress.
func TestAppCallbackErrors(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	assert.Equal(t, http.StatusBadRequest, b.post("/app/callback", url.Values{"state": {"x"}}).StatusCode, "no flow in progress")

	b.login("alice", "alice-demo-password")
	consent := consentForm(t, b, "carol", "check")
	consent.Set("consent", "deny")
	p := b.post("/oauth2/authorize", consent)
	require.Equal(t, http.StatusOK, p.StatusCode)
	callback := formFor(t, p.Body, f.issuer+"/app/callback")
	assert.Equal(t, "access_denied", callback.Get("error"))
	p = b.post("/app/callback", callback)
	assert.Equal(t, http.StatusOK, p.StatusCode)
	assert.Contains(t, p.Body, "Impersonation not started")
	assert.Contains(t, p.Body, "access_denied")
	assert.NotContains(t, b.get("/app").Body, "You are acting as")
}

// TestAuditPage: every event type the flows produce is listed, newest
// first, in HTML and in JSON.
func TestAuditPage(t *testing.T) {
	f, b := aliceBrowser(t)

	// impersonation.started, token.exchanged, impersonation.request,
	// impersonation.ended through the API and revocation.
	token := impersonatedToken(t, f, "bob")
	require.Equal(t, http.StatusForbidden, f.apiCall(t, http.MethodPost, "/api/password", token).StatusCode)
	status, _ := f.postClient(t, "/oauth2/revoke", cliClientID, cliSecret, url.Values{"token": {token}})
	require.Equal(t, http.StatusOK, status)
	// token.exchange_denied (a bad actor token), then token.replay_detected.
	v := b.cliAuthorize("carol", "fragment")
	status, _ = f.exchange(t, v.Get("subject_token"), "garbage", nil)
	require.Equal(t, http.StatusBadRequest, status)
	status, _ = f.exchange(t, v.Get("subject_token"), v.Get("id_token"), nil)
	require.Equal(t, http.StatusOK, status)
	status, _ = f.exchange(t, v.Get("subject_token"), v.Get("id_token"), nil)
	require.Equal(t, http.StatusBadRequest, status)
	// token.revoked: a subject token revoked before its exchange.
	v = b.cliAuthorize("bob", "fragment")
	status, _ = f.postClient(t, "/oauth2/revoke", cliClientID, cliSecret, url.Values{"token": {v.Get("subject_token")}})
	require.Equal(t, http.StatusOK, status)
	// impersonation.denied: dave is out of reach.
	b.get(f.authorizeURL(cliClientID, cliRedirectURI, "dave", "", url.Values{"impersonation_reason": {"just looking"}}))
	// request.refused: a malformed token request.
	status, _ = f.postClient(t, "/oauth2/token", cliClientID, cliSecret, url.Values{"grant_type": {"password"}})
	require.Equal(t, http.StatusBadRequest, status)

	want := []string{
		"impersonation.started", "token.exchanged", "impersonation.request", "impersonation.ended",
		"token.exchange_denied", "token.replay_detected", "token.revoked", "impersonation.denied",
	}
	types := f.eventTypes()
	for _, w := range want {
		assert.Contains(t, types, w)
	}
	require.Contains(t, types, "request.refused")
	// Alice administers acme: she sees its events, not the malformed
	// request, which names no organisation and is not about her (only
	// auditors see those; audit_scope_test.go covers them).
	var acme []string
	for _, e := range types {
		if e != "request.refused" {
			acme = append(acme, e)
		}
	}

	p := b.get("/console/audit")
	require.Equal(t, http.StatusOK, p.StatusCode)
	assert.Equal(t, "no-store", p.Header.Get("Cache-Control"))
	for _, w := range want {
		assert.Contains(t, p.Body, `data-event="`+w+`"`)
	}
	assert.NotContains(t, p.Body, `data-event="request.refused"`)
	for _, col := range []string{"Time", "Event", "Impersonator", "User", "Organisation", "App", "Scopes", "Outcome", "Reason"} {
		assert.Contains(t, p.Body, "<th>"+col+"</th>")
	}
	assert.Contains(t, p.Body, "just looking")
	assert.Contains(t, p.Body, "subject_outside_organization")
	assert.Less(t, strings.Index(p.Body, `data-event="impersonation.denied"`), strings.Index(p.Body, `data-event="impersonation.started"`), "newest first")

	p = b.get("/console/audit?format=json")
	require.Equal(t, http.StatusOK, p.StatusCode)
	assert.Equal(t, "application/json", p.Header.Get("Content-Type"))
	var rows []auditRow
	require.NoError(t, json.Unmarshal([]byte(p.Body), &rows))
	require.Len(t, rows, len(acme))
	var got []string
	for _, r := range rows {
		got = append(got, r.Event)
		assert.NotEmpty(t, r.Time)
	}
	slices.Reverse(got)
	assert.Equal(t, acme, got, "acme's events, newest first")
	started := rows[len(rows)-1]
	assert.Equal(t, "impersonation.started", started.Event)
	assert.Equal(t, "alice", started.Impersonator)
	assert.Equal(t, "bob", started.User)
	assert.Equal(t, "acme-eu", started.Organization)
	assert.Equal(t, cliClientID, started.App)
	assert.Equal(t, "granted", started.Outcome)
	assert.Contains(t, started.Scopes, "orders:read")

	// Bob, no admin, sees only the events about himself.
	assertSeesOnlyBob(t, f)
}

// assertSeesOnlyBob signs bob, no admin, in at f: the audit log shows
// him only the events about himself.
func assertSeesOnlyBob(t *testing.T, f *fixture) {
	t.Helper()
	bob := f.browser(t)
	bob.login("bob", "bob-demo-password")
	p := bob.get("/console/audit?format=json")
	var rows []auditRow
	require.NoError(t, json.Unmarshal([]byte(p.Body), &rows))
	require.NotEmpty(t, rows)
	for _, r := range rows {
		assert.True(t, r.User == "bob" || r.Impersonator == "bob", "%+v", r)
	}
}

// appCallbackForm runs the console → app → authorize → consent steps in
// b and returns the form_post fields the browser would send to the app.
func appCallbackForm(t *testing.T, f *fixture, b *browser, subject string) url.Values {
	t.Helper()
	consent := consentForm(t, b, subject, "ticket 1")
	consent.Set("consent", "allow")
	p := b.post("/oauth2/authorize", consent)
	require.Equal(t, http.StatusOK, p.StatusCode)
	return formFor(t, p.Body, f.issuer+"/app/callback")
}

// consentForm runs the console's Impersonate of subject with reason in b
// (signed in) up to the consent page, and returns its form.
func consentForm(t *testing.T, b *browser, subject, reason string) url.Values {
	t.Helper()
	p := b.get("/console")
	p = b.post("/console/impersonate", url.Values{"user": {subject}, "reason": {reason}, csrfField: {csrf(t, p.Body)}})
	p = b.get(p.location(t))
	p = b.get(p.location(t))
	require.Equal(t, http.StatusOK, p.StatusCode)
	return formFor(t, p.Body, "/oauth2/authorize")
}

// TestAppCallbackVerifiesIDToken: the app verifies the ID token and its
// nonce before exchanging anything, so an ID token from another browser's
// impersonation (or for another client) is refused and nothing is issued.
func TestAppCallbackVerifiesIDToken(t *testing.T) {
	f := newFixture(t)
	mine, theirs := f.browser(t), f.browser(t)
	mine.login("alice", "alice-demo-password")
	theirs.login("alice", "alice-demo-password")
	cb := appCallbackForm(t, f, mine, "bob")
	other := appCallbackForm(t, f, theirs, "carol")
	cli := mine.cliAuthorize("bob", "fragment")

	for name, idToken := range map[string]string{
		"ID token of another browser's impersonation (other nonce)": other.Get("id_token"),
		"ID token for another client":                               cli.Get("id_token"),
		"not a token":                                               "garbage",
	} {
		forged := url.Values{"state": {cb.Get("state")}, "subject_token": {cb.Get("subject_token")}, "id_token": {idToken}}
		exchanged := strings.Count(strings.Join(f.eventTypes(), " "), "token.exchanged")
		p := mine.post("/app/callback", forged)
		assert.Equal(t, http.StatusBadRequest, p.StatusCode, name)
		assert.Equal(t, exchanged, strings.Count(strings.Join(f.eventTypes(), " "), "token.exchanged"), "%s: nothing exchanged", name)
		// A refused callback uses up the pending request; start again.
		cb = appCallbackForm(t, f, mine, "bob")
	}
	p := mine.post("/app/callback", cb)
	assert.Equal(t, "/app", p.location(t), "the genuine response still works")
}
