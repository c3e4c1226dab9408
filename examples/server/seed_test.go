package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The flow's reference document, step by step, at the reference server:
// the exchange's ID token, the impersonator's ID token claims, the reason
// end to end, lifetimes and per-client reason requirements of the data
// file.

// TestExchangeGivesTheUsersIDToken: the exchange answers an access token
// and the impersonated user's ID token; the impersonator's ID token
// carries sid, amr and their organisation.
func TestExchangeGivesTheUsersIDToken(t *testing.T) {
	f := newFixture(t)
	b := f.browser(t)
	b.login("alice", "alice-demo-password")
	v := b.cliAuthorize("bob", "")

	_, actor := claimsOf(t, v.Get("id_token"))
	assert.Equal(t, "alice", actor["sub"])
	assert.Equal(t, []any{"pwd"}, actor["amr"])
	assert.Equal(t, "acme", actor["org_id"])
	assert.Equal(t, "ACME Corporation", actor["org_name"])
	sid, _ := actor["sid"].(string)
	assert.Len(t, sid, 43, "sid is a SHA-256, base64url")

	status, body := f.exchange(t, v.Get("subject_token"), v.Get("id_token"), nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	idt, _ := body["id_token"].(string)
	require.NotEmpty(t, idt, "openid granted: the user's ID token comes too")
	hdr, id := claimsOf(t, idt)
	assert.Equal(t, "JWT", hdr["typ"])
	assert.Equal(t, "bob", id["sub"])
	assert.Equal(t, cliClientID, id["aud"])
	assert.Equal(t, cliClientID, id["azp"])
	assert.Equal(t, map[string]any{"sub": "alice"}, id["act"])
	assert.Equal(t, actor["auth_time"], id["auth_time"], "auth_time of the impersonator's authentication")
	assert.Equal(t, "acme-eu", id["org_id"])
	assert.NotContains(t, id, "nonce")

	// requested_token_type id_token: the ID token is the issued token.
	v = b.cliAuthorize("bob", "")
	status, body = f.exchange(t, v.Get("subject_token"), v.Get("id_token"), url.Values{
		"requested_token_type": {"urn:ietf:params:oauth:token-type:id_token"},
	})
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "urn:ietf:params:oauth:token-type:id_token", body["issued_token_type"])
	assert.Equal(t, "N_A", body["token_type"])
	_, issued := claimsOf(t, body["access_token"].(string))
	assert.Equal(t, "bob", issued["sub"])
	assert.Equal(t, map[string]any{"sub": "alice"}, issued["act"])
	assert.Equal(t, http.StatusUnauthorized, f.apiCall(t, http.MethodGet, "/api/me", body["access_token"].(string)).StatusCode,
		"an ID token is no bearer token at the API")
}

// TestReasonReachesTheExchange: the reason given at the authorize step is
// on the exchange's audit event and in the access token.
func TestReasonReachesTheExchange(t *testing.T) {
	const reason = "ticket 4711: refund not shown"
	f := newFixture(t)
	b := f.browser(t)
	b.login("alice", "alice-demo-password")
	p := b.get(f.authorizeURL(cliClientID, cliRedirectURI, "bob", "", url.Values{"impersonation_reason": {reason}}))
	_, v := p.fragment(t)
	require.NotEmpty(t, v.Get("subject_token"), "%v", v)

	status, body := f.exchange(t, v.Get("subject_token"), v.Get("id_token"), nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	_, at := claimsOf(t, body["access_token"].(string))
	assert.Equal(t, reason, at["impersonation_reason"])

	var found bool
	for _, rec := range auditRecords(t, f) {
		if rec["event"] == "token.exchanged" {
			found = true
			assert.Equal(t, reason, rec["justification"])
		}
	}
	assert.True(t, found, "a token.exchanged event")
}

// TestDataFileLifetimesAboveTheCap: a client lifetime above its cap is
// refused when the data file loads, naming the client, the field and the
// cap; -max-subject-token-ttl raises the cap.
func TestDataFileLifetimesAboveTheCap(t *testing.T) {
	tests := []struct {
		name    string
		replace string
		cap     time.Duration
		want    string
	}{
		{name: "subject token over the default cap", replace: `"subject_token_ttl": 18000`,
			want: `clients[0] (id "app1"): "subject_token_ttl" 18000 exceeds the cap of 600 seconds (-max-subject-token-ttl)`},
		{name: "subject token over a raised cap", replace: `"subject_token_ttl": 18001`, cap: 5 * time.Hour,
			want: `clients[0] (id "app1"): "subject_token_ttl" 18001 exceeds the cap of 18000 seconds`},
		{name: "access token over the cap", replace: `"access_token_ttl": 86401`,
			want: `clients[0] (id "app1"): "access_token_ttl" 86401 exceeds the cap of 86400 seconds`},
		{name: "the seed's 5-hour subject token under a raised cap", replace: `"subject_token_ttl": 18000`, cap: 5 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			content := strings.Replace(validData, `"access_token_ttl": 600`, tc.replace, 1)
			if strings.HasPrefix(tc.replace, `"subject`) {
				content = strings.Replace(validData, `"subject_token_ttl": 120`, tc.replace, 1)
			}
			path := writeData(t, content)
			cfg := config{Addr: "127.0.0.1:0", Issuer: "http://127.0.0.1:1", DataFile: path, PasswordIterations: testPasswordIterations, MaxSubjectTokenTTL: tc.cap}
			s, _, err := newServer(cfg, io.Discard, io.Discard)
			if tc.want == "" {
				require.NoError(t, err)
				defer s.close()
				c, ok := s.dir.client("app1")
				require.True(t, ok)
				assert.Equal(t, 5*time.Hour, c.SubjectTokenTTL)
				return
			}
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), path+": "+tc.want)
		})
	}
}

// requireLastDenial requires the last audit event to be an
// impersonation.denied with reason.
func (f *fixture) requireLastDenial(t *testing.T, reason string) {
	t.Helper()
	events := f.s.dir.db.Events()
	require.NotEmpty(t, events)
	last := events[len(events)-1]
	assert.Equal(t, "impersonation.denied", string(last.Type))
	assert.Equal(t, reason, last.Reason)
}

// TestDataFileReasonRequired: a client with reason_required refuses an
// authorize request without a reason (invalid_request to the client,
// audited) and accepts one with it.
func TestDataFileReasonRequired(t *testing.T) {
	path := writeData(t, strings.Replace(validData, `"refresh_tokens": false`, `"refresh_tokens": false, "reason_required": true`, 1))
	f := newFixture(t, func(c *config) { c.DataFile = path; c.AppClientID = "app1" })
	c, ok := f.s.dir.client("app1")
	require.True(t, ok)
	require.True(t, c.ReasonRequired)

	b := f.browser(t)
	b.login("alice", "pw-alice-file")
	p := b.get(f.authorizeURL("app1", "https://app1.example/cb", "u-bob", "", nil))
	_, v := p.fragment(t)
	assert.Equal(t, "invalid_request", v.Get("error"))
	assert.Contains(t, v.Get("error_description"), "reason")
	assert.Empty(t, v.Get("subject_token"))
	f.requireLastDenial(t, "reason_missing")

	p = b.get(f.authorizeURL("app1", "https://app1.example/cb", "u-bob", "", url.Values{"impersonation_reason": {"ticket 1"}}))
	_, v = p.fragment(t)
	assert.NotEmpty(t, v.Get("subject_token"), "%v", v)
}

// twoClientData is validData with a second client, the orders API
// registered as a client so that it can introspect, and app1 allowed to
// ask for it as an audience.
func twoClientData(t *testing.T, app1Scopes string) string {
	t.Helper()
	content := strings.Replace(validData, `"audiences": ["https://api.example"]`, `"audiences": ["https://api.example", "orders-api"]`, 1)
	content = strings.Replace(content, `"scopes": ["openid", "internal_user_impersonate", "orders:read"]`, `"scopes": `+app1Scopes, 1)
	content = strings.Replace(content, `
  ],
  "roles": [`, `,
    {"id": "orders-api", "secret": "secret-orders-api-file", "redirect_uris": ["https://orders.example/cb"]},
    {"id": "other", "secret": "secret-other-file", "redirect_uris": ["https://other.example/cb"]}
  ],
  "roles": [`, 1)
	require.NotEqual(t, validData, content)
	return writeData(t, content)
}

// TestAPIAuthorizationRequired: the flow's step 1.1. A data file client
// with impersonation on but without internal_user_impersonate among its
// scopes gets unauthorized_client, audited, and no token.
func TestAPIAuthorizationRequired(t *testing.T) {
	path := twoClientData(t, `["openid", "orders:read"]`)
	f := newFixture(t, func(c *config) { c.DataFile = path; c.AppClientID = "app1" })
	b := f.browser(t)
	b.login("alice", "pw-alice-file")

	p := b.get(f.authorizeURL("app1", "https://app1.example/cb", "u-bob", "", nil))

	_, v := p.fragment(t)
	assert.Equal(t, "unauthorized_client", v.Get("error"))
	assert.Empty(t, v.Get("subject_token"))
	assert.Empty(t, v.Get("id_token"))
	f.requireLastDenial(t, "client_not_authorized_for_impersonation")
}

// TestIntrospectionByTheAudience: a resource server registered as a
// client introspects the tokens meant for it with its own credentials; a
// client the token is neither issued to nor meant for gets active false.
func TestIntrospectionByTheAudience(t *testing.T) {
	path := twoClientData(t, `["openid", "internal_user_impersonate", "orders:read"]`)
	f := newFixture(t, func(c *config) { c.DataFile = path; c.AppClientID = "app1" })
	b := f.browser(t)
	b.login("alice", "pw-alice-file")
	p := b.get(f.authorizeURL("app1", "https://app1.example/cb", "u-bob", "", nil))
	_, v := p.fragment(t)
	require.NotEmpty(t, v.Get("subject_token"), "%v", v)

	status, body := f.postClient(t, "/oauth2/token", "app1", "secret-app1-file", url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {v.Get("subject_token")},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"},
		"actor_token":        {v.Get("id_token")},
		"actor_token_type":   {"urn:ietf:params:oauth:token-type:id_token"},
		"audience":           {"orders-api"},
	})
	require.Equal(t, http.StatusOK, status, "%v", body)
	at := body["access_token"].(string)

	status, in := f.postClient(t, "/oauth2/introspect", "orders-api", "secret-orders-api-file", url.Values{"token": {at}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, in["active"])
	assert.Equal(t, "u-bob", in["sub"])
	assert.Equal(t, "app1", in["client_id"])
	assert.Equal(t, map[string]any{"sub": "u-alice"}, in["act"])

	status, in = f.postClient(t, "/oauth2/introspect", "other", "secret-other-file", url.Values{"token": {at}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"active": false}, in)
}
