package main

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
)

// /account (issue 14, part 2): the signed-in user's impersonations of
// them, newest first, paged, each running one with an End button; only
// their own, and nothing but a running one of theirs can be ended.

// accountRow is one row of the account page's list.
type accountRow struct {
	ID, State, Who, App, Reason, Status string
}

var (
	accountRowRE = regexp.MustCompile(`(?s)<tr class="impersonation" data-id="([^"]*)" data-state="([^"]*)">(.*?)</tr>`)
	cellRE       = func(class string) *regexp.Regexp {
		return regexp.MustCompile(`(?s)<td class="` + class + `">(.*?)</td>`)
	}
	whoRE, appRE, reasonRE, statusRE = cellRE("who"), cellRE("app"), cellRE("reason"), cellRE("status")
	olderRE                          = regexp.MustCompile(`<a href="([^"]*)" id="older">`)
)

// accountRows reads the rows of an account page.
func accountRows(body string) []accountRow {
	var out []accountRow
	cell := func(re *regexp.Regexp, s string) string {
		if m := re.FindStringSubmatch(s); m != nil {
			return html.UnescapeString(strings.TrimSpace(m[1]))
		}
		return ""
	}
	for _, m := range accountRowRE.FindAllStringSubmatch(body, -1) {
		out = append(out, accountRow{
			ID: html.UnescapeString(m[1]), State: m[2], Who: cell(whoRE, m[3]), App: cell(appRE, m[3]),
			Reason: cell(reasonRE, m[3]), Status: cell(statusRE, m[3]),
		})
	}
	return out
}

// olderLink is the page's Older link, or "".
func olderLink(body string) string {
	if m := olderRE.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// signedInAs returns a new browser of f signed in as username (whose
// password is the demo data's).
func signedInAs(t *testing.T, f *fixture, username string) *browser {
	t.Helper()
	b := f.browser(t)
	b.login(username, username+"-demo-password")
	return b
}

// accountPageOf loads /account in b and requires 200.
func accountPageOf(t *testing.T, b *browser) page {
	t.Helper()
	p := b.get("/account")
	require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
	return p
}

// endForm is the End form of the row of id on an account page.
func endForm(t *testing.T, body, id string) url.Values {
	t.Helper()
	for _, fm := range forms(body) {
		if fm.Action == "/account/end" && fm.Fields.Get("id") == id {
			return fm.Fields
		}
	}
	require.Failf(t, "no End form", "for %s in %s", id, body)
	return nil
}

// TestAccountShowsTheImpersonationsOfTheUser: after alice impersonates bob
// through the console, bob's /account shows it running: who, when, the
// application, the reason, with an End button; alice's and carol's pages
// show nothing of it.
func TestAccountShowsTheImpersonationsOfTheUser(t *testing.T) {
	f, alice := impersonatingBob(t)
	bob := signedInAs(t, f, "bob")

	p := accountPageOf(t, bob)
	rows := accountRows(p.Body)
	require.Len(t, rows, 1, p.Body)
	row := rows[0]
	assert.Equal(t, "running", row.State)
	assert.Equal(t, "alice", row.Who)
	assert.Equal(t, demoAppClientID, row.App)
	assert.Equal(t, "“ticket 1”", row.Reason)
	assert.True(t, strings.HasPrefix(row.Status, "Running until "), row.Status)
	assert.Contains(t, p.Body, `<time datetime="`)
	fields := endForm(t, p.Body, row.ID)
	assert.NotEmpty(t, fields.Get(csrfField))
	starts := f.eventsOf(store.EventImpersonationStarted)
	require.Len(t, starts, 1)
	assert.Equal(t, starts[0].JTI, row.ID, "the row names the impersonation the authorize step started")

	for _, b := range []*browser{alice, signedInAs(t, f, "carol")} {
		p := accountPageOf(t, b)
		assert.Empty(t, accountRows(p.Body), "another user's impersonation is not shown")
		assert.Contains(t, p.Body, "Nobody has impersonated you.")
		assert.NotContains(t, p.Body, row.ID)
	}
}

// TestAccountEndsARunningImpersonation: bob ends alice's impersonation of
// him from /account: back on /account it shows ended by him, alice's
// console no longer impersonates, her demo app 2 sign-in is her own, the
// demo app's token is revoked, and the end is audited as bob's.
func TestAccountEndsARunningImpersonation(t *testing.T) {
	f, alice := impersonatingBob(t)
	appToken := sessionWithToken(t, f.s.app.sessions, "no demo app session with a token").AccessToken
	require.True(t, f.active(t, demoAppClientID, demoAppSecret, appToken))
	bob := signedInAs(t, f, "bob")
	p := accountPageOf(t, bob)
	row := accountRows(p.Body)[0]

	p = bob.post("/account/end", endForm(t, p.Body, row.ID))
	require.Equal(t, "/account", p.location(t), p.Body)

	p = accountPageOf(t, bob)
	rows := accountRows(p.Body)
	require.Len(t, rows, 1)
	assert.Equal(t, "ended", rows[0].State)
	assert.True(t, strings.HasPrefix(rows[0].Status, "Ended by you at "), rows[0].Status)
	assert.NotContains(t, p.Body, `action="/account/end"`, "nothing left to end")

	ended := f.eventsOf(store.EventImpersonationEnded)
	require.NotEmpty(t, ended)
	assert.Equal(t, impersonation.EndedBySubject, ended[0].Reason)
	assert.Equal(t, "bob", ended[0].Subject)
	assert.Equal(t, "alice", ended[0].Impersonator)

	assert.False(t, f.active(t, demoAppClientID, demoAppSecret, appToken), "the demo app's token is revoked")
	p = alice.get("/console")
	assert.NotContains(t, p.Body, `id="active-impersonation"`, "alice's console no longer impersonates")
	p = alice.app2SignIn()
	assert.Empty(t, bannerText(p.Body), "demo app 2 signs alice in as herself: %s", p.Body)
}

// TestAccountEndIsCSRFChecked: an End without the session's CSRF token,
// or from a browser not signed in, ends nothing.
func TestAccountEndIsCSRFChecked(t *testing.T) {
	f, _ := impersonatingBob(t)
	bob := signedInAs(t, f, "bob")
	p := accountPageOf(t, bob)
	id := accountRows(p.Body)[0].ID

	tests := []struct {
		name   string
		b      *browser
		form   url.Values
		status int
	}{
		{name: "no CSRF token", b: bob, form: url.Values{"id": {id}}, status: http.StatusForbidden},
		{name: "a wrong CSRF token", b: bob, form: url.Values{"id": {id}, csrfField: {"forged"}}, status: http.StatusForbidden},
		{name: "another session's CSRF token", b: bob, form: url.Values{"id": {id}, csrfField: {csrf(t, accountPageOf(t, signedInAs(t, f, "bob")).Body)}}, status: http.StatusForbidden},
		{name: "not signed in", b: f.browser(t), form: url.Values{"id": {id}, csrfField: {csrf(t, p.Body)}}, status: http.StatusSeeOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.b.post("/account/end", tc.form)
			assert.Equal(t, tc.status, got.StatusCode, got.Body)
			if tc.status == http.StatusSeeOther {
				assert.True(t, strings.HasPrefix(got.location(t), "/login?"), "to the login page")
			}
			assert.Equal(t, "running", accountRows(accountPageOf(t, bob).Body)[0].State, "nothing ended")
		})
	}
	assert.Empty(t, f.eventsOf(store.EventImpersonationEnded))
}

// TestAccountEndRefusesWhatIsNotTheUsers: carol cannot end bob's
// impersonation, and forged, malformed or missing IDs end nothing: each
// is answered with a page (404, 400, 409), never a 500 or a redirect.
func TestAccountEndRefusesWhatIsNotTheUsers(t *testing.T) {
	f, alice := impersonatingBob(t)
	bob := signedInAs(t, f, "bob")
	carol := signedInAs(t, f, "carol")
	bobsID := accountRows(accountPageOf(t, bob).Body)[0].ID
	carolCSRF := csrf(t, accountPageOf(t, carol).Body)
	bobCSRF := csrf(t, accountPageOf(t, bob).Body)
	// alice's exchanged token's jti: a real ID, but not an impersonation's.
	tokenID := f.eventsOf(store.EventTokenExchanged)[0].JTI

	tests := []struct {
		name   string
		b      *browser
		form   url.Values
		status int
		text   string
	}{
		{name: "carol ends bob's", b: carol, form: url.Values{"id": {bobsID}, csrfField: {carolCSRF}}, status: http.StatusNotFound, text: "There is no such impersonation of you."},
		{name: "a forged ID", b: bob, form: url.Values{"id": {"forged-" + bobsID}, csrfField: {bobCSRF}}, status: http.StatusNotFound},
		{name: "the exchanged token's jti", b: bob, form: url.Values{"id": {tokenID}, csrfField: {bobCSRF}}, status: http.StatusNotFound},
		{name: "no ID", b: bob, form: url.Values{csrfField: {bobCSRF}}, status: http.StatusBadRequest, text: "did not say which impersonation"},
		{name: "an empty ID", b: bob, form: url.Values{"id": {""}, csrfField: {bobCSRF}}, status: http.StatusBadRequest},
		{name: "two IDs", b: bob, form: url.Values{"id": {bobsID, bobsID}, csrfField: {bobCSRF}}, status: http.StatusBadRequest},
		{name: "an ID far too long", b: bob, form: url.Values{"id": {strings.Repeat("a", 300)}, csrfField: {bobCSRF}}, status: http.StatusBadRequest},
		{name: "markup in the ID", b: bob, form: url.Values{"id": {`<script>alert(1)</script>`}, csrfField: {bobCSRF}}, status: http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.b.post("/account/end", tc.form)
			assert.Equal(t, tc.status, p.StatusCode, p.Body)
			assert.Contains(t, p.Body, `role="alert"`)
			if tc.text != "" {
				assert.Contains(t, p.Body, tc.text)
			}
			assert.NotContains(t, p.Body, "<script>alert(1)</script>")
		})
	}
	assert.Equal(t, "running", accountRows(accountPageOf(t, bob).Body)[0].State, "bob's impersonation still runs")
	assert.Empty(t, f.eventsOf(store.EventImpersonationEnded), "nothing ended, nothing recorded")
	assert.Empty(t, accountRows(accountPageOf(t, carol).Body), "carol's page still shows nothing of bob's")

	// Over already: alice ended it in the console.
	p := alice.get("/console")
	p = alice.post("/console/end", url.Values{csrfField: {csrf(t, p.Body)}})
	require.Equal(t, "/console", p.location(t), p.Body)
	p = bob.post("/account/end", url.Values{"id": {bobsID}, csrfField: {bobCSRF}})
	assert.Equal(t, http.StatusConflict, p.StatusCode, p.Body)
	assert.Contains(t, p.Body, "already over")
}

// TestAccountPages: the list is paged newest first with an Older link
// and a Newest link back; every impersonation shows once; a link that is
// not one of the page's is a 400 page.
func TestAccountPages(t *testing.T) {
	f := newFixture(t)
	f.s.accountPage.pageSize = 2
	alice := signedInAs(t, f, "alice")
	for range 5 {
		alice.cliAuthorize("bob", "")
	}
	alice.cliAuthorize("carol", "")
	starts := f.eventsOf(store.EventImpersonationStarted)
	var want []string
	for i := len(starts) - 1; i >= 0; i-- {
		if starts[i].Subject == "bob" {
			want = append(want, starts[i].JTI)
		}
	}
	require.Len(t, want, 5)

	bob := signedInAs(t, f, "bob")
	var got []string
	var sizes []int
	u := "/account"
	for range 5 {
		p := bob.get(u)
		require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
		rows := accountRows(p.Body)
		sizes = append(sizes, len(rows))
		for _, r := range rows {
			got = append(got, r.ID)
			assert.Equal(t, "running", r.State)
			assert.Equal(t, cliClientID, r.App)
			assert.True(t, strings.HasPrefix(r.Status, "Started, not used yet; expires "), r.Status)
		}
		if u != "/account" {
			assert.Contains(t, p.Body, `<a href="/account" id="newest">`)
		} else {
			assert.NotContains(t, p.Body, `id="newest"`)
		}
		if u = olderLink(p.Body); u == "" {
			break
		}
		assert.True(t, strings.HasPrefix(u, "/account?after="), u)
	}
	assert.Equal(t, []int{2, 2, 1}, sizes)
	assert.Equal(t, want, got)

	for name, link := range map[string]string{
		"not a cursor":   "/account?after=not-a-cursor",
		"a negative one": "/account?after=-1",
		"two cursors":    "/account?after=1&after=2",
		"far too long":   "/account?after=" + strings.Repeat("1", 200),
	} {
		t.Run(name, func(t *testing.T) {
			p := bob.get(link)
			assert.Equal(t, http.StatusBadRequest, p.StatusCode, p.Body)
			assert.Contains(t, p.Body, "This page link is not valid.")
			assert.Contains(t, p.Body, `href="/account"`)
		})
	}
}

// TestAccountStates: an impersonation shows running, then expired, by the
// server's clock; a subject token never exchanged says so.
func TestAccountStates(t *testing.T) {
	clock := newTestClock()
	f := newFixture(t, func(c *config) { c.Now = clock.Now })
	alice := signedInAs(t, f, "alice")
	alice.cliAuthorize("bob", "")
	bob := signedInAs(t, f, "bob")
	row := accountRows(accountPageOf(t, bob).Body)[0]
	assert.Equal(t, "running", row.State)
	assert.True(t, strings.HasPrefix(row.Status, "Started, not used yet; expires "), row.Status)

	clock.Advance(4 * time.Minute)
	p := accountPageOf(t, bob)
	row = accountRows(p.Body)[0]
	assert.Equal(t, "expired", row.State)
	assert.True(t, strings.HasPrefix(row.Status, "Never used; expired at "), row.Status)
	assert.NotContains(t, p.Body, `action="/account/end"`, "nothing to end")
	p = bob.post("/account/end", url.Values{"id": {row.ID}, csrfField: {csrf(t, p.Body)}})
	assert.Equal(t, http.StatusConflict, p.StatusCode, p.Body)
}

// TestAccountNeedsASignedInUser: the page sends a browser that is not
// signed in to the login page, which comes back to it; other methods are
// 405.
func TestAccountNeedsASignedInUser(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	p := b.get("/account")
	assert.Equal(t, "/login?return_to=%2Faccount", p.location(t))
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "/account"}, {http.MethodDelete, "/account"}, {http.MethodGet, "/account/end"}, {http.MethodPut, "/account/end"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, f.issuer+tc.path, nil)
		require.NoError(t, err)
		p := b.do(req)
		assert.Equal(t, http.StatusMethodNotAllowed, p.StatusCode, "%s %s", tc.method, tc.path)
	}
	p = b.post("/account/end", url.Values{"id": {"x"}})
	assert.True(t, strings.HasPrefix(p.location(t), "/login?"))
}

// failingAuditLog cannot be read.
type failingAuditLog struct{}

func (failingAuditLog) QueryEvents(context.Context, store.AuditQuery) ([]store.Event, error) {
	return nil, errors.New("audit log unreachable")
}

// TestAccountAuditLogDown: when the audit log cannot be read the page
// says so (503), and End ends nothing and says to try again (503), never
// a 500.
func TestAccountAuditLogDown(t *testing.T) {
	f, _ := impersonatingBob(t)
	bob := signedInAs(t, f, "bob")
	p := accountPageOf(t, bob)
	id := accountRows(p.Body)[0].ID
	h, err := impersonation.NewHistory(f.s.svc, failingAuditLog{})
	require.NoError(t, err)
	f.s.accountPage.history = h

	down := bob.get("/account")
	assert.Equal(t, http.StatusServiceUnavailable, down.StatusCode)
	assert.Contains(t, down.Body, "cannot be read right now")
	down = bob.post("/account/end", endForm(t, p.Body, id))
	assert.Equal(t, http.StatusServiceUnavailable, down.StatusCode)
	assert.Contains(t, down.Body, "Try again in a moment")
	assert.Empty(t, f.eventsOf(store.EventImpersonationEnded))
}

// TestAccountIsLinked: the home page and the console lead to /account.
func TestAccountIsLinked(t *testing.T) {
	f := newFixture(t)
	b := signedInAs(t, f, "bob")
	for _, path := range []string{"/", "/console", "/console/audit"} {
		p := b.get(path)
		require.Equal(t, http.StatusOK, p.StatusCode, path)
		assert.Contains(t, p.Body, `<a href="/account">`, path)
	}
}

// TestSharedAccount: with the audit log in PostgreSQL and the token state
// in Redis, bob's /account at instance B shows, a page at a time (the
// store's own cursors), the impersonations alice made at A, and ending one
// at B revokes its token at A.
func TestSharedAccount(t *testing.T) {
	t.Parallel()
	ss := newSharedStores(t)
	a, b := twoInstances(t, ss.both)
	b.s.accountPage.pageSize = 2
	tokens := subjectTokens(t, a, "bob", 3)
	status, out := exchangeAt(t, a, tokens[0])
	require.Equal(t, http.StatusOK, status, out)
	access := out["access_token"].(string)
	require.Equal(t, http.StatusOK, a.apiCall(t, http.MethodGet, "/api/me", access).StatusCode)

	bob := signedInAs(t, b, "bob")
	p := accountPageOf(t, bob)
	first := accountRows(p.Body)
	require.Len(t, first, 2)
	older := olderLink(p.Body)
	require.NotEmpty(t, older)
	p = bob.get(older)
	require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
	last := accountRows(p.Body)
	require.Len(t, last, 1, "three in all")
	assert.Empty(t, olderLink(p.Body))
	exchanged := last[0] // the oldest is the one exchanged
	assert.True(t, strings.HasPrefix(exchanged.Status, "Running until "), exchanged.Status)
	for _, r := range first {
		assert.True(t, strings.HasPrefix(r.Status, "Started, not used yet"), r.Status)
	}

	p = bob.post("/account/end", endForm(t, p.Body, exchanged.ID))
	require.Equal(t, "/account", p.location(t), p.Body)
	assert.Equal(t, http.StatusUnauthorized, a.apiCall(t, http.MethodGet, "/api/me", access).StatusCode, "revoked at A too")
	p = bob.get(older)
	require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
	assert.Equal(t, "ended", accountRows(p.Body)[0].State)
}
