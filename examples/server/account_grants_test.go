package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The access a user gives from /account, for a data file client that
// requires it (require_subject_grant).

// grantRowRe finds the grant rows of an account page: id and state.
var grantRowRe = regexp.MustCompile(`<tr class="grant" data-id="([^"]+)" data-state="([^"]+)">`)

// grantsFixture serves validData with app1 requiring subject grants, and
// returns the fixture and bob's browser, signed in.
func grantsFixture(t *testing.T) (*fixture, *browser) {
	t.Helper()
	path := writeData(t, strings.Replace(validData, `"refresh_tokens": false`, `"refresh_tokens": false, "require_subject_grant": true`, 1))
	f := newFixture(t, func(c *config) { c.DataFile = path; c.AppClientID = "app1" })
	bob := f.browser(t)
	bob.login("bob", "pw-bob-file")
	return f, bob
}

// aliceAuthorizes runs alice's authorize step for bob through app1 and
// returns the fragment's parameters.
func aliceAuthorizes(t *testing.T, f *fixture, alice *browser) url.Values {
	t.Helper()
	p := alice.get(f.authorizeURL("app1", "https://app1.example/cb", "u-bob", "", nil))
	_, v := p.fragment(t)
	return v
}

func TestAccountGrantsGiveAndRevoke(t *testing.T) {
	f, bob := grantsFixture(t)
	alice := f.browser(t)
	alice.login("alice", "pw-alice-file")

	p := accountPageOf(t, bob)
	assert.Contains(t, p.Body, `id="grants"`)
	assert.Contains(t, p.Body, `<option value="app1">`)
	assert.Contains(t, p.Body, `id="no-grants"`)
	v := aliceAuthorizes(t, f, alice)
	assert.Equal(t, "access_denied", v.Get("error"), "no grant yet")
	f.requireLastDenial(t, "subject_grant_missing")

	got := bob.post("/account/grant", url.Values{csrfField: {csrf(t, p.Body)}, "client": {"app1"}, "duration": {"1h0m0s"}})
	require.Equal(t, http.StatusSeeOther, got.StatusCode, got.Body)
	p = accountPageOf(t, bob)
	rows := grantRowRe.FindAllStringSubmatch(p.Body, -1)
	require.Len(t, rows, 1)
	assert.Equal(t, "live", rows[0][2])
	assert.Contains(t, p.Body, "every impersonator")

	v = aliceAuthorizes(t, f, alice)
	require.NotEmpty(t, v.Get("subject_token"), "%v", v)
	status, body := f.postClient(t, "/oauth2/token", "app1", "secret-app1-file", url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {v.Get("subject_token")},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"},
		"actor_token":        {v.Get("id_token")},
		"actor_token_type":   {"urn:ietf:params:oauth:token-type:id_token"},
	})
	require.Equal(t, http.StatusOK, status, "%v", body)
	at := body["access_token"].(string)
	_, claims := claimsOf(t, at)
	assert.Equal(t, rows[0][1], claims["sgid"])

	got = bob.post("/account/revoke", url.Values{csrfField: {csrf(t, p.Body)}, "id": {rows[0][1]}})
	require.Equal(t, http.StatusSeeOther, got.StatusCode, got.Body)
	p = accountPageOf(t, bob)
	rows = grantRowRe.FindAllStringSubmatch(p.Body, -1)
	require.Len(t, rows, 1)
	assert.Equal(t, "revoked", rows[0][2])
	status, in := f.postClient(t, "/oauth2/introspect", "app1", "secret-app1-file", url.Values{"token": {at}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"active": false}, in, "the token that relied on the grant is revoked")
	v = aliceAuthorizes(t, f, alice)
	assert.Equal(t, "access_denied", v.Get("error"))
	f.requireLastDenial(t, "subject_grant_revoked")

	types := f.eventTypes()
	assert.Contains(t, types, "subject_grant.created")
	assert.Contains(t, types, "subject_grant.revoked")
}

func TestAccountGrantsRefuseBadForms(t *testing.T) {
	f, bob := grantsFixture(t)
	token := csrf(t, accountPageOf(t, bob).Body)
	tests := []struct {
		name   string
		path   string
		form   url.Values
		status int
	}{
		{name: "no CSRF token", path: "/account/grant", form: url.Values{"client": {"app1"}, "duration": {"1h0m0s"}}, status: http.StatusForbidden},
		{name: "an unknown client", path: "/account/grant", form: url.Values{csrfField: {token}, "client": {"nope"}, "duration": {"1h0m0s"}}, status: http.StatusBadRequest},
		{name: "a duration not offered", path: "/account/grant", form: url.Values{csrfField: {token}, "client": {"app1"}, "duration": {"2h0m0s"}}, status: http.StatusBadRequest},
		{name: "no duration", path: "/account/grant", form: url.Values{csrfField: {token}, "client": {"app1"}}, status: http.StatusBadRequest},
		{name: "an unknown impersonator", path: "/account/grant", form: url.Values{csrfField: {token}, "client": {"app1"}, "duration": {"1h0m0s"}, "impersonator": {"mallory"}}, status: http.StatusBadRequest},
		{name: "to themselves", path: "/account/grant", form: url.Values{csrfField: {token}, "client": {"app1"}, "duration": {"1h0m0s"}, "impersonator": {"bob"}}, status: http.StatusBadRequest},
		{name: "a disabled impersonator", path: "/account/grant", form: url.Values{csrfField: {token}, "client": {"app1"}, "duration": {"1h0m0s"}, "impersonator": {"eve"}}, status: http.StatusBadRequest},
		{name: "revoking an unknown grant", path: "/account/revoke", form: url.Values{csrfField: {token}, "id": {"no-such-grant"}}, status: http.StatusNotFound},
		{name: "revoking without an id", path: "/account/revoke", form: url.Values{csrfField: {token}}, status: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := bob.post(tc.path, tc.form)
			assert.Equal(t, tc.status, got.StatusCode, got.Body)
			assert.Empty(t, grantRowRe.FindAllStringSubmatch(accountPageOf(t, bob).Body, -1), "no grant given")
		})
	}
	assert.NotContains(t, f.eventTypes(), "subject_grant.created")
}

// TestAccountGrantsOnlyOwn: alice cannot revoke bob's grant, and sees
// none of it.
func TestAccountGrantsOnlyOwn(t *testing.T) {
	f, bob := grantsFixture(t)
	p := accountPageOf(t, bob)
	got := bob.post("/account/grant", url.Values{csrfField: {csrf(t, p.Body)}, "client": {"app1"}, "duration": {"1h0m0s"}, "impersonator": {"alice"}})
	require.Equal(t, http.StatusSeeOther, got.StatusCode, got.Body)
	p = accountPageOf(t, bob)
	rows := grantRowRe.FindAllStringSubmatch(p.Body, -1)
	require.Len(t, rows, 1)
	assert.Contains(t, p.Body, `<td class="who">alice</td>`)

	alice := f.browser(t)
	alice.login("alice", "pw-alice-file")
	ap := accountPageOf(t, alice)
	assert.NotContains(t, ap.Body, rows[0][1])
	got = alice.post("/account/revoke", url.Values{csrfField: {csrf(t, ap.Body)}, "id": {rows[0][1]}})
	assert.Equal(t, http.StatusNotFound, got.StatusCode)
	assert.Equal(t, "live", grantRowRe.FindAllStringSubmatch(accountPageOf(t, bob).Body, -1)[0][2])
}

// TestAccountWithoutGrantClients: with no client requiring grants, the
// page has no grants section (the built-in demo data).
func TestAccountWithoutGrantClients(t *testing.T) {
	f := newFixture(t)
	p := accountPageOf(t, signedInAs(t, f, "bob"))
	assert.NotContains(t, p.Body, `id="grants"`)
	got := signedInAs(t, f, "bob").post("/account/grant", url.Values{"client": {demoAppClientID}, "duration": {"1h0m0s"}})
	assert.Equal(t, http.StatusForbidden, got.StatusCode, "CSRF first")
}

// TestSharedAccountGrants: two instances of one issuer share the grants:
// given at one, they let alice impersonate at the other; revoked at that
// one, they stop her at the first. Once with Redis, once with PostgreSQL.
func TestSharedAccountGrants(t *testing.T) {
	t.Parallel()
	ss := newSharedStores(t)
	path := writeData(t, strings.Replace(validData, `"refresh_tokens": false`, `"refresh_tokens": false, "require_subject_grant": true`, 1))
	for name, shared := range map[string]func(*config){"redis": ss.redis, "postgres": ss.postgres} {
		t.Run(name, func(t *testing.T) {
			a, b := twoInstances(t, func(c *config) { shared(c); c.DataFile = path; c.AppClientID = "app1" })
			bobA := a.browser(t)
			bobA.login("bob", "pw-bob-file")
			aliceB := b.browser(t)
			aliceB.login("alice", "pw-alice-file")
			aliceA := a.browser(t)
			aliceA.login("alice", "pw-alice-file")

			p := accountPageOf(t, bobA)
			got := bobA.post("/account/grant", url.Values{csrfField: {csrf(t, p.Body)}, "client": {"app1"}, "duration": {"1h0m0s"}})
			require.Equal(t, http.StatusSeeOther, got.StatusCode, got.Body)
			v := aliceAuthorizes(t, b, aliceB)
			require.NotEmpty(t, v.Get("subject_token"), "the grant given at A holds at B: %v", v)

			bobB := b.browser(t)
			bobB.login("bob", "pw-bob-file")
			p = accountPageOf(t, bobB)
			rows := grantRowRe.FindAllStringSubmatch(p.Body, -1)
			require.Len(t, rows, 1, "B lists the grant given at A")
			got = bobB.post("/account/revoke", url.Values{csrfField: {csrf(t, p.Body)}, "id": {rows[0][1]}})
			require.Equal(t, http.StatusSeeOther, got.StatusCode, got.Body)
			v = aliceAuthorizes(t, a, aliceA)
			assert.Equal(t, "access_denied", v.Get("error"), "revoked at B, refused at A")
		})
	}
}
