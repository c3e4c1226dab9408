package impersonation_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
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
	"github.com/actas/actas/internal/accesstoken"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

var bothWays = []string{viaDirect, viaHTTP}

// runBothWays runs test in parallel once each way (bothWays), as the
// subtests prefix/direct and prefix/http, or direct and http when prefix
// is empty.
func runBothWays(t *testing.T, prefix string, test func(t *testing.T, via string)) {
	t.Helper()
	for _, via := range bothWays {
		name := via
		if prefix != "" {
			name = prefix + "/" + via
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, via)
		})
	}
}

func TestExchange_IssuesImpersonatedAccessToken(t *testing.T) {
	t.Parallel()
	runBothWays(t, "", func(t *testing.T, via string) {
		f := newFixture(t)
		st, id := f.authorize(t, "alice", "bob")
		f.clock.Advance(7 * time.Second)
		now := f.clock.Now()
		n := len(f.db.Events())

		out := f.exchangeVia(t, via, appID, exchangeRequest(st, id))
		require.Equal(t, http.StatusOK, out.status, out.body)
		resp := out.resp
		assert.Equal(t, tokenexchange.TokenTypeAccessToken, resp.IssuedTokenType)
		assert.Equal(t, "Bearer", resp.TokenType)
		assert.Equal(t, int64(3600), resp.ExpiresIn)
		assert.Equal(t, claims.Scope{"openid", scopeOrdersRead}, resp.Scope)
		assert.Empty(t, resp.RefreshToken)
		if via == viaHTTP {
			assert.Equal(t, "no-store", out.header.Get("Cache-Control"))
			assert.Equal(t, "no-cache", out.header.Get("Pragma"))
			assert.Equal(t, "application/json", out.header.Get("Content-Type"))
		}

		at := testkit.DecodeJWT(t, resp.AccessToken)
		assert.Equal(t, map[string]any{"alg": store.ES256, "kid": f.signingKey(t).ID, "typ": "at+jwt"}, at.Header)
		assert.Equal(t, []string{"act", "aud", "aut", "azp", "client_id", "exp", "iat", "iss", "jti", "nbf", "org_id", "org_name", "scope", "sub"},
			at.ClaimNames())
		assert.Equal(t, testIssuer, at.Str(t, "iss"))
		assert.Equal(t, "bob", at.Str(t, "sub"))
		assert.Equal(t, map[string]any{"sub": "alice"}, at.Claims["act"])
		assert.Equal(t, accesstoken.AuthorizedUserType, at.Str(t, "aut"))
		assert.Equal(t, "APPLICATION_USER", at.Str(t, "aut"))
		assert.Equal(t, "acme-eu", at.Str(t, "org_id"))
		assert.Equal(t, "ACME Europe", at.Str(t, "org_name"))
		assert.Equal(t, appID, at.Str(t, "aud"), "default audience is the client")
		assert.Equal(t, appID, at.Str(t, "azp"))
		assert.Equal(t, appID, at.Str(t, "client_id"))
		assert.Equal(t, "openid orders:read", at.Str(t, "scope"))
		assert.Equal(t, now.Unix(), at.Num(t, "iat"))
		assert.Equal(t, now.Unix(), at.Num(t, "nbf"))
		assert.Equal(t, int64(3600), at.Num(t, "exp")-at.Num(t, "iat"))
		testkit.AssertJTI(t, at.Str(t, "jti"))
		assert.NotEqual(t, testkit.DecodeJWT(t, st).Str(t, "jti"), at.Str(t, "jti"), "a new jti, not the subject token's")

		e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventTokenExchanged, store.OutcomeGranted, "")
		assert.Equal(t, appID, e.ClientID)
		assert.Equal(t, "alice", e.Impersonator)
		assert.Equal(t, "bob", e.Subject)
		assert.Equal(t, "acme-eu", e.Org)
		assert.Equal(t, at.Str(t, "jti"), e.JTI)
		assert.Equal(t, []string{"openid", scopeOrdersRead}, e.Scopes)
		assert.Equal(t, now.UTC(), e.Time)
		assert.Equal(t, 1, f.db.UsedLen(), "the subject token is consumed")
	})
}

func TestExchange_AccessTokenTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		clientTTL time.Duration
		svcOpts   []impersonation.Option
		want      int64
	}{
		{name: "default 3600s", want: 3600},
		{name: "client AccessTokenTTL", clientTTL: 10 * time.Minute, want: 600},
		{name: "service default changed", svcOpts: []impersonation.Option{impersonation.WithAccessTokenTTL(20 * time.Minute)}, want: 1200},
		{name: "client wins over service default", clientTTL: 5 * time.Minute, svcOpts: []impersonation.Option{impersonation.WithAccessTokenTTL(20 * time.Minute)}, want: 300},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, withServiceOptions(tc.svcOpts...))
			f.updateClient(t, appID, func(c *store.Client) { c.AccessTokenTTL = tc.clientTTL })
			st, id := f.authorize(t, "alice", "bob")
			out := f.exchangeVia(t, viaHTTP, appID, exchangeRequest(st, id))
			require.Equal(t, http.StatusOK, out.status, out.body)
			assert.Equal(t, tc.want, out.resp.ExpiresIn)
			at := testkit.DecodeJWT(t, out.resp.AccessToken)
			assert.Equal(t, tc.want, at.Num(t, "exp")-at.Num(t, "iat"))
		})
	}
}

// mintIDToken mints an ID token of the fixture's issuer.
func (f *fixture) mintIDToken(t testing.TB, subject, clientID string) string {
	t.Helper()
	tok, _, err := f.tokens(t).MintIDToken(context.Background(), authorizetoken.IDTokenParams{
		Subject: subject, ClientID: clientID, Nonce: testNonce,
	})
	require.NoError(t, err)
	return tok
}

// subjectClaims are the claims of a genuine subject token for alice as bob
// through app, for forging tokens with.
func (f *fixture) subjectClaims() map[string]any {
	now := f.clock.Now().Unix()
	return map[string]any{
		"iss": testIssuer, "sub": "bob", "aud": appID, "azp": appID, "client_id": appID,
		"scope": "openid orders:read", "may_act": map[string]any{"sub": "alice"},
		"iat": now, "nbf": now, "exp": now + 180, "jti": testkit.RandomID(),
	}
}

// otherIssuer is a subject token issuer sharing nothing or only some of
// the fixture's configuration.
func otherIssuer(t testing.TB, iss string, keys store.Keys, opts ...authorizetoken.Option) *authorizetoken.Issuer {
	t.Helper()
	i, err := authorizetoken.NewIssuer(iss, keys, opts...)
	require.NoError(t, err)
	return i
}

func bobParams() authorizetoken.Params {
	return authorizetoken.Params{Subject: "bob", ClientID: appID, Scope: claims.Scope{"openid", scopeOrdersRead}, Actor: "alice"}
}

type rejectCase struct {
	name string
	// prepare sets the scene and returns who presents what.
	prepare    func(t testing.TB, f *fixture) (clientID string, req *tokenexchange.Request)
	wantCode   string
	wantEvent  store.EventType // default EventTokenExchangeDenied
	wantReason string
}

// flow is a granted authorize step's tokens for alice as bob through app.
func flow(t testing.TB, f *fixture) (string, string) {
	t.Helper()
	return f.authorize(t, "alice", "bob")
}

func rejectCases() []rejectCase {
	invalid := tokenexchange.ErrInvalidRequest.Code
	return []rejectCase{
		{
			name: "wrong subject_token_type",
			prepare: changed(func(req *tokenexchange.Request) {
				req.SubjectTokenType = tokenexchange.TokenTypeAccessToken
			}),
			wantCode: invalid, wantReason: "subject_token_type unsupported",
		},
		{
			name: "wrong actor_token_type",
			prepare: changed(func(req *tokenexchange.Request) {
				req.ActorTokenType = tokenexchange.TokenTypeJWT
			}),
			wantCode: invalid, wantReason: "actor_token_type unsupported",
		},
		{
			name: "missing actor token",
			prepare: func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
				st, _ := flow(t, f)
				req := exchangeRequest(st, "")
				req.ActorTokenType = ""
				return appID, req
			},
			wantCode: invalid, wantReason: "actor_token missing",
		},
		{
			name: "requested_token_type refresh token without sessions",
			prepare: changed(func(req *tokenexchange.Request) {
				req.RequestedTokenType = tokenexchange.TokenTypeRefreshToken
			}),
			wantCode: invalid, wantReason: "requested_token_type refresh_token: sessions are off",
		},
		{
			name: "requested_token_type saml2",
			prepare: changed(func(req *tokenexchange.Request) {
				req.RequestedTokenType = tokenexchange.TokenTypeSAML2
			}),
			wantCode: invalid, wantReason: "requested_token_type unsupported",
		},
		{
			name: "requested_token_type id_token without openid",
			prepare: changed(func(req *tokenexchange.Request) {
				req.RequestedTokenType = tokenexchange.TokenTypeIDToken
				req.Scope = claims.Scope{scopeOrdersRead}
			}),
			wantCode: invalid, wantReason: "requested_token_type id_token without openid",
		},
		{
			name: "subject token minted for client A used by client B",
			prepare: func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
				return app2ID, exchangeRequest(flow(t, f))
			},
			wantCode: invalid, wantReason: "subject token",
		},
		{
			name: "actor token of another user than may_act.sub",
			prepare: asActor(func(t testing.TB, f *fixture) string {
				return f.mintIDToken(t, "eve-eu-admin", appID)
			}),
			wantCode: invalid, wantReason: "may_act.sub",
		},
		{
			name: "actor token of the subject himself",
			prepare: asActor(func(t testing.TB, f *fixture) string {
				return f.mintIDToken(t, "bob", appID)
			}),
			wantCode: invalid, wantReason: "may_act.sub",
		},
		{
			name: "actor token for another client",
			prepare: asActor(func(t testing.TB, f *fixture) string {
				return f.mintIDToken(t, "alice", app2ID)
			}),
			wantCode: invalid, wantReason: "actor token",
		},
		{
			name: "subject token expired past the skew",
			prepare: afterFlow(func(_ testing.TB, f *fixture, _ *tokenexchange.Request) {
				f.clock.Advance(180*time.Second + 31*time.Second)
			}),
			wantCode: invalid, wantReason: "expired",
		},
		{
			name:     "alg none with an empty signature",
			prepare:  asSubject(algNoneSubject("")),
			wantCode: invalid, wantReason: "subject token",
		},
		{
			name:     "alg none with a signature",
			prepare:  asSubject(algNoneSubject("c2lnbmF0dXJl")),
			wantCode: invalid, wantReason: "algorithm not allowed",
		},
		{
			name: "HS256 keyed with the issuer's public key",
			prepare: asSubject(func(t testing.TB, f *fixture) string {
				key := f.signingKey(t)
				der, err := x509.MarshalPKIXPublicKey(key.Key.Public())
				require.NoError(t, err)
				secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
				input := testkit.Segment(t, map[string]any{"alg": "HS256", "typ": authorizetoken.HeaderType, "kid": key.ID}) + "." + testkit.Segment(t, f.subjectClaims())
				mac := hmac.New(sha256.New, secret)
				mac.Write([]byte(input))
				return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
			}),
			wantCode: invalid, wantReason: "algorithm not allowed",
		},
		{
			name: "signed by an unknown key",
			prepare: asSubject(func(t testing.TB, f *fixture) string {
				otherKeys, err := memory.GenerateKeySet(store.ES256)
				require.NoError(t, err)
				return mintSubject(t, otherIssuer(t, testIssuer, otherKeys, authorizetoken.WithClock(f.clock.Now)), bobParams())
			}),
			wantCode: invalid, wantReason: "unknown signing key",
		},
		{
			name: "unknown key claiming the issuer's kid",
			prepare: asSubject(func(t testing.TB, f *fixture) string {
				other, err := store.GenerateKey(store.ES256)
				require.NoError(t, err)
				hdr := map[string]any{"alg": store.ES256, "typ": authorizetoken.HeaderType, "kid": f.signingKey(t).ID}
				return testkit.SignRaw(t, other, hdr, f.subjectClaims())
			}),
			wantCode: invalid, wantReason: "invalid signature",
		},
		{
			name: "key embedded in jwk and jku headers is not trusted",
			prepare: asSubject(func(t testing.TB, f *fixture) string {
				other, err := store.GenerateKey(store.ES256)
				require.NoError(t, err)
				hdr := map[string]any{
					"alg": store.ES256, "typ": authorizetoken.HeaderType, "kid": other.ID,
					"jwk": testkit.PublicJWK(t, other), "jku": "https://evil.example/jwks", "x5u": "https://evil.example/cert",
				}
				return testkit.SignRaw(t, other, hdr, f.subjectClaims())
			}),
			wantCode: invalid, wantReason: "unknown signing key",
		},
		{
			name: "payload swapped under a genuine signature",
			prepare: func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
				st, id := flow(t, f)
				parts := strings.Split(st, ".")
				c := f.subjectClaims()
				c["sub"] = "carol"
				return appID, exchangeRequest(parts[0]+"."+testkit.Segment(t, c)+"."+parts[2], id)
			},
			wantCode: invalid, wantReason: "invalid signature",
		},
		{
			name: "subject token of another issuer on the same keys",
			prepare: asSubject(func(t testing.TB, f *fixture) string {
				return mintSubject(t, otherIssuer(t, "https://evil.example", f.keys, authorizetoken.WithClock(f.clock.Now)), bobParams())
			}),
			wantCode: invalid, wantReason: "iss",
		},
		{
			name: "subject token from the future beyond the skew",
			prepare: asSubject(func(t testing.TB, f *fixture) string {
				later := func() time.Time { return f.clock.Now().Add(2 * time.Minute) }
				return mintSubject(t, otherIssuer(t, testIssuer, f.keys, authorizetoken.WithClock(later)), bobParams())
			}),
			wantCode: invalid, wantReason: "not valid yet",
		},
		{
			name:     "garbage subject token",
			prepare:  asSubject(func(testing.TB, *fixture) string { return "not-a-jwt" }),
			wantCode: invalid, wantReason: "malformed",
		},
		{
			name:     "access token presented as subject token",
			prepare:  presentingAccessToken(func(at, _, id string) (string, string) { return at, id }),
			wantCode: invalid, wantReason: "wrong token type",
		},
		{
			name:     "ID token presented as subject token",
			prepare:  presenting(func(_, id string) (string, string) { return id, id }),
			wantCode: invalid, wantReason: "wrong token type",
		},
		{
			name:     "subject token presented as actor token",
			prepare:  presenting(func(st, _ string) (string, string) { return st, st }),
			wantCode: invalid, wantReason: "actor token",
		},
		{
			name:     "access token presented as actor token",
			prepare:  presentingAccessToken(func(at, st, _ string) (string, string) { return st, at }),
			wantCode: invalid, wantReason: "actor token",
		},
		{
			name: "actor token expired while the subject token is not",
			prepare: func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
				f.updateClient(t, appID, func(c *store.Client) { c.SubjectTokenTTL = 10 * time.Minute })
				req := exchangeRequest(flow(t, f))
				f.clock.Advance(authorizetoken.DefaultIDTokenTTL + 31*time.Second)
				return appID, req
			},
			wantCode: invalid, wantReason: "actor token",
		},
		{
			name: "actor token of another issuer on the same keys",
			prepare: asActor(func(t testing.TB, f *fixture) string {
				id, _, err := otherIssuer(t, "https://evil.example", f.keys, authorizetoken.WithClock(f.clock.Now)).MintIDToken(context.Background(),
					authorizetoken.IDTokenParams{Subject: "alice", ClientID: appID})
				require.NoError(t, err)
				return id
			}),
			wantCode: invalid, wantReason: "actor token",
		},
		{
			name: "may_act.iss is not the actor token's issuer",
			prepare: forgedSubject(func(c map[string]any) {
				c["may_act"] = map[string]any{"sub": "alice", "iss": "https://other-idp.example"}
			}),
			wantCode: invalid, wantReason: "may_act.iss",
		},
		{
			name: "subject token without may_act",
			prepare: forgedSubject(func(c map[string]any) {
				delete(c, "may_act")
			}),
			wantCode: invalid, wantReason: "may_act.sub missing",
		},
		{
			name: "subject token whose client_id is another client than its aud",
			prepare: forgedSubject(func(c map[string]any) {
				c["client_id"], c["azp"] = app2ID, app2ID
			}),
			wantCode: invalid, wantReason: "client_id or azp",
		},
		{
			name: "subject token without jti",
			prepare: forgedSubject(func(c map[string]any) {
				delete(c, "jti")
			}),
			wantCode: invalid, wantReason: "jti",
		},
		{
			name: "scope escalation",
			prepare: changed(func(req *tokenexchange.Request) {
				req.Scope = claims.Scope{scopeOrdersRead, scopeOrdersWrite}
			}),
			wantCode: tokenexchange.ErrInvalidScope.Code, wantReason: "scope escalation",
		},
		{
			name: "scope escalation to the impersonate scope",
			prepare: changed(func(req *tokenexchange.Request) {
				req.Scope = claims.Scope{subjecttoken.ScopeImpersonate}
			}),
			wantCode: tokenexchange.ErrInvalidScope.Code, wantReason: "scope escalation",
		},
		{
			name: "audience the client may not ask for",
			prepare: changed(func(req *tokenexchange.Request) {
				req.Audience = []string{apiAudience, "https://evil.example"}
			}),
			wantCode: tokenexchange.ErrInvalidTarget.Code, wantReason: "audience not allowed",
		},
		{
			name: "audience of another client",
			prepare: changed(func(req *tokenexchange.Request) {
				req.Audience = []string{app2ID}
			}),
			wantCode: tokenexchange.ErrInvalidTarget.Code, wantReason: "audience not allowed",
		},
		{
			name: "resource the client may not ask for",
			prepare: changed(func(req *tokenexchange.Request) {
				req.Resource = []string{"https://evil.example/api"}
			}),
			wantCode: tokenexchange.ErrInvalidTarget.Code, wantReason: "audience not allowed",
		},
		{
			name: "role revoked between authorize and exchange",
			prepare: afterFlow(func(t testing.TB, f *fixture, _ *tokenexchange.Request) {
				require.NoError(t, f.db.Unassign(appID, roleImpersonator, "alice"))
			}),
			wantCode: invalid, wantReason: "policy: " + string(impersonation.ReasonNoRole),
		},
		{
			name: "subject disabled between authorize and exchange",
			prepare: afterFlow(func(t testing.TB, f *fixture, _ *tokenexchange.Request) {
				u, err := f.db.User(context.Background(), "bob")
				require.NoError(t, err)
				u.Disabled = true
				require.NoError(t, f.db.PutUser(*u))
			}),
			wantCode: invalid, wantReason: "policy: " + string(impersonation.ReasonSubjectDisabled),
		},
		{
			name: "subject became protected between authorize and exchange",
			prepare: afterFlow(func(t testing.TB, f *fixture, _ *tokenexchange.Request) {
				require.NoError(t, f.db.Assign(appID, roleImpersonator, "bob"))
			}),
			wantCode: invalid, wantReason: "policy: " + string(impersonation.ReasonProtected),
		},
		{
			name: "act chain too deep",
			prepare: asSubject(func(t testing.TB, f *fixture) string {
				deep := otherIssuer(t, testIssuer, f.keys, authorizetoken.WithClock(f.clock.Now), authorizetoken.WithMaxActDepth(10))
				p := bobParams()
				p.Act = testkit.ActChain(claims.DefaultMaxActDepth) // with alice on top: one too many
				return mintSubject(t, deep, p)
			}),
			wantCode: invalid, wantReason: "act chain too deep",
		},
		{
			name: "subject token replayed",
			prepare: afterFlow(func(t testing.TB, f *fixture, req *tokenexchange.Request) {
				_, err := f.svc.Exchange(context.Background(), clientApp(), req)
				require.NoError(t, err)
			}),
			wantCode: invalid, wantEvent: store.EventReplayDetected, wantReason: "already used",
		},
	}
}

// actChain returns an act chain of n prior actors root-admin-1 … n.

func TestExchange_Rejections(t *testing.T) {
	t.Parallel()
	for _, tc := range rejectCases() {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newFixture(t)
			clientID, req := tc.prepare(t, f)
			events := len(f.db.Events())
			exchanged := testkit.CountEvents(f.db.Events(), store.EventTokenExchanged)
			used := f.db.UsedLen()

			out := f.exchangeVia(t, via, clientID, req)
			assert.Equal(t, http.StatusBadRequest, out.status)
			assert.Equal(t, tc.wantCode, out.code)
			assert.Nil(t, out.resp, "nothing issued")
			assert.Equal(t, exchanged, testkit.CountEvents(f.db.Events(), store.EventTokenExchanged), "nothing issued")
			assert.Equal(t, used, f.db.UsedLen(), "a refused exchange consumes nothing")

			wantEvent := tc.wantEvent
			if wantEvent == "" {
				wantEvent = store.EventTokenExchangeDenied
			}
			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), events), wantEvent, store.OutcomeDenied, tc.wantReason)
			assert.Equal(t, clientID, e.ClientID)
			testkit.AssertNoLeak(t, out.body, req.SubjectToken, req.ActorToken, e.Reason)
		})
	}
}

func TestExchange_SubjectTokenExpirySkew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		advance time.Duration
		wantOK  bool
	}{
		{name: "just issued", advance: 0, wantOK: true},
		{name: "at exp", advance: 180 * time.Second, wantOK: true},
		{name: "within skew (exp+10s)", advance: 190 * time.Second, wantOK: true},
		{name: "last second of the skew (exp+29s)", advance: 209 * time.Second, wantOK: true},
		{name: "at exp+skew", advance: 210 * time.Second},
		{name: "past the skew (exp+31s)", advance: 211 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			req := exchangeRequest(f.authorize(t, "alice", "bob"))
			f.clock.Advance(tc.advance)
			out := f.exchangeVia(t, viaHTTP, appID, req)
			if tc.wantOK {
				assert.Equal(t, http.StatusOK, out.status, out.body)
				return
			}
			assert.Equal(t, http.StatusBadRequest, out.status)
			assert.Equal(t, tokenexchange.ErrInvalidRequest.Code, out.code)
			assert.Equal(t, 0, testkit.CountEvents(f.db.Events(), store.EventTokenExchanged))
			assert.Contains(t, f.db.Events()[len(f.db.Events())-1].Reason, "expired")
		})
	}
}

func TestExchange_SubjectTokenReplayedOverHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	st, id := f.authorize(t, "alice", "bob")
	first := f.postToken(t, appID, appSecret, exchangeRequest(st, id).Values())
	require.Equal(t, http.StatusOK, first.Code)

	second := f.postToken(t, appID, appSecret, exchangeRequest(st, id).Values())
	assert.Equal(t, http.StatusBadRequest, second.Code)
	assert.JSONEq(t, `{"error":"invalid_request","error_description":"subject_token is invalid or unacceptable"}`, second.Body.String())
	e := f.db.Events()[len(f.db.Events())-1]
	assert.Equal(t, store.EventReplayDetected, e.Type)
	assert.Equal(t, store.OutcomeDenied, e.Outcome)
	assert.Equal(t, "bob", e.Subject)
	assert.Equal(t, "alice", e.Impersonator)
	assert.Equal(t, testkit.DecodeJWT(t, st).Str(t, "jti"), e.JTI, "the replayed subject token's jti")
	assert.Equal(t, 1, testkit.CountEvents(f.db.Events(), store.EventTokenExchanged))
}

func TestExchange_RefusedAttemptByAnotherClientDoesNotBurnToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	st, id := f.authorize(t, "alice", "bob")

	stolen := f.postToken(t, app2ID, app2Secret, exchangeRequest(st, id).Values())
	require.Equal(t, http.StatusBadRequest, stolen.Code)
	assert.Contains(t, stolen.Body.String(), tokenexchange.ErrInvalidRequest.Code)

	legit := f.postToken(t, appID, appSecret, exchangeRequest(st, id).Values())
	assert.Equal(t, http.StatusOK, legit.Code, legit.Body.String())
	assert.Equal(t, []string{string(store.EventImpersonationStarted), string(store.EventTokenExchangeDenied), string(store.EventTokenExchanged)},
		eventTypes(f.db.Events()))
}

func TestExchange_ProtocolRejections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// mutate changes the valid form.
		mutate      func(url.Values)
		clientID    string
		secret      string
		auth        string // basic (default), post, both, none
		method      string
		contentType string
		query       string
		wantStatus  int
		wantCode    string
		wantBasic   bool
	}{
		{name: "wrong grant_type", mutate: func(v url.Values) { v.Set("grant_type", "authorization_code") }, wantStatus: 400, wantCode: tokenexchange.ErrUnsupportedGrantType.Code},
		{name: "grant_type missing", mutate: func(v url.Values) { v.Del("grant_type") }, wantStatus: 400, wantCode: tokenexchange.ErrInvalidRequest.Code},
		{name: "duplicate subject_token", mutate: func(v url.Values) { v.Add("subject_token", v.Get("subject_token")) }, wantStatus: 400, wantCode: tokenexchange.ErrInvalidRequest.Code},
		{name: "duplicate scope", mutate: func(v url.Values) { v.Add("scope", "openid"); v.Add("scope", "orders:write") }, wantStatus: 400, wantCode: tokenexchange.ErrInvalidRequest.Code},
		{name: "duplicate grant_type", mutate: func(v url.Values) { v.Add("grant_type", tokenexchange.GrantType) }, wantStatus: 400, wantCode: tokenexchange.ErrInvalidRequest.Code},
		{name: "actor_token without actor_token_type", mutate: func(v url.Values) { v.Del("actor_token_type") }, wantStatus: 400, wantCode: tokenexchange.ErrInvalidRequest.Code},
		{name: "actor_token_type without actor_token", mutate: func(v url.Values) { v.Del("actor_token") }, wantStatus: 400, wantCode: tokenexchange.ErrInvalidRequest.Code},
		{name: "subject_token_type missing", mutate: func(v url.Values) { v.Del("subject_token_type") }, wantStatus: 400, wantCode: tokenexchange.ErrInvalidRequest.Code},
		{name: "resource with a fragment", mutate: func(v url.Values) { v.Set("resource", apiAudience+"#x") }, wantStatus: 400, wantCode: tokenexchange.ErrInvalidTarget.Code},
		{name: "bad client secret (Basic)", secret: "not-the-secret", wantStatus: 401, wantCode: tokenexchange.ErrInvalidClient.Code, wantBasic: true},
		{name: "another client's secret (Basic)", secret: app2Secret, wantStatus: 401, wantCode: tokenexchange.ErrInvalidClient.Code, wantBasic: true},
		{name: "unknown client (Basic)", clientID: "ghost", secret: "anything", wantStatus: 401, wantCode: tokenexchange.ErrInvalidClient.Code, wantBasic: true},
		{name: "disabled client with its own secret", clientID: disabledID, secret: disabledSecret, wantStatus: 401, wantCode: tokenexchange.ErrInvalidClient.Code, wantBasic: true},
		{name: "bad client secret (post)", secret: "not-the-secret", auth: "post", wantStatus: 401, wantCode: tokenexchange.ErrInvalidClient.Code},
		{name: "unknown client (post)", clientID: "ghost", secret: "anything", auth: "post", wantStatus: 401, wantCode: tokenexchange.ErrInvalidClient.Code},
		{name: "no client authentication", auth: "none", wantStatus: 401, wantCode: tokenexchange.ErrInvalidClient.Code},
		{name: "two authentication methods", auth: "both", wantStatus: 400, wantCode: tokenexchange.ErrInvalidRequest.Code},
		{name: "GET", method: http.MethodGet, wantStatus: 405, wantCode: tokenexchange.ErrInvalidRequest.Code},
		{name: "JSON content type", contentType: "application/json", wantStatus: 400, wantCode: tokenexchange.ErrInvalidRequest.Code},
		{name: "client_secret in the URL query", query: "client_secret=" + appSecret, wantStatus: 400, wantCode: tokenexchange.ErrInvalidRequest.Code},
		{name: "oversized body", mutate: func(v url.Values) { v.Set("padding", strings.Repeat("a", 70<<10)) }, wantStatus: 400, wantCode: tokenexchange.ErrInvalidRequest.Code},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			st, id := f.authorize(t, "alice", "bob")
			form := exchangeRequest(st, id).Values()
			if tc.mutate != nil {
				tc.mutate(form)
			}
			clientID, secret := appID, appSecret
			if tc.clientID != "" {
				clientID = tc.clientID
			}
			if tc.secret != "" {
				secret = tc.secret
			}
			if tc.auth == "post" || tc.auth == "both" {
				form.Set("client_id", clientID)
				form.Set("client_secret", secret)
			}
			method, ct := http.MethodPost, "application/x-www-form-urlencoded"
			if tc.method != "" {
				method = tc.method
			}
			if tc.contentType != "" {
				ct = tc.contentType
			}
			target := "/token"
			if tc.query != "" {
				target += "?" + tc.query
			}
			r := httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", ct)
			if tc.auth == "" || tc.auth == "basic" || tc.auth == "both" {
				r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
			}
			events := len(f.db.Events())
			w := httptest.NewRecorder()
			f.handler.ServeHTTP(w, r)

			assert.Equal(t, tc.wantStatus, w.Code)
			var body map[string]string
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
			assert.Equal(t, tc.wantCode, body["error"])
			assert.NotContains(t, body, "access_token")
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			if tc.wantBasic {
				assert.True(t, strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic"), "WWW-Authenticate: %q", w.Header().Get("WWW-Authenticate"))
			}
			testkit.AssertNoLeak(t, w.Body.String(), st, id, secret)
			assert.Empty(t, testkit.EventsSince(f.db.Events(), events), "refused before the exchange: no decision recorded")
			assert.Zero(t, f.db.UsedLen(), "nothing consumed")

			// The subject token survives the refused request.
			ok := f.postToken(t, appID, appSecret, exchangeRequest(st, id).Values())
			assert.Equal(t, http.StatusOK, ok.Code, ok.Body.String())
		})
	}
}

func TestExchange_ClientRejections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		clientID   string
		via        []string
		wantCode   string
		wantReason string
	}{
		{name: "client with impersonation off", clientID: noImpID, via: bothWays, wantCode: tokenexchange.ErrUnauthorizedClient.Code, wantReason: string(impersonation.ReasonImpersonationDisabled)},
		{name: "client not authorized for the impersonation API", clientID: noAPIID, via: bothWays, wantCode: tokenexchange.ErrUnauthorizedClient.Code, wantReason: string(impersonation.ReasonClientNotAuthorized)},
		{name: "client without the token-exchange grant type", clientID: noGrantID, via: bothWays, wantCode: tokenexchange.ErrUnauthorizedClient.Code, wantReason: "grant type"},
		{name: "disabled client", clientID: disabledID, via: []string{viaDirect}, wantCode: tokenexchange.ErrUnauthorizedClient.Code, wantReason: string(impersonation.ReasonClientDisabled)},
		{name: "unknown client", clientID: "ghost", via: []string{viaDirect}, wantCode: tokenexchange.ErrInvalidClient.Code, wantReason: "client unknown"},
	}
	for _, tc := range tests {
		for _, via := range tc.via {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				st, id := f.authorize(t, "alice", "bob")
				events := len(f.db.Events())
				out := f.exchangeVia(t, via, tc.clientID, exchangeRequest(st, id))
				assert.Equal(t, tc.wantCode, out.code)
				assert.Nil(t, out.resp)
				testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), events), store.EventTokenExchangeDenied, store.OutcomeDenied, tc.wantReason)
				assert.Zero(t, f.db.UsedLen())
				testkit.AssertNoLeak(t, out.body, st, id)
			})
		}
	}
}

func TestExchange_NarrowerScopeAcceptedAndReflected(t *testing.T) {
	t.Parallel()
	runBothWays(t, "", func(t *testing.T, via string) {
		f := newFixture(t)
		req := exchangeRequest(f.authorize(t, "alice", "bob"))
		req.Scope = claims.Scope{scopeOrdersRead}
		out := f.exchangeVia(t, via, appID, req)
		require.Equal(t, http.StatusOK, out.status, out.body)
		assert.Equal(t, claims.Scope{scopeOrdersRead}, out.resp.Scope)
		assert.Equal(t, scopeOrdersRead, testkit.DecodeJWT(t, out.resp.AccessToken).Str(t, "scope"))
	})
}

func TestExchange_GrantRemovedSinceAuthorizeNarrowsScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	req := exchangeRequest(f.authorize(t, "alice", "bob"))
	require.NoError(t, f.db.Unassign(appID, roleCustomer, "bob"))
	out := f.exchangeVia(t, viaHTTP, appID, req)
	require.Equal(t, http.StatusOK, out.status, out.body)
	assert.Equal(t, claims.Scope{"openid"}, out.resp.Scope)
	assert.Equal(t, "openid", testkit.DecodeJWT(t, out.resp.AccessToken).Str(t, "scope"))
}

func TestExchange_AllowedAudienceAndResource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		audience []string
		resource []string
		want     []string
	}{
		{name: "registered audience", audience: []string{apiAudience}, want: []string{apiAudience}},
		{name: "registered resource", resource: []string{apiAudience}, want: []string{apiAudience}},
		{name: "audience and resource the same, kept once", audience: []string{apiAudience}, resource: []string{apiAudience}, want: []string{apiAudience}},
		{name: "the client itself and the API", audience: []string{appID}, resource: []string{apiAudience}, want: []string{appID, apiAudience}},
	}
	for _, tc := range tests {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newFixture(t)
			req := exchangeRequest(f.authorize(t, "alice", "bob"))
			req.Audience, req.Resource = tc.audience, tc.resource
			out := f.exchangeVia(t, via, appID, req)
			require.Equal(t, http.StatusOK, out.status, out.body)

			v := f.verifier(t, tc.want[len(tc.want)-1])
			p, err := v.Verify(context.Background(), out.resp.AccessToken)
			require.NoError(t, err)
			assert.Equal(t, claims.Audience(tc.want), p.Audience)
		})
	}
}

func TestExchange_NestedActChainKept(t *testing.T) {
	t.Parallel()
	runBothWays(t, "", func(t *testing.T, via string) {
		f := newFixture(t)
		p := bobParams()
		p.Act = &claims.Actor{Subject: "root-admin"}
		st, _, err := f.tokens(t).Mint(context.Background(), p)
		require.NoError(t, err)
		out := f.exchangeVia(t, via, appID, exchangeRequest(st, f.mintIDToken(t, "alice", appID)))
		require.Equal(t, http.StatusOK, out.status, out.body)

		at := testkit.DecodeJWT(t, out.resp.AccessToken)
		assert.Equal(t, map[string]any{"sub": "alice", "act": map[string]any{"sub": "root-admin"}}, at.Claims["act"])
		pr, err := f.verifier(t, appID).Verify(context.Background(), out.resp.AccessToken)
		require.NoError(t, err)
		assert.Equal(t, []string{"alice", "root-admin"}, pr.Actor.Chain())
	})
}

func TestExchange_DeepestAllowedActChainAccepted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := bobParams()
	p.Act = testkit.ActChain(claims.DefaultMaxActDepth - 1)
	st, _, err := f.tokens(t).Mint(context.Background(), p)
	require.NoError(t, err)
	out := f.exchangeVia(t, viaDirect, appID, exchangeRequest(st, f.mintIDToken(t, "alice", appID)))
	require.Equal(t, http.StatusOK, out.status)
	pr, err := f.verifier(t, appID).Verify(context.Background(), out.resp.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, claims.DefaultMaxActDepth, pr.Actor.Depth())

	// The issuer refuses to mint one deeper.
	p.Act = testkit.ActChain(claims.DefaultMaxActDepth)
	_, _, err = f.tokens(t).Mint(context.Background(), p)
	require.ErrorIs(t, err, claims.ErrActTooDeep)
}

func TestExchange_ConcurrentUseOfOneSubjectToken(t *testing.T) {
	t.Parallel()
	const n = 50
	f := newFixture(t)
	form := exchangeRequest(f.authorize(t, "alice", "bob")).Values()

	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		codes = make([]int, n)
		errs  = make([]string, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(appID, appSecret)
			w := httptest.NewRecorder()
			<-start
			f.handler.ServeHTTP(w, r)
			codes[i] = w.Code
			var body map[string]any
			if json.Unmarshal(w.Body.Bytes(), &body) == nil {
				errs[i], _ = body["error"].(string)
			}
		}()
	}
	close(start)
	wg.Wait()

	ok, refused := 0, 0
	for i := range n {
		switch {
		case codes[i] == http.StatusOK:
			ok++
		case codes[i] == http.StatusBadRequest && errs[i] == tokenexchange.ErrInvalidRequest.Code:
			refused++
		}
	}
	assert.Equal(t, 1, ok, "exactly one exchange succeeds")
	assert.Equal(t, n-1, refused, "every other one is invalid_request")
	assert.Equal(t, 1, testkit.CountEvents(f.db.Events(), store.EventTokenExchanged))
	assert.Equal(t, n-1, testkit.CountEvents(f.db.Events(), store.EventReplayDetected))
}

func TestExchange_StoreFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		fail       func(f *fixture)
		wantStatus int
		wantCode   string
		// wantReason, when not empty, is in the recorded failure event.
		wantReason string
	}{
		{
			name:       "one-time-use store error",
			fail:       func(f *fixture) { f.oneTime.failWith(errors.New("redis: dial tcp 10.0.0.7:6379: connection refused")) },
			wantStatus: http.StatusServiceUnavailable, wantCode: tokenexchange.ErrTemporarilyUnavailable.Code, wantReason: "connection refused",
		},
		{
			name:       "one-time-use store timeout",
			fail:       func(f *fixture) { f.oneTime.failWith(fmt.Errorf("redis: %w", context.DeadlineExceeded)) },
			wantStatus: http.StatusServiceUnavailable, wantCode: tokenexchange.ErrTemporarilyUnavailable.Code, wantReason: "deadline exceeded",
		},
		{
			name:       "audit sink down",
			fail:       func(f *fixture) { f.auditor.Fail.Store(true) },
			wantStatus: http.StatusServiceUnavailable, wantCode: tokenexchange.ErrTemporarilyUnavailable.Code,
		},
	}
	for _, tc := range tests {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newFixture(t)
			req := exchangeRequest(f.authorize(t, "alice", "bob"))
			events := len(f.db.Events())
			tc.fail(f)

			var out exchangeOutcome
			require.NotPanics(t, func() { out = f.exchangeVia(t, via, appID, req) })
			assert.Equal(t, tc.wantStatus, out.status)
			assert.Equal(t, tc.wantCode, out.code)
			assert.Nil(t, out.resp, "nothing issued")
			assert.Zero(t, testkit.CountEvents(f.db.Events(), store.EventTokenExchanged))
			testkit.AssertNoLeak(t, out.body, req.SubjectToken, req.ActorToken, "redis", "10.0.0.7", "deadline")
			if tc.wantReason != "" {
				testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), events), store.EventTokenExchangeDenied, store.OutcomeFailed, tc.wantReason)
			}
		})
	}
}

// forgedSubject prepares an exchange by app of a subject token signed with
// the issuer's key whose claims, the genuine ones of alice acting as bob,
// change alters, with alice's genuine ID token as the actor token.
func forgedSubject(change func(c map[string]any)) func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
	return asSubject(func(t testing.TB, f *fixture) string {
		c := f.subjectClaims()
		change(c)
		key := f.signingKey(t)
		return testkit.SignRaw(t, key, testkit.Header(key, authorizetoken.HeaderType), c)
	})
}

// changed prepares the flow's genuine exchange by app (alice acting as
// bob), altered by change.
func changed(change func(req *tokenexchange.Request)) func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
	return afterFlow(func(_ testing.TB, _ *fixture, req *tokenexchange.Request) { change(req) })
}

// afterFlow prepares the flow's genuine exchange by app (alice acting as
// bob); then does whatever happens between authorize and exchange, which
// may alter the request, the stores or the clock.
func afterFlow(then func(t testing.TB, f *fixture, req *tokenexchange.Request)) func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
	return func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
		req := exchangeRequest(flow(t, f))
		then(t, f, req)
		return appID, req
	}
}

// asSubject prepares an exchange by app of the subject token that forge
// builds, with alice's genuine ID token of the flow as the actor token.
func asSubject(forge func(t testing.TB, f *fixture) string) func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
	return func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
		_, id := flow(t, f)
		return appID, exchangeRequest(forge(t, f), id)
	}
}

// asActor prepares an exchange by app of the flow's genuine subject token
// with the actor token that forge builds.
func asActor(forge func(t testing.TB, f *fixture) string) func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
	return func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
		st, _ := flow(t, f)
		return appID, exchangeRequest(st, forge(t, f))
	}
}

// presenting prepares an exchange by app of the subject and actor tokens
// that pick chooses from the flow's subject token st and ID token id.
func presenting(pick func(st, id string) (subject, actor string)) func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
	return func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
		return appID, exchangeRequest(pick(flow(t, f)))
	}
}

// presentingAccessToken is presenting with, to choose from too, the access
// token at of a whole flow run before.
func presentingAccessToken(pick func(at, st, id string) (subject, actor string)) func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
	return func(t testing.TB, f *fixture) (string, *tokenexchange.Request) {
		at := f.accessToken(t)
		st, id := flow(t, f)
		return appID, exchangeRequest(pick(at, st, id))
	}
}

// algNoneSubject forges an unsigned (alg none) subject token with the
// genuine claims, sig as its signature segment.
func algNoneSubject(sig string) func(t testing.TB, f *fixture) string {
	return func(t testing.TB, f *fixture) string {
		hdr := map[string]any{"alg": "none", "typ": authorizetoken.HeaderType, "kid": f.signingKey(t).ID}
		return testkit.Segment(t, hdr) + "." + testkit.Segment(t, f.subjectClaims()) + "." + sig
	}
}

// mintSubject mints the subject token of p with issuer i.
func mintSubject(t testing.TB, i *authorizetoken.Issuer, p authorizetoken.Params) string {
	t.Helper()
	tok, _, err := i.Mint(context.Background(), p)
	require.NoError(t, err)
	return tok
}

// countingGrants counts the GrantedScopes reads per client and user.
type countingGrants struct {
	next store.Grants
	mu   sync.Mutex
	n    map[string]int
}

func (g *countingGrants) GrantedScopes(ctx context.Context, clientID, userID string) ([]string, error) {
	g.mu.Lock()
	g.n[clientID+"/"+userID]++
	g.mu.Unlock()
	return g.next.GrantedScopes(ctx, clientID, userID)
}

// TestExchange_ReadsEachGrantOnce: the policy gate and the scope rule
// share one read of the subject's grants: the authorize step and the
// exchange each read alice's and bob's grants for the client once.
func TestExchange_ReadsEachGrantOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	grants := &countingGrants{next: f.db, n: map[string]int{}}
	svc, err := impersonation.New(testIssuer, impersonation.Stores{
		Clients: f.db, Users: f.db, Organizations: f.db, Grants: grants, OneTimeUse: f.db, Keys: f.keys,
	}, impersonation.WithClock(f.clock.Now), impersonation.WithAuditor(f.db))
	require.NoError(t, err)
	f.svc = svc
	st, id := f.authorize(t, "alice", "bob")
	assert.Equal(t, map[string]int{appID + "/alice": 1, appID + "/bob": 1}, grants.n, "authorize")
	resp, err := svc.Exchange(context.Background(), clientApp(), exchangeRequest(st, id))
	require.NoError(t, err)
	assert.Equal(t, claims.Scope{"openid", scopeOrdersRead}, resp.Scope, "the scope rule still narrows to bob's grants")
	assert.Equal(t, map[string]int{appID + "/alice": 2, appID + "/bob": 2}, grants.n, "authorize and exchange")
}
