package impersonation_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/refreshtoken"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
)

// TestRefresh_UnderSession: a refresh keeps act and isid, rotates the
// refresh token, and never outlives the session.
func TestRefresh_UnderSession(t *testing.T) {
	t.Parallel()
	f, sess, first := refreshingSession(t, sessLogin)
	require.NotEmpty(t, first.RefreshToken, "a client with RefreshTokens gets a refresh token")

	rt := testkit.DecodeJWT(t, first.RefreshToken)
	assert.Equal(t, refreshtoken.HeaderType, rt.Header["typ"])
	assert.Equal(t, "refresh+jwt", rt.Header["typ"])
	assert.Equal(t, "bob", rt.Str(t, "sub"))
	assert.Equal(t, testIssuer, rt.Str(t, "iss"))
	assert.Equal(t, app2ID, rt.Str(t, "client_id"))
	assert.Equal(t, map[string]any{"sub": "alice"}, rt.Claims["act"])
	assert.Equal(t, sess.ID, rt.Str(t, impersonation.ClaimSessionID))
	assert.LessOrEqual(t, rt.Num(t, "exp"), sess.Expires.Unix(), "refresh token exp ≤ session expiry")
	testkit.AssertJTI(t, rt.Str(t, "jti"))

	f.clock.Advance(20 * time.Minute)
	n := len(f.db.Events())
	second := f.refreshOK(t, app2ID, first.RefreshToken, nil)

	p := f.requireSessionTokens(t, second, app2ID, sess)
	assert.Equal(t, claims.Scope{"openid", scopeOrdersRead}, p.Scope)
	assert.Equal(t, claims.Scope{"openid", scopeOrdersRead}, second.Scope)
	assert.Equal(t, int64(40*60), second.ExpiresIn, "the refreshed access token ends with the session")
	assert.LessOrEqual(t, p.Expiry.Unix(), sess.Expires.Unix())

	require.NotEmpty(t, second.IDToken)
	id, err := f.tokens(t).VerifyIDToken(context.Background(), second.IDToken, app2ID)
	require.NoError(t, err)
	assert.Equal(t, "bob", id.Subject)
	assert.Equal(t, &claims.Actor{Subject: "alice"}, id.Act, "the refresh keeps act")
	assert.Equal(t, sess.ID, id.SessionID)
	assert.Empty(t, id.Nonce, "no nonce on refresh (OpenID Connect Core §12.2)")

	require.NotEmpty(t, second.RefreshToken, "a new refresh token comes with the new tokens")
	assert.NotEqual(t, first.RefreshToken, second.RefreshToken)
	rt2 := testkit.DecodeJWT(t, second.RefreshToken)
	assert.NotEqual(t, rt.Str(t, "jti"), rt2.Str(t, "jti"))
	assert.Equal(t, map[string]any{"sub": "alice"}, rt2.Claims["act"])
	assert.Equal(t, sess.ID, rt2.Str(t, impersonation.ClaimSessionID))
	assert.LessOrEqual(t, rt2.Num(t, "exp"), sess.Expires.Unix())

	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventSessionTokens, store.OutcomeGranted, "")
	assert.Equal(t, "alice", e.Impersonator, "a refresh under impersonation is recorded with the impersonator")
	assert.Equal(t, "bob", e.Subject)
	assert.Equal(t, p.TokenID, e.JTI)

	te := f.refreshErr(t, app2ID, first.RefreshToken, nil)
	assert.Equal(t, tokenexchange.ErrInvalidGrant.Code, te.Code, "a refresh token is used once")

	third := f.refreshOK(t, app2ID, second.RefreshToken, nil)
	f.requireSessionTokens(t, third, app2ID, sess)
}

// TestRefresh_OwnTokens: outside a session a refresh token lasts the
// refresh TTL and gives the user's own tokens.
func TestRefresh_OwnTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    []sessOption
		wantTTL time.Duration
	}{
		{name: "default refresh TTL", wantTTL: impersonation.DefaultRefreshTokenTTL},
		{name: "WithRefreshTokenTTL", opts: []sessOption{sessRefreshTTL(2 * time.Hour)}, wantTTL: 2 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t, tc.opts...)
			f.enableRefresh(t, app2ID)
			now := f.clock.Now()
			first := f.issueTokens(t, app2ID, sessOtherLogin)
			f.requireOwnTokens(t, first, app2ID)
			require.NotEmpty(t, first.RefreshToken)
			rt := testkit.DecodeJWT(t, first.RefreshToken)
			assert.Equal(t, now.Add(tc.wantTTL).Unix(), rt.Num(t, "exp"))
			assert.NotContains(t, rt.Claims, "act")
			assert.NotContains(t, rt.Claims, impersonation.ClaimSessionID)

			f.clock.Advance(tc.wantTTL - time.Minute)
			second := f.refreshOK(t, app2ID, first.RefreshToken, nil)
			f.requireOwnTokens(t, second, app2ID)
			assert.Equal(t, claims.Scope{"openid", scopeOrdersWrite}, second.Scope)
		})
	}
}

// TestRefresh_OffByDefault: a client without RefreshTokens gets none.
func TestRefresh_OffByDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		login string
	}{
		{name: "under a session", login: sessLogin},
		{name: "own tokens", login: sessOtherLogin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			f.startSession(t, sessReason)
			tok := f.issueTokens(t, app2ID, tc.login)
			assert.Empty(t, tok.RefreshToken)
			assert.Empty(t, tok.Response().RefreshToken)
		})
	}
}

// TestRefresh_Refused: every refused refresh, with its error code.
func TestRefresh_Refused(t *testing.T) {
	t.Parallel()
	type given struct {
		clientID string
		token    string
		scope    claims.Scope
	}
	tests := []struct {
		name string
		// setup gets the fixture with an impersonation session and
		// app2's first tokens under it (with a refresh token).
		setup    func(t *testing.T, f *fixture, first *impersonation.Tokens) given
		wantCode string
	}{
		{
			name: "used a second time",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				f.refreshOK(t, app2ID, first.RefreshToken, nil)
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "refresh token of another client",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				f.enableRefresh(t, appID)
				return given{clientID: appID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "after EndSession",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				require.NoError(t, f.svc.Sessions().End(context.Background(), sessLogin, "End impersonation"))
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "after the session was replaced",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				f.startSession(t, "TICKET-4712")
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "after a token of the session was revoked",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				require.NoError(t, f.svc.Revoke(context.Background(), sessClient(app2ID), first.AccessToken, ""))
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "after the policy ended the session",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				require.NoError(t, f.db.Unassign(appID, roleImpersonator, "alice"))
				require.Nil(t, f.activeSession(t))
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "after the session's end and the skew",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				f.clock.Advance(time.Hour + claims.DefaultSkew + time.Second)
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "scope escalation",
			setup: func(_ *testing.T, _ *fixture, first *impersonation.Tokens) given {
				return given{clientID: app2ID, token: first.RefreshToken, scope: claims.Scope{"openid", scopeOrdersWrite}}
			},
			wantCode: tokenexchange.ErrInvalidScope.Code,
		},
		{
			name: "the client no longer has refresh tokens",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				f.updateClient(t, app2ID, func(c *store.Client) { c.RefreshTokens = false })
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.ErrUnauthorizedClient.Code,
		},
		{
			name: "the client is disabled",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				f.updateClient(t, app2ID, func(c *store.Client) { c.Disabled = true })
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.ErrUnauthorizedClient.Code,
		},
		{
			name: "garbage",
			setup: func(*testing.T, *fixture, *impersonation.Tokens) given {
				return given{clientID: app2ID, token: "not.a.token"}
			},
			wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "access token as refresh token",
			setup: func(_ *testing.T, _ *fixture, first *impersonation.Tokens) given {
				return given{clientID: app2ID, token: first.AccessToken}
			},
			wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "ID token as refresh token",
			setup: func(_ *testing.T, _ *fixture, first *impersonation.Tokens) given {
				return given{clientID: app2ID, token: first.IDToken}
			},
			wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "tampered signature",
			setup: func(_ *testing.T, _ *fixture, first *impersonation.Tokens) given {
				parts := strings.Split(first.RefreshToken, ".")
				sig := []byte(parts[2])
				sig[5] ^= 0x01
				return given{clientID: app2ID, token: parts[0] + "." + parts[1] + "." + string(sig)}
			},
			wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "act stripped, re-signed with a foreign key",
			setup: func(t *testing.T, _ *fixture, first *impersonation.Tokens) given {
				other := newFixture(t)
				key := other.signingKey(t)
				c := testkit.DecodeJWT(t, first.RefreshToken).Claims
				delete(c, "act")
				delete(c, impersonation.ClaimSessionID)
				return given{clientID: app2ID, token: testkit.SignRaw(t, key, map[string]any{"alg": key.Algorithm, "kid": key.ID, "typ": "refresh+jwt"}, c)}
			},
			wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "own refresh token expired",
			setup: func(t *testing.T, f *fixture, _ *impersonation.Tokens) given {
				own := f.issueTokens(t, app2ID, sessOtherLogin)
				f.clock.Advance(impersonation.DefaultRefreshTokenTTL + claims.DefaultSkew + time.Second)
				return given{clientID: app2ID, token: own.RefreshToken}
			},
			wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, _, first := refreshingSession(t, sessLogin)
			require.NotEmpty(t, first.RefreshToken)
			g := tc.setup(t, f, first)
			n := len(sessionEventsOf(f.db, store.EventSessionTokens))

			te := f.refreshErr(t, g.clientID, g.token, g.scope)
			assert.Equal(t, tc.wantCode, te.Code)
			testkit.AssertNoLeak(t, te.Code+" "+te.Description, g.token)
			assert.Len(t, sessionEventsOf(f.db, store.EventSessionTokens), n, "nothing issued, nothing recorded")
		})
	}
}

// TestRefresh_Scope: a refresh may narrow the scope, never widen it; a
// refused escalation does not burn the refresh token.
func TestRefresh_Scope(t *testing.T) {
	t.Parallel()
	f, sess, first := refreshingSession(t, sessLogin)

	te := f.refreshErr(t, app2ID, first.RefreshToken, claims.Scope{"openid", scopeOrdersRead, scopeOrdersWrite})
	assert.Equal(t, tokenexchange.ErrInvalidScope.Code, te.Code)

	narrowed := f.refreshOK(t, app2ID, first.RefreshToken, claims.Scope{scopeOrdersRead})
	p := f.requireSessionTokens(t, narrowed, app2ID, sess)
	assert.Equal(t, claims.Scope{scopeOrdersRead}, p.Scope)
	assert.Empty(t, narrowed.IDToken, "no openid, no ID token")
	rt := testkit.DecodeJWT(t, narrowed.RefreshToken)
	assert.Equal(t, scopeOrdersRead, rt.Str(t, "scope"), "the new refresh token carries the narrowed scope")

	te = f.refreshErr(t, app2ID, narrowed.RefreshToken, claims.Scope{"openid"})
	assert.Equal(t, tokenexchange.ErrInvalidScope.Code, te.Code, "narrowed once, narrowed for good")
}

// TestRefresh_KeepsReason: tokens refreshed under a session carry its
// reason like the first ones (WithReasonClaim), and the audit event of the
// refresh carries it too ("carried into every audit event").
func TestRefresh_KeepsReason(t *testing.T) {
	t.Parallel()
	f, _, first := refreshingSession(t, sessLogin, sessReasonClaim)
	require.Equal(t, sessReason, testkit.DecodeJWT(t, first.AccessToken).Str(t, impersonation.ClaimReason))
	n := len(f.db.Events())

	second := f.refreshOK(t, app2ID, first.RefreshToken, nil)
	p, err := f.verifyAt(t, app2ID, second.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, sessReason, p.Reason, "the refreshed access token keeps impersonation_reason")
	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventSessionTokens, store.OutcomeGranted, "")
	assert.Equal(t, sessReason, e.Justification, "the refresh's audit event carries the reason")
}

// TestRefresh_PolicyRechecked: a refresh under a session is a sign-in
// through it without the authorize endpoint; when the policy no longer
// allows the impersonation it must not yield impersonated tokens, even
// though no authorize call has ended the session yet.
func TestRefresh_PolicyRechecked(t *testing.T) {
	t.Parallel()
	f, _, first := refreshingSession(t, sessLogin)
	require.NoError(t, f.db.Unassign(appID, roleImpersonator, "alice"))

	te := f.refreshErr(t, app2ID, first.RefreshToken, nil, "impersonated tokens were issued after the impersonator lost the role")
	assert.Equal(t, tokenexchange.ErrInvalidGrant.Code, te.Code)
}

// TestRefresh_WithinSkewAfterSessionEnd: a refresh token of a session that
// has just ended (within the clock skew the service tolerates) is an
// invalid grant, not a server failure, and is not consumed for nothing.
func TestRefresh_WithinSkewAfterSessionEnd(t *testing.T) {
	t.Parallel()
	f, sess, first := refreshingSession(t, sessLogin)
	f.clock.Advance(sess.Expires.Sub(f.clock.Now()) + 10*time.Second)

	te := f.refreshErr(t, app2ID, first.RefreshToken, nil)
	assert.Equal(t, tokenexchange.ErrInvalidGrant.Code, te.Code)
}

// TestRefreshGrant_TokenEndpoint: the refresh_token grant on the token
// endpoint, tokenexchange.WithGrant(GrantTypeRefreshToken, svc.Sessions()), next to
// token exchange.
func TestRefreshGrant_TokenEndpoint(t *testing.T) {
	t.Parallel()
	f, sess, first := refreshingSession(t, sessLogin)

	w, body := f.sessPost(t, app2ID, app2Secret, url.Values{
		"grant_type":    {tokenexchange.GrantTypeRefreshToken},
		"refresh_token": {first.RefreshToken},
	})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Equal(t, "no-cache", w.Header().Get("Pragma"))
	assert.Equal(t, "Bearer", body["token_type"])
	assert.Equal(t, "openid "+scopeOrdersRead, body["scope"])
	assert.InDelta(t, 3600, body["expires_in"], 60)
	for _, k := range []string{"access_token", "id_token", "refresh_token"} {
		require.IsType(t, "", body[k], k)
		require.NotEmpty(t, body[k], k)
	}
	f.requireSessionTokens(t, &impersonation.Tokens{AccessToken: body["access_token"].(string), Session: sess}, app2ID, sess)
	id, err := f.tokens(t).VerifyIDToken(context.Background(), body["id_token"].(string), app2ID)
	require.NoError(t, err)
	assert.Equal(t, &claims.Actor{Subject: "alice"}, id.Act)
	assert.NotEqual(t, first.RefreshToken, body["refresh_token"])

	// Token exchange still works on the same endpoint.
	st, idt := f.authorize(t, "alice", "bob")
	out := f.exchangeVia(t, viaHTTP, appID, exchangeRequest(st, idt))
	require.Equal(t, http.StatusOK, out.status, out.body)
	assert.Equal(t, tokenexchange.TokenTypeAccessToken, out.resp.IssuedTokenType)
	assert.Equal(t, "bob", testkit.DecodeJWT(t, out.resp.IDToken).Str(t, "sub"), "with openid, the exchange issues the user's ID token too")
}

func TestRefreshGrant_TokenEndpointRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		clientID   string
		secret     string
		form       func(rt string) url.Values
		wantStatus int
		wantCode   string
	}{
		{
			name: "refresh_token missing", clientID: app2ID, secret: app2Secret,
			form:       func(string) url.Values { return url.Values{"grant_type": {"refresh_token"}} },
			wantStatus: http.StatusBadRequest, wantCode: tokenexchange.ErrInvalidRequest.Code,
		},
		{
			name: "garbage refresh token", clientID: app2ID, secret: app2Secret,
			form: func(string) url.Values {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"garbage-token-3e1f"}}
			},
			wantStatus: http.StatusBadRequest, wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "refresh token repeated", clientID: app2ID, secret: app2Secret,
			form: func(rt string) url.Values {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt, rt}}
			},
			wantStatus: http.StatusBadRequest, wantCode: tokenexchange.ErrInvalidRequest.Code,
		},
		{
			name: "scope escalation", clientID: app2ID, secret: app2Secret,
			form: func(rt string) url.Values {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"openid " + scopeOrdersWrite}}
			},
			wantStatus: http.StatusBadRequest, wantCode: tokenexchange.ErrInvalidScope.Code,
		},
		{
			name: "refresh token of another client", clientID: appID, secret: appSecret,
			form: func(rt string) url.Values {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			},
			wantStatus: http.StatusBadRequest, wantCode: tokenexchange.ErrInvalidGrant.Code,
		},
		{
			name: "wrong client secret", clientID: app2ID, secret: "wrong-secret-5a5a",
			form: func(rt string) url.Values {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			},
			wantStatus: http.StatusUnauthorized, wantCode: tokenexchange.ErrInvalidClient.Code,
		},
		{
			name: "authorization_code not served", clientID: app2ID, secret: app2Secret,
			form: func(string) url.Values {
				return url.Values{"grant_type": {tokenexchange.GrantTypeAuthorizationCode}, "code": {"code-1"}}
			},
			wantStatus: http.StatusBadRequest, wantCode: tokenexchange.ErrUnsupportedGrantType.Code,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, _, first := refreshingSession(t, sessLogin)
			f.enableRefresh(t, appID)

			w, body := f.sessPost(t, tc.clientID, tc.secret, tc.form(first.RefreshToken))
			assert.Equal(t, tc.wantStatus, w.Code, w.Body.String())
			assert.Equal(t, tc.wantCode, body["error"])
			assert.NotContains(t, body, "access_token")
			testkit.AssertNoLeak(t, w.Body.String(), first.RefreshToken, tc.secret)
		})
	}
}

// TestRefreshGrant_WrongMethod: the refresh grant goes through the token
// endpoint's checks.
func TestRefreshGrant_WrongMethod(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	r := httptest.NewRequest(http.MethodGet, "/token?grant_type=refresh_token", nil)
	r.SetBasicAuth(app2ID, app2Secret)
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, http.MethodPost, w.Header().Get("Allow"))
}

// TestWithGrant_CannotReplaceTokenExchange: the Service as the grant
// handler of token exchange itself is refused.
func TestWithGrant_CannotReplaceTokenExchange(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	h, err := tokenexchange.NewHandler(f.svc, f.svc, tokenexchange.WithGrant(tokenexchange.GrantType, f.svc.Sessions()))
	require.Error(t, err)
	assert.Nil(t, h)
}

// TestRefresh_ConcurrentUseOnce: of concurrent refreshes with one refresh
// token, exactly one succeeds.
func TestRefresh_ConcurrentUseOnce(t *testing.T) {
	t.Parallel()
	f, _, first := refreshingSession(t, sessLogin)

	const n = 16
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.Sessions().Refresh(context.Background(), sessClient(app2ID), first.RefreshToken, nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
			continue
		}
		var te *tokenexchange.Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, tokenexchange.ErrInvalidGrant.Code, te.Code)
	}
	assert.Equal(t, 1, ok)
}

// TestRFC7009_2_RefreshTokenRevocation: RFC 7009 §2 "Implementations MUST
// support the revocation of refresh tokens": once the client revokes its
// refresh token, it no longer refreshes.
func TestRFC7009_2_RefreshTokenRevocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		login string
	}{
		{name: "refresh token under a session", login: sessLogin},
		{name: "own refresh token", login: sessOtherLogin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, _, tok := refreshingSession(t, tc.login)
			require.NotEmpty(t, tok.RefreshToken)

			require.NoError(t, f.svc.Revoke(context.Background(), sessClient(app2ID), tok.RefreshToken, "refresh_token"))

			te := f.refreshErr(t, app2ID, tok.RefreshToken, nil)
			assert.Equal(t, tokenexchange.ErrInvalidGrant.Code, te.Code)
		})
	}
}

// TestRevoke_RefreshTokenOfAnEndedSessionEndsNothingTwice: a client
// revoking its refresh token after the session ended (the impersonator
// logged out) records that revocation, not a second end of the session.
func TestRevoke_RefreshTokenOfAnEndedSessionEndsNothingTwice(t *testing.T) {
	t.Parallel()
	f, sess, tok := refreshingSession(t, sessLogin)
	require.NotEmpty(t, tok.RefreshToken)
	require.NoError(t, f.svc.Sessions().End(context.Background(), sessLogin, "logout"))
	n := len(f.db.Events())

	require.NoError(t, f.svc.Revoke(context.Background(), sessClient(app2ID), tok.RefreshToken, "refresh_token"))

	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventTokenRevoked, store.OutcomeGranted, "")
	assert.Equal(t, "bob", e.Subject)
	assert.Equal(t, "alice", e.Impersonator)
	assert.Equal(t, sess.Org, e.Org)
	assert.Equal(t, app2ID, e.ClientID)
	assert.Len(t, sessionEventsOf(f.db, store.EventImpersonationEnded), 1, "the session ended once")
	te := f.refreshErr(t, app2ID, tok.RefreshToken, nil)
	assert.Equal(t, tokenexchange.ErrInvalidGrant.Code, te.Code)
}
