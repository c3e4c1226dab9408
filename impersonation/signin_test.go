package impersonation_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
)

// TestIssueTokens_UnderSession: a client that never saw a subject token
// (app2) gets tokens for bob with act.sub alice through the session, with
// bob's scopes for app2, not alice's.
func TestIssueTokens_UnderSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		clientID  string
		wantScope claims.Scope
	}{
		{name: "client that never saw a subject token", clientID: app2ID, wantScope: claims.Scope{"openid", scopeOrdersRead}},
		{name: "client the impersonation started through", clientID: appID, wantScope: claims.Scope{"openid", scopeOrdersRead}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			sess, _ := f.startSession(t, sessReason)
			f.clock.Advance(time.Minute)
			now := f.clock.Now()
			in := f.sessSignIn(tc.clientID, sessLogin)
			n := len(f.db.Events())

			tok, err := f.svc.Sessions().Issue(context.Background(), in)
			require.NoError(t, err)
			p := f.requireSessionTokens(t, tok, tc.clientID, sess)
			assert.Equal(t, tc.wantScope, p.Scope, "requested ∩ bob's grants for the client")
			assert.Equal(t, tc.wantScope, tok.Scope)
			assert.NotContains(t, p.Scope, scopeOrdersWrite, "alice's own scopes never reach bob's tokens")
			assert.Empty(t, p.Reason, "no reason claim unless WithReasonClaim")
			assert.WithinDuration(t, now, p.IssuedAt, 0)
			assert.Equal(t, "acme-eu", p.OrgID)
			assert.Empty(t, tok.RefreshToken, "refresh tokens are off by default")
			assert.Equal(t, int64(59*60), tok.ExpiresIn, "the access token ends with the session")

			at := testkit.DecodeJWT(t, tok.AccessToken)
			assert.Equal(t, "at+jwt", at.Header["typ"])
			assert.Equal(t, sess.ID, at.Str(t, impersonation.ClaimSessionID))
			assert.Equal(t, map[string]any{"sub": "alice"}, at.Claims["act"])
			assert.NotContains(t, at.Claims, impersonation.ClaimReason)

			require.NotEmpty(t, tok.IDToken)
			id, err := f.tokens(t).VerifyIDToken(context.Background(), tok.IDToken, tc.clientID)
			require.NoError(t, err)
			assert.Equal(t, "bob", id.Subject)
			assert.Equal(t, &claims.Actor{Subject: "alice"}, id.Act)
			assert.Equal(t, sess.ID, id.SessionID)
			assert.Equal(t, testNonce, id.Nonce)
			assert.Equal(t, claims.Audience{tc.clientID}, id.Audience)
			assert.Equal(t, in.AuthTime.Unix(), int64(id.AuthTime))
			assert.LessOrEqual(t, int64(id.Expiry), sess.Expires.Unix(), "the ID token ends with the session at the latest")

			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventSessionTokens, store.OutcomeGranted, "")
			assert.Equal(t, tc.clientID, e.ClientID)
			assert.Equal(t, "bob", e.Subject)
			assert.Equal(t, "alice", e.Impersonator)
			assert.Equal(t, "acme-eu", e.Org)
			assert.Equal(t, p.TokenID, e.JTI)
			assert.Equal(t, sessReason, e.Justification)
			assert.Equal(t, []string(tc.wantScope), e.Scopes)
		})
	}
}

// TestIssueTokens_WithoutSession: a login session that is not
// impersonating signs alice in as herself.
func TestIssueTokens_WithoutSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		opts  []sessOption
	}{
		{name: "no session anywhere", setup: func(*testing.T, *fixture) {}},
		{name: "another login session impersonates", setup: func(t *testing.T, f *fixture) { f.startSession(t, sessReason) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			tc.setup(t, f)
			n := len(f.db.Events())

			tok := f.issueTokens(t, app2ID, sessOtherLogin)
			f.requireOwnTokens(t, tok, app2ID)
			assert.Equal(t, claims.Scope{"openid", scopeOrdersWrite}, tok.Scope, "alice's own grants for app2")
			assert.Equal(t, int64(3600), tok.ExpiresIn)
			require.NotEmpty(t, tok.IDToken)
			id, err := f.tokens(t).VerifyIDToken(context.Background(), tok.IDToken, app2ID)
			require.NoError(t, err)
			assert.Equal(t, testNonce, id.Nonce)
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n), "a user's own sign-in is no impersonation event")
		})
	}
}

// TestIssueTokens_ReasonClaim: WithReasonClaim carries the session's reason
// as impersonation_reason in the access token; without it, never.
func TestIssueTokens_ReasonClaim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       []sessOption
		reason     string
		wantClaim  bool
		wantReason string
	}{
		{name: "WithReasonClaim", opts: []sessOption{sessReasonClaim}, reason: sessReason, wantClaim: true, wantReason: sessReason},
		{name: "WithReasonClaim, no reason given", opts: []sessOption{sessReasonClaim}},
		{name: "without WithReasonClaim", reason: sessReason},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t, tc.opts...)
			sess, exchanged := f.startSession(t, tc.reason)
			tok := f.issueTokens(t, app2ID, sessLogin)

			at := testkit.DecodeJWT(t, tok.AccessToken)
			if tc.wantClaim {
				assert.Equal(t, tc.wantReason, at.Str(t, impersonation.ClaimReason))
			} else {
				assert.NotContains(t, at.Claims, impersonation.ClaimReason)
			}
			p := f.requireSessionTokens(t, tok, app2ID, sess)
			assert.Equal(t, tc.wantReason, p.Reason)
			assert.Equal(t, "impersonation_reason", impersonation.ClaimReason, "the documented claim name")

			// The exchange's own access token predates the session.
			assert.NotContains(t, testkit.DecodeJWT(t, exchanged).Claims, impersonation.ClaimReason)
		})
	}
}

// TestIssueTokens_NeverOutliveTheSession: access, ID and refresh tokens
// issued under a session expire with it at the latest.
func TestIssueTokens_NeverOutliveTheSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    []sessOption
		advance time.Duration
		// wantTTL is the access token lifetime from issue.
		wantTTL time.Duration
	}{
		{name: "at the start of a 1 h session", wantTTL: time.Hour},
		{name: "40 minutes into a 1 h session", advance: 40 * time.Minute, wantTTL: 20 * time.Minute},
		{name: "a second before the end", advance: time.Hour - 2*time.Second, wantTTL: 2 * time.Second},
		{name: "15-minute session", opts: []sessOption{sessMax(15 * time.Minute)}, advance: 5 * time.Minute, wantTTL: 10 * time.Minute},
		{name: "access token TTL shorter than the session", opts: []sessOption{sessWith(impersonation.WithAccessTokenTTL(5 * time.Minute))}, advance: time.Minute, wantTTL: 5 * time.Minute},
		{name: "ID token TTL shorter than the session", opts: []sessOption{sessWith(impersonation.WithIDTokenTTL(2 * time.Minute))}, wantTTL: time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t, tc.opts...)
			f.enableRefresh(t, app2ID)
			sess, _ := f.startSession(t, sessReason)
			f.clock.Advance(tc.advance)
			now := f.clock.Now()

			tok := f.issueTokens(t, app2ID, sessLogin)
			require.NotNil(t, tok.Session)
			at := testkit.DecodeJWT(t, tok.AccessToken)
			exp := at.Num(t, "exp")
			assert.Equal(t, now.Add(tc.wantTTL).Unix(), exp)
			assert.LessOrEqual(t, exp, sess.Expires.Unix(), "access token exp never beyond the session's end")
			assert.Equal(t, int64(tc.wantTTL/time.Second), tok.ExpiresIn)

			id := testkit.DecodeJWT(t, tok.IDToken)
			assert.LessOrEqual(t, id.Num(t, "exp"), sess.Expires.Unix(), "ID token exp never beyond the session's end")

			require.NotEmpty(t, tok.RefreshToken)
			rt := testkit.DecodeJWT(t, tok.RefreshToken)
			assert.Equal(t, sess.Expires.Unix(), rt.Num(t, "exp"), "the refresh token ends with the session")
		})
	}
}

// TestExchange_RefusesActorTokenIssuedUnderSession: an ID token issued
// under a session (sub bob, act alice) speaks for bob as impersonated; it
// never makes bob an impersonator, even where bob may impersonate.
func TestExchange_RefusesActorTokenIssuedUnderSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// actorToken returns bob's ID token for app.
		actorToken func(t *testing.T, f *fixture, underSession string) string
		wantOK     bool
	}{
		{
			name:       "ID token issued under the session",
			actorToken: func(_ *testing.T, _ *fixture, underSession string) string { return underSession },
		},
		{
			name: "bob's own ID token (control)",
			actorToken: func(t *testing.T, f *fixture, _ string) string {
				tok, _, err := f.tokens(t).MintIDToken(context.Background(), authorizetoken.IDTokenParams{Subject: "bob", ClientID: appID})
				require.NoError(t, err)
				return tok
			},
			wantOK: true,
		},
	}
	for _, tc := range tests {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newSessionFixture(t)
			sess, _ := f.startSession(t, sessReason)
			under := f.issueTokens(t, appID, sessLogin)
			id, err := f.tokens(t).VerifyIDToken(context.Background(), under.IDToken, appID)
			require.NoError(t, err)
			require.Equal(t, "bob", id.Subject)
			require.Equal(t, &claims.Actor{Subject: "alice"}, id.Act)
			require.Equal(t, sess.ID, id.SessionID)

			// bob may impersonate gina through app, so only act
			// stands in the way.
			require.NoError(t, f.db.PutUser(store.User{ID: "gina", Username: "gina", Org: "acme-eu"}))
			require.NoError(t, f.db.Assign(appID, roleImpersonator, "bob"))
			require.NoError(t, f.db.Assign(appID, roleCustomer, "gina"))
			st, _, err := f.tokens(t).Mint(context.Background(), authorizetoken.Params{
				Subject: "gina", ClientID: appID, Scope: claims.Scope{"openid", scopeOrdersRead}, Actor: "bob",
			})
			require.NoError(t, err)
			n := len(f.db.Events())

			out := f.exchangeVia(t, via, appID, exchangeRequest(st, tc.actorToken(t, f, under.IDToken)))
			if tc.wantOK {
				require.Equal(t, http.StatusOK, out.status, out.body)
				return
			}
			assert.Equal(t, http.StatusBadRequest, out.status)
			assert.Equal(t, tokenexchange.ErrInvalidRequest.Code, out.code)
			assert.Contains(t, out.description, "actor_token")
			testkit.AssertNoLeak(t, out.body, under.IDToken, st)
			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventTokenExchangeDenied, store.OutcomeDenied, "act")
			assert.Equal(t, "gina", e.Subject)
		})
	}
}

// TestVerifier_PrincipalSessionIDAndReason: a resource server's Verifier
// exposes the session and, when the issuer carries it, the reason.
func TestVerifier_PrincipalSessionIDAndReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       []sessOption
		wantReason string
	}{
		{name: "WithReasonClaim", opts: []sessOption{sessReasonClaim}, wantReason: sessReason},
		{name: "without WithReasonClaim"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t, tc.opts...)
			sess, exchanged := f.startSession(t, sessReason)
			tok := f.issueTokens(t, app2ID, sessLogin)

			p, err := f.verifier(t, app2ID).Verify(context.Background(), tok.AccessToken)
			require.NoError(t, err)
			assert.Equal(t, sess.ID, p.SessionID)
			assert.Equal(t, tc.wantReason, p.Reason)
			assert.True(t, p.Impersonated())

			ex, err := f.verifier(t, appID).Verify(context.Background(), exchanged)
			require.NoError(t, err)
			assert.Empty(t, ex.SessionID, "the exchange's own token carries no isid")
			assert.Empty(t, ex.Reason)
		})
	}
}

// TestTokens_Response: Tokens as a token endpoint response.
func TestTokens_Response(t *testing.T) {
	t.Parallel()
	tok := &impersonation.Tokens{
		IDToken: "id.token.sig", AccessToken: "access.token.sig", RefreshToken: "refresh.token.sig",
		ExpiresIn: 1200, Scope: claims.Scope{"openid", scopeOrdersRead},
	}
	assert.Equal(t, &tokenexchange.Response{
		AccessToken:     "access.token.sig",
		IssuedTokenType: tokenexchange.TokenTypeAccessToken,
		TokenType:       tokenexchange.BearerTokenType,
		ExpiresIn:       1200,
		Scope:           claims.Scope{"openid", scopeOrdersRead},
		RefreshToken:    "refresh.token.sig",
		IDToken:         "id.token.sig",
	}, tok.Response())
	b, err := json.Marshal(tok.Response())
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"access_token": "access.token.sig",
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"token_type": "Bearer",
		"expires_in": 1200,
		"scope": "openid orders:read",
		"refresh_token": "refresh.token.sig",
		"id_token": "id.token.sig"
	}`, string(b))
}

// TestIssueTokens_LastSecondOfSession: a sign-in in the last second of a
// session, when no whole second of token lifetime is left, falls back to
// the user's own tokens (or issues impersonated ones), but does not fail
// the sign-in.
func TestIssueTokens_LastSecondOfSession(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	sess, _ := f.startSession(t, sessReason)
	f.clock.Advance(sess.Expires.Sub(f.clock.Now()) - 500*time.Millisecond)

	tok, err := f.svc.Sessions().Issue(context.Background(), f.sessSignIn(app2ID, sessLogin))
	require.NoError(t, err)
	require.NotNil(t, tok)
	_, err = f.verifyAt(t, app2ID, tok.AccessToken)
	require.NoError(t, err)
}

// TestIssueTokens_DecidesOncePerSignIn: a sign-in through the session's
// own client decides the policy once (the session check and the gate for
// the receiving client are the same decision); through another client the
// gate decides for it too.
func TestIssueTokens_DecidesOncePerSignIn(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	grants := &countingGrants{next: f.db, n: map[string]int{}}
	svc, err := impersonation.New(testIssuer, impersonation.Stores{
		Clients: f.db, Users: f.db, Organizations: f.db, Grants: grants, OneTimeUse: f.oneTime, Keys: f.keys,
	}, impersonation.WithClock(f.clock.Now), impersonation.WithAuditor(f.auditor), sessionsOf(f), impersonation.WithRevocationStore(f.db))
	require.NoError(t, err)
	f.svc = svc
	f.startSession(t, sessReason)

	clear(grants.n)
	tok := f.issueTokens(t, appID, sessLogin)
	require.NotNil(t, tok.Session, "the impersonated sign-in")
	assert.Equal(t, map[string]int{appID + "/alice": 1, appID + "/bob": 1}, grants.n, "the session's own client")

	clear(grants.n)
	tok = f.issueTokens(t, app2ID, sessLogin)
	require.NotNil(t, tok.Session)
	assert.Equal(t, map[string]int{appID + "/alice": 1, appID + "/bob": 1, app2ID + "/alice": 1, app2ID + "/bob": 1}, grants.n,
		"another client: its own gate decision")
}
