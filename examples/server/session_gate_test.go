package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
)

// Issue 11, F1: an impersonation session hands the user's tokens only to a
// client for which the whole policy passes. alice impersonates bob through
// demo-app; demo-app2 allows impersonation (alice holds the role for it),
// demo-app3 does not (impersonation off, no role).

// app3Callback is demo app 3's redirect URI.
func (f *fixture) app3Callback() string { return f.issuer + "/app3/callback" }

// requireGateDenial requires exactly one impersonation.denied event since
// mark, for client, naming the rule, and no tokens recorded as issued.
func requireGateDenial(t *testing.T, f *fixture, mark int, client, rule string) {
	t.Helper()
	events := f.s.dir.db.Events()[mark:]
	denied := ofType(events, store.EventImpersonationDenied)
	require.Len(t, denied, 1, "events: %+v", events)
	e := denied[0]
	assert.Equal(t, client, e.ClientID)
	assert.Equal(t, "alice", e.Impersonator)
	assert.Equal(t, "bob", e.Subject)
	assert.Equal(t, store.OutcomeDenied, e.Outcome)
	assert.Contains(t, e.Reason, rule)
	assert.Equal(t, "ticket 1", e.Justification)
	assert.Empty(t, ofType(events, store.EventSessionTokens), "no tokens issued under the session")
}

// requireSessionStays requires that b's impersonation session still signs
// demo app 2 in as bob.
func requireSessionStays(t *testing.T, b *browser) {
	t.Helper()
	p := b.app2SignIn()
	assert.Equal(t, "You are acting as bob — signed in as alice", bannerText(p.Body), "the session stays for the clients that allow it")
}

// TestSessionSignInRefusedForClientThePolicyRefuses: the authorize step of
// a code-flow sign-in under the impersonation session answers access_denied
// to the client's redirect URI, with the state and no code, records the
// refusal naming the client and the rule, and keeps the session.
func TestSessionSignInRefusedForClientThePolicyRefuses(t *testing.T) {
	tests := []struct {
		name     string
		client   string
		callback func(*fixture) string
		change   func(t *testing.T, f *fixture)
		rule     string
	}{
		{
			name: "client with impersonation off", client: demoApp3ClientID,
			callback: (*fixture).app3Callback, change: func(*testing.T, *fixture) {},
			rule: "client_impersonation_disabled",
		},
		{
			name: "client the impersonator holds no role for", client: demoApp2ClientID,
			callback: (*fixture).app2Callback,
			change: func(t *testing.T, f *fixture) {
				require.NoError(t, f.s.dir.db.Unassign(demoApp2ClientID, "impersonator", "alice"))
			},
			rule: "impersonator_lacks_role",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, b := impersonatingBob(t)
			tc.change(t, f)
			mark := len(f.s.dir.db.Events())

			_, challenge := pkcePair()
			cb := tc.callback(f)
			v := b.codeResponse(codeAuthorizeURL(tc.client, cb, challenge, nil), cb)
			assert.Equal(t, "access_denied", v.Get("error"))
			assert.Contains(t, v.Get("error_description"), "you are impersonating bob")
			assert.Equal(t, "state-code", v.Get("state"))
			assert.Empty(t, v.Get("code"), "no code: neither bob's tokens nor alice's own")
			requireGateDenial(t, f, mark, tc.client, "session sign-in: policy: "+tc.rule)

			if tc.client == demoApp3ClientID {
				requireSessionStays(t, b)
			}
		})
	}
}

// TestSessionSignInRefusedAtTheTokenEndpoint: a code issued while the
// policy allowed the impersonation is refused at the token endpoint once
// it no longer does for the client, with invalid_grant and nothing issued.
func TestSessionSignInRefusedAtTheTokenEndpoint(t *testing.T) {
	f, b := impersonatingBob(t)
	code, verifier := b.code()
	require.NoError(t, f.s.dir.db.Unassign(demoApp2ClientID, "impersonator", "alice"))
	mark := len(f.s.dir.db.Events())

	status, out := f.redeem(t, demoApp2ClientID, demoApp2Secret, code, f.app2Callback(), verifier)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", out["error"])
	assert.NotContains(t, out, "access_token")
	assert.NotContains(t, out, "id_token")
	requireGateDenial(t, f, mark, demoApp2ClientID, "session sign-in: policy: impersonator_lacks_role")
}

// TestSessionRefreshRefusedForClientThePolicyRefuses: a refresh under the
// session is refused once the policy no longer allows the impersonation
// for the refreshing client.
func TestSessionRefreshRefusedForClientThePolicyRefuses(t *testing.T) {
	f, b := impersonatingBob(t)
	code, verifier := b.code()
	out := f.redeemOK(t, code, verifier)
	_, at := claimsOf(t, out["access_token"].(string))
	require.Equal(t, "bob", at["sub"])
	updateDirClient(t, f, demoApp2ClientID, func(c *store.Client) { c.Impersonation = false })
	mark := len(f.s.dir.db.Events())

	status, refreshed := f.refreshGrant(t, out["refresh_token"].(string))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", refreshed["error"])
	assert.NotContains(t, refreshed, "access_token")
	requireGateDenial(t, f, mark, demoApp2ClientID, "session refresh: policy: client_impersonation_disabled")
}

// updateDirClient changes a client of the directory's memory store.
func updateDirClient(t *testing.T, f *fixture, id string, change func(*store.Client)) {
	t.Helper()
	c, err := f.s.dir.db.Client(t.Context(), id)
	require.NoError(t, err)
	change(c)
	require.NoError(t, f.s.dir.db.PutClient(*c))
}

// TestApp3RefusesTheImpersonatedSignIn: demo app 3, an ordinary client
// without impersonation, shows the refusal under the session; once the
// impersonation ends it signs alice in as herself.
func TestApp3RefusesTheImpersonatedSignIn(t *testing.T) {
	f, b := impersonatingBob(t)

	p := b.get("/app3/login")
	authz := p.location(t)
	require.True(t, strings.HasPrefix(authz, f.issuer+"/oauth2/authorize?"), authz)
	p = b.get(authz)
	cb := p.location(t)
	require.True(t, strings.HasPrefix(cb, f.app3Callback()+"?"), cb)
	p = b.get(cb)
	require.Equal(t, http.StatusOK, p.StatusCode, p.Body)
	assert.Contains(t, p.Body, "Not signed in")
	assert.Contains(t, p.Body, "access_denied")
	assert.NotContains(t, p.Body, "Signed in as")
	assert.Empty(t, bannerText(p.Body))

	p = b.get("/app3")
	assert.Contains(t, p.Body, "You are not signed in to Demo app 3")
	assert.Empty(t, bannerText(p.Body))

	requireSessionStays(t, b)

	// End the impersonation in the console: demo app 3 signs alice in.
	p = b.get("/console")
	csrf := formFor(t, p.Body, "/console/end").Get(csrfField)
	p = b.post("/console/end", url.Values{csrfField: {csrf}})
	require.Equal(t, http.StatusSeeOther, p.StatusCode, p.Body)
	p = b.get("/app3/login")
	p = b.get(p.location(t))
	p = b.get(p.location(t))
	require.Equal(t, "/app3", p.location(t), p.Body)
	p = b.get("/app3")
	assert.Contains(t, p.Body, "Signed in as alice")
	assert.Empty(t, bannerText(p.Body))
}
