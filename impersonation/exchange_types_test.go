package impersonation_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/tokenexchange"
)

// The exchange's requested_token_type (RFC 8693 §2.1, §3) and the ID token
// the flow's reference document says the exchange gives beside the access
// token.

// requireImpersonatedIDToken checks tok is bob's ID token for app issued
// by alice's impersonation: sub the user, aud and azp the client, act the
// impersonator, auth_time the impersonator's authentication, the user's
// organisation, no nonce and no s_hash (none was bound to the exchange).
func requireImpersonatedIDToken(t *testing.T, f *fixture, tok string, authTime time.Time) *authorizetoken.IDTokenClaims {
	t.Helper()
	id, err := f.tokens(t).VerifyIDToken(context.Background(), tok, appID)
	require.NoError(t, err, "an ID token of this issuer for the client")
	raw := testkit.DecodeJWT(t, tok)
	assert.Equal(t, "JWT", raw.Header["typ"])
	assert.Equal(t, "bob", id.Subject)
	assert.Equal(t, claims.Audience{appID}, id.Audience)
	assert.Equal(t, appID, id.AuthorizedParty)
	assert.Equal(t, &claims.Actor{Subject: "alice"}, id.Act)
	assert.Equal(t, authTime.Unix(), id.AuthTime.Time().Unix())
	assert.Equal(t, "acme-eu", id.OrgID)
	assert.Equal(t, "ACME Europe", id.OrgName)
	for _, k := range []string{"nonce", "s_hash", "sid", "amr", "scope", "may_act"} {
		assert.NotContains(t, raw.Claims, k)
	}
	return id
}

func TestExchange_IDTokenBesideTheAccessToken(t *testing.T) {
	t.Parallel()
	runBothWays(t, "", func(t *testing.T, via string) {
		f := newFixture(t)
		authTime := f.clock.Now()
		out := f.exchangeVia(t, via, appID, exchangeRequest(f.authorize(t, "alice", "bob")))
		require.Equal(t, http.StatusOK, out.status, out.body)
		assert.Equal(t, tokenexchange.TokenTypeAccessToken, out.resp.IssuedTokenType)
		assert.Equal(t, tokenexchange.BearerTokenType, out.resp.TokenType)
		require.NotEmpty(t, out.resp.IDToken, "openid granted: the user's ID token comes too")
		id := requireImpersonatedIDToken(t, f, out.resp.IDToken, authTime)
		assert.LessOrEqual(t, id.Expiry.Time().Sub(id.IssuedAt.Time()), time.Duration(out.resp.ExpiresIn)*time.Second,
			"the ID token does not outlive the access token")
		assert.Empty(t, out.resp.RefreshToken)
	})
}

func TestExchange_NoIDTokenWithoutOpenID(t *testing.T) {
	t.Parallel()
	runBothWays(t, "", func(t *testing.T, via string) {
		f := newFixture(t)
		req := exchangeRequest(f.authorize(t, "alice", "bob"))
		req.Scope = claims.Scope{scopeOrdersRead}
		out := f.exchangeVia(t, via, appID, req)
		require.Equal(t, http.StatusOK, out.status, out.body)
		assert.Empty(t, out.resp.IDToken)
		assert.NotContains(t, out.body, "id_token")
	})
}

func TestExchange_RequestedTokenTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		requested string
		wantType  string
		wantTyp   string // header typ of the issued token
		wantToken string // token_type
		wantID    bool   // an id_token member beside it
	}{
		{name: "none: the access token", wantType: tokenexchange.TokenTypeAccessToken, wantTyp: "at+jwt", wantToken: "Bearer", wantID: true},
		{name: "access_token", requested: tokenexchange.TokenTypeAccessToken, wantType: tokenexchange.TokenTypeAccessToken, wantTyp: "at+jwt", wantToken: "Bearer", wantID: true},
		{name: "jwt: the access token, said to be a JWT", requested: tokenexchange.TokenTypeJWT, wantType: tokenexchange.TokenTypeJWT, wantTyp: "at+jwt", wantToken: "Bearer", wantID: true},
		{name: "id_token: the ID token as the issued token", requested: tokenexchange.TokenTypeIDToken, wantType: tokenexchange.TokenTypeIDToken, wantTyp: "JWT", wantToken: tokenexchange.NotApplicableTokenType},
	}
	for _, tc := range tests {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newFixture(t)
			authTime := f.clock.Now()
			req := exchangeRequest(f.authorize(t, "alice", "bob"))
			req.RequestedTokenType = tc.requested
			n := len(f.db.Events())

			out := f.exchangeVia(t, via, appID, req)

			require.Equal(t, http.StatusOK, out.status, out.body)
			assert.Equal(t, tc.wantType, out.resp.IssuedTokenType)
			assert.Equal(t, tc.wantToken, out.resp.TokenType)
			issued := testkit.DecodeJWT(t, out.resp.AccessToken)
			assert.Equal(t, tc.wantTyp, issued.Header["typ"])
			assert.Equal(t, "bob", issued.Str(t, "sub"))
			assert.Equal(t, tc.wantID, out.resp.IDToken != "", "id_token member")
			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventTokenExchanged, store.OutcomeGranted, "")
			assert.Equal(t, issued.Str(t, "jti"), e.JTI, "the event names the issued token")

			_, err := f.verifier(t, appID).Verify(context.Background(), out.resp.AccessToken)
			if tc.wantType == tokenexchange.TokenTypeIDToken {
				requireImpersonatedIDToken(t, f, out.resp.AccessToken, authTime)
				assert.Equal(t, int64(authorizetoken.DefaultIDTokenTTL/time.Second), out.resp.ExpiresIn)
				assert.Error(t, err, "an ID token is no bearer token")
			} else {
				assert.NoError(t, err)
			}

			replay := f.exchangeVia(t, via, appID, req)
			assert.Equal(t, tokenexchange.ErrInvalidRequest.Code, replay.code, "the subject token was consumed")
		})
	}
}

// eventsOfType are the events of type typ.
func eventsOfType(events []store.Event, typ store.EventType) []store.Event {
	return slices.DeleteFunc(slices.Clone(events), func(e store.Event) bool { return e.Type != typ })
}

// exchangeRefresh exchanges alice's impersonation of bob through clientID
// for a refresh token and requires success.
func (f *fixture) exchangeRefresh(t *testing.T, clientID string) *tokenexchange.Response {
	t.Helper()
	req := exchangeRequest(f.authorizeFor(t, clientID, "alice", "bob"))
	req.RequestedTokenType = tokenexchange.TokenTypeRefreshToken
	out := f.exchangeVia(t, viaHTTP, clientID, req)
	require.Equal(t, http.StatusOK, out.status, out.body)
	return out.resp
}

func TestExchange_RequestedRefreshToken(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.enableRefresh(t, appID)
	n := len(f.db.Events())

	resp := f.exchangeRefresh(t, appID)

	assert.Equal(t, tokenexchange.TokenTypeRefreshToken, resp.IssuedTokenType)
	assert.Equal(t, tokenexchange.NotApplicableTokenType, resp.TokenType)
	assert.Empty(t, resp.IDToken)
	assert.Empty(t, resp.RefreshToken, "the refresh token is the issued token, in access_token")
	assert.Equal(t, int64(impersonation.DefaultSessionMaxDuration/time.Second), resp.ExpiresIn, "it lives as long as the session it starts")
	rt := testkit.DecodeJWT(t, resp.AccessToken)
	assert.Equal(t, "refresh+jwt", rt.Header["typ"])
	_, err := f.verifier(t, appID).Verify(context.Background(), resp.AccessToken)
	assert.Error(t, err, "a refresh token is no bearer token")

	events := testkit.EventsSince(f.db.Events(), n)
	started := testkit.RequireOneEvent(t, eventsOfType(events, store.EventSessionStarted), store.EventSessionStarted, store.OutcomeGranted, "token exchange")
	assert.Equal(t, "bob", started.Subject)
	assert.Equal(t, "alice", started.Impersonator)
	assert.Equal(t, appID, started.ClientID)
	exchanged := testkit.RequireOneEvent(t, eventsOfType(events, store.EventTokenExchanged), store.EventTokenExchanged, store.OutcomeGranted, "")
	assert.Equal(t, rt.Str(t, "jti"), exchanged.JTI)

	// Redeemed, it gives impersonated tokens under a session of its own.
	tok := f.refreshOK(t, appID, resp.AccessToken, nil)
	p, err := f.verifier(t, appID).Verify(context.Background(), tok.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, "bob", p.Subject)
	assert.Equal(t, "alice", p.Actor.Subject)
	assert.Equal(t, started.JTI, p.SessionID, "isid is the session the exchange started")
	require.NotEmpty(t, tok.RefreshToken)

	// Revoking a token of that session ends it: the next refresh is refused.
	require.NoError(t, f.svc.Revoke(context.Background(), sessClient(appID), tok.AccessToken, ""))
	assert.Equal(t, tokenexchange.ErrInvalidGrant.Code, f.refreshErr(t, appID, tok.RefreshToken, nil, "the session was ended").Code)
	assert.False(t, f.isActive(t, appID, tok.AccessToken))
}

// TestExchange_RequestedRefreshTokenGate: a refresh token from an exchange
// passes the policy at every refresh. A denial ends its session, recorded
// with the rule, and nothing is issued.
func TestExchange_RequestedRefreshTokenGate(t *testing.T) {
	t.Parallel()
	for _, denial := range gateDenials {
		t.Run(denial.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			f.enableRefresh(t, gateClient)
			resp := f.exchangeRefresh(t, gateClient)
			denial.apply(t, f)
			n := len(f.db.Events())

			tok, err := f.svc.Sessions().Refresh(context.Background(), sessClient(gateClient), resp.AccessToken, nil)

			require.Error(t, err)
			assert.Nil(t, tok, "nothing is issued")
			assert.Equal(t, tokenexchange.ErrInvalidGrant.Code, wireCode(err))
			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonationEnded, store.OutcomeGranted, "policy: "+string(denial.reason))
			assert.Equal(t, gateClient, e.ClientID)
			assert.Equal(t, "bob", e.Subject)
			for _, e := range testkit.EventsSince(f.db.Events(), n) {
				assert.NotEqual(t, store.EventSessionTokens, e.Type, "nothing recorded as issued")
			}
		})
	}
}

func TestExchange_RequestedRefreshTokenRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		prepare    func(t *testing.T, f *fixture) *tokenexchange.Request
		wantReason string
		wantDesc   string
	}{
		{
			name: "client without refresh tokens",
			prepare: func(t *testing.T, f *fixture) *tokenexchange.Request {
				return exchangeRequest(f.authorize(t, "alice", "bob"))
			},
			wantReason: "the client does not receive refresh tokens",
			wantDesc:   "the client does not receive refresh tokens",
		},
		{
			name: "subject token that already carries act",
			prepare: func(t *testing.T, f *fixture) *tokenexchange.Request {
				f.enableRefresh(t, appID)
				_, idt := f.authorize(t, "alice", "bob")
				st, _, err := f.tokens(t).Mint(context.Background(), authorizetoken.Params{
					Subject: "bob", ClientID: appID, Actor: "alice", Scope: claims.Scope{"openid"},
					Act: &claims.Actor{Subject: "carol"},
				})
				require.NoError(t, err)
				return exchangeRequest(st, idt)
			},
			wantReason: "the subject token carries act",
			wantDesc:   "no refresh token for a subject token that already carries act",
		},
	}
	for _, tc := range tests {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newSessionFixture(t)
			req := tc.prepare(t, f)
			req.RequestedTokenType = tokenexchange.TokenTypeRefreshToken
			n := len(f.db.Events())

			out := f.exchangeVia(t, via, appID, req)

			assert.Equal(t, http.StatusBadRequest, out.status)
			assert.Equal(t, tokenexchange.ErrInvalidRequest.Code, out.code)
			assert.Equal(t, tc.wantDesc, out.description, "the description says why")
			assert.Nil(t, out.resp)
			testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventTokenExchangeDenied, store.OutcomeDenied, tc.wantReason)
			assert.Zero(t, f.db.UsedLen(), "the subject token is not consumed")
			testkit.AssertNoLeak(t, out.body, req.SubjectToken, req.ActorToken)
		})
	}
}

// TestAuthorize_ImpersonatorIDTokenClaims: the impersonator's ID token
// carries the seed's claims beside the usual ones: sid (a hash of the
// login session), amr as the host reports it, and the impersonator's own
// org_id and org_name.
func TestAuthorize_ImpersonatorIDTokenClaims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		login impersonation.Login
		want  map[string]any
	}{
		{
			name:  "session and amr given",
			login: impersonation.Login{UserID: "alice", Session: "login-7f3a", AMR: []string{"pwd", "otp"}},
			want: map[string]any{
				"sid": authorizetoken.LoginSessionHash("login-7f3a"), "amr": []any{"pwd", "otp"},
				"org_id": "acme", "org_name": "ACME Corp",
			},
		},
		{
			name:  "none given: no sid, no amr",
			login: impersonation.Login{UserID: "alice"},
			want:  map[string]any{"org_id": "acme", "org_name": "ACME Corp"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tc.login.AuthTime = f.clock.Now()
			resp, err := f.svc.Authorize(context.Background(), f.parseAuthorize(t, authorizeValues(appID, "bob")), tc.login)
			require.NoError(t, err)
			_, err = f.tokens(t).VerifyIDToken(context.Background(), resp.IDToken, appID)
			require.NoError(t, err)
			got := testkit.DecodeJWT(t, resp.IDToken).Claims
			for _, k := range []string{"sid", "amr", "org_id", "org_name"} {
				assert.Equal(t, tc.want[k], got[k], k)
			}
			assert.Equal(t, "alice", got["sub"])
			assert.NotContains(t, resp.IDToken, "login-7f3a")
			if sid, ok := got["sid"].(string); ok {
				assert.NotEqual(t, tc.login.Session, sid, "sid is a hash, never the host's session key")
			}
		})
	}
}

// TestExchange_ActorTokenMaxAge: WithActorTokenMaxAge refuses an actor
// token issued longer ago than the maximum, though unexpired: refused as
// the actor token, recorded, the subject token not consumed.
func TestExchange_ActorTokenMaxAge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		after time.Duration
		ok    bool
	}{{"within the maximum", 50 * time.Second, true}, {"older than the maximum", 2 * time.Minute, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, withServiceOptions(impersonation.WithActorTokenMaxAge(time.Minute)))
			req := exchangeRequest(f.authorize(t, "alice", "bob"))
			f.clock.Advance(tc.after) // the ID token lives 5 min
			n := len(f.db.Events())
			out := f.exchangeVia(t, viaDirect, appID, req)
			if tc.ok {
				require.Equal(t, http.StatusOK, out.status, out.body)
				return
			}
			assert.Equal(t, tokenexchange.ErrInvalidRequest.Code, out.code)
			assert.Equal(t, "actor_token is invalid or unacceptable", out.description)
			assert.Nil(t, out.resp)
			testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventTokenExchangeDenied, store.OutcomeDenied, "actor token: issued more than 1m0s ago")
			assert.Zero(t, f.db.UsedLen(), "the subject token is not consumed")
		})
	}
	db := memory.New()
	keys, err := memory.GenerateKeySet(store.ES256)
	require.NoError(t, err)
	for _, d := range []time.Duration{-time.Second, 400 * 24 * time.Hour} {
		svc, err := impersonation.New(testIssuer, impersonation.Stores{Clients: db, Users: db, Organizations: db, Grants: db, OneTimeUse: db, Keys: keys}, impersonation.WithActorTokenMaxAge(d))
		assert.Error(t, err, d)
		assert.Nil(t, svc)
	}
}
