package impersonation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
)

// errIRRevocationDown is what a failing irRevocation says; it must never
// reach a client.
var errIRRevocationDown = errors.New("revocation store: connection reset by peer")

// irRevocation is a hand-written store.Revocation that passes to next
// (the fixture's memory store) until told to fail look-ups or writes.
type irRevocation struct {
	next        store.Revocation
	failRevoked atomic.Bool
	failRevoke  atomic.Bool
}

var _ store.Revocation = (*irRevocation)(nil)

func (r *irRevocation) Revoke(ctx context.Context, id string, exp time.Time) error {
	if r.failRevoke.Load() {
		return errIRRevocationDown
	}
	return r.next.Revoke(ctx, id, exp)
}

func (r *irRevocation) Revoked(ctx context.Context, id string) (bool, error) {
	if r.failRevoked.Load() {
		return false, errIRRevocationDown
	}
	return r.next.Revoked(ctx, id)
}

// irFixture is a fixture with the introspection and revocation endpoints
// of its service, tokenexchange.NewIntrospectionHandler(svc, svc) and
// tokenexchange.NewRevocationHandler(svc, svc).
type irFixture struct {
	*fixture
	// rev is the service's revocation store (over the fixture's memory
	// store), when it has one.
	rev           *irRevocation
	introspection http.Handler
	revocation    http.Handler
}

// newIRFixture builds the fixture, its service WithRevocationStore when
// revocation is true, and the two endpoints.
func newIRFixture(t testing.TB, revocation bool) *irFixture {
	t.Helper()
	rev := &irRevocation{}
	var opts []fixtureOption
	if revocation {
		opts = append(opts, withServiceOptions(impersonation.WithRevocationStore(rev)))
	}
	f := newFixture(t, opts...)
	// Bound before the service is first used.
	rev.next = f.db
	in, err := tokenexchange.NewIntrospectionHandler(f.svc, f.svc)
	require.NoError(t, err)
	rv, err := tokenexchange.NewRevocationHandler(f.svc, f.svc)
	require.NoError(t, err)
	return &irFixture{fixture: f, rev: rev, introspection: in, revocation: rv}
}

// irOutcome is what the client sees of one introspection or revocation,
// whichever way it went.
type irOutcome struct {
	status int
	// body is the HTTP body, or for a direct introspection the JSON of the
	// returned Introspection.
	body   string
	code   string
	header http.Header
	// err is the error of a direct call.
	err error
}

// irPost posts token to h as clientID with client_secret_basic.
func irPost(h http.Handler, clientID, token string) *httptest.ResponseRecorder {
	form := url.Values{"token": {token}}
	r := httptest.NewRequest(http.MethodPost, "/oauth2/endpoint", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secrets[clientID]))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// irFromHTTP reads a recorded response; an error body must be JSON.
func irFromHTTP(t testing.TB, w *httptest.ResponseRecorder) irOutcome {
	t.Helper()
	out := irOutcome{status: w.Code, body: w.Body.String(), header: w.Header()}
	if w.Code != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e), "error body is JSON: %s", out.body)
		out.code = e.Error
	}
	return out
}

// irFromError is the outcome of a direct call that returned err.
func irFromError(t testing.TB, err error) irOutcome {
	t.Helper()
	var te *tokenexchange.Error
	require.ErrorAs(t, err, &te)
	return irOutcome{status: te.StatusCode(), code: te.Code, body: te.Code + " " + te.Description, err: err}
}

// introspect introspects token for clientID directly or over HTTP.
func (f *irFixture) introspect(t testing.TB, via, clientID, token string) irOutcome {
	t.Helper()
	if via == viaHTTP {
		out := irFromHTTP(t, irPost(f.introspection, clientID, token))
		if out.status == http.StatusOK {
			assert.Equal(t, "application/json", out.header.Get("Content-Type"))
			assert.Equal(t, "no-store", out.header.Get("Cache-Control"))
		}
		return out
	}
	in, err := f.svc.Introspect(context.Background(),
		tokenexchange.Client{ID: clientID, AuthMethod: tokenexchange.AuthMethodBasic}, token, "")
	if err != nil {
		assert.Nil(t, in)
		return irFromError(t, err)
	}
	require.NotNil(t, in)
	b, err := json.Marshal(in)
	require.NoError(t, err)
	return irOutcome{status: http.StatusOK, body: string(b)}
}

// revoke revokes token for clientID directly or over HTTP.
func (f *irFixture) revoke(t testing.TB, via, clientID, token string) irOutcome {
	t.Helper()
	if via == viaHTTP {
		out := irFromHTTP(t, irPost(f.revocation, clientID, token))
		if out.status == http.StatusOK {
			assert.Empty(t, out.body, "RFC 7009 §2.2: the content of the response body is ignored; ours is empty")
			assert.Equal(t, "no-store", out.header.Get("Cache-Control"))
		}
		return out
	}
	err := f.svc.Revoke(context.Background(),
		tokenexchange.Client{ID: clientID, AuthMethod: tokenexchange.AuthMethodBasic}, token, "")
	if err != nil {
		return irFromError(t, err)
	}
	return irOutcome{status: http.StatusOK}
}

// requireRefused requires a refusal with status and the error code code;
// the error of a direct call must wrap sentinel.
func (out irOutcome) requireRefused(t testing.TB, via string, status int, code string, sentinel error) {
	t.Helper()
	require.Equal(t, status, out.status, out.body)
	assert.Equal(t, code, out.code)
	if via == viaDirect {
		require.ErrorIs(t, out.err, sentinel)
	}
}

// irInactive is the only answer for an inactive token (RFC 7662 §2.2).
const irInactive = `{"active":false}`

// requireInactive requires {"active":false} exactly.
func (f *irFixture) requireInactive(t testing.TB, via, clientID, token string) {
	t.Helper()
	out := f.introspect(t, via, clientID, token)
	require.Equal(t, http.StatusOK, out.status, out.body)
	assert.Equal(t, irInactive, out.body)
}

// requireActive requires an active answer and returns it decoded.
func (f *irFixture) requireActive(t testing.TB, via, clientID, token string) map[string]any {
	t.Helper()
	out := f.introspect(t, via, clientID, token)
	require.Equal(t, http.StatusOK, out.status, out.body)
	d := json.NewDecoder(strings.NewReader(out.body))
	d.UseNumber()
	var m map[string]any
	require.NoError(t, d.Decode(&m))
	require.Equal(t, true, m["active"], out.body)
	return m
}

// exchangeWith runs alice as bob through app with the given exchange
// request changes and returns the access token.
func (f *irFixture) exchangeWith(t testing.TB, change func(*tokenexchange.Request)) string {
	t.Helper()
	st, id := f.authorize(t, "alice", "bob")
	req := exchangeRequest(st, id)
	change(req)
	resp, err := f.svc.Exchange(context.Background(), clientApp(), req)
	require.NoError(t, err)
	return resp.AccessToken
}

// revokeRecorded revokes token as app directly or over HTTP, requires 200
// and exactly one audit event since the first n, granted, and that it is
// want.
func (f *irFixture) revokeRecorded(t testing.TB, via, token string, n int, want store.Event) irOutcome {
	t.Helper()
	out := f.revoke(t, via, appID, token)
	require.Equal(t, http.StatusOK, out.status, out.body)
	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), want.Type, store.OutcomeGranted, "")
	assert.Equal(t, want, e)
	return out
}

// Tokens the tests of introspection and revocation ask about.

// irIDToken is an ID token of alice for app.
func irIDToken(t *testing.T, f *irFixture) string {
	_, id := f.authorize(t, "alice", "bob")
	return id
}

// irSubjectToken is a subject token for alice acting as bob through app.
func irSubjectToken(t *testing.T, f *irFixture) string {
	st, _ := f.authorize(t, "alice", "bob")
	return st
}

// irExpiredAccessToken is an access token expired past exp plus the skew.
func irExpiredAccessToken(t *testing.T, f *irFixture) string {
	at := f.accessToken(t)
	f.clock.Advance(impersonation.DefaultAccessTokenTTL + claims.DefaultSkew + time.Second)
	return at
}

// irRevokedAccessToken is an access token revoked by app.
func irRevokedAccessToken(t *testing.T, f *irFixture) string {
	at := f.accessToken(t)
	require.NoError(t, f.svc.Revoke(context.Background(), clientApp(), at, ""))
	return at
}

// irForeignAccessToken is an access token of another issuer's key.
func irForeignAccessToken(t *testing.T, _ *irFixture) string {
	return newFixture(t).accessToken(t)
}

// irAlgNoneAccessToken is an unsigned (alg none) copy of an access token.
func irAlgNoneAccessToken(t *testing.T, f *irFixture) string {
	tok := testkit.DecodeJWT(t, f.accessToken(t))
	return testkit.Segment(t, map[string]any{"alg": "none", "typ": "at+jwt"}) + "." + testkit.Segment(t, tok.Claims) + "."
}

// TestIntrospect_ActiveAccessToken: RFC 7662 §2.2 members of an active
// impersonated access token, for the client it was issued to.
func TestIntrospect_ActiveAccessToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		revocation bool
		change     func(*tokenexchange.Request)
		wantAud    any
		wantScope  string
	}{
		{name: "default audience", wantAud: appID, wantScope: "openid orders:read"},
		{name: "default audience, revocation enabled", revocation: true, wantAud: appID, wantScope: "openid orders:read"},
		{name: "API audience", change: func(r *tokenexchange.Request) { r.Audience = []string{apiAudience} },
			wantAud: apiAudience, wantScope: "openid orders:read"},
		{name: "two audiences", change: func(r *tokenexchange.Request) { r.Audience = []string{apiAudience, appID} },
			wantAud: []any{apiAudience, appID}, wantScope: "openid orders:read"},
		{name: "narrowed scope", change: func(r *tokenexchange.Request) { r.Scope = []string{scopeOrdersRead} },
			wantAud: appID, wantScope: scopeOrdersRead},
	}
	for _, tc := range tests {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newIRFixture(t, tc.revocation)
			change := tc.change
			if change == nil {
				change = func(*tokenexchange.Request) {}
			}
			at := f.exchangeWith(t, change)
			tok := testkit.DecodeJWT(t, at)
			n := len(f.db.Events())

			got := f.requireActive(t, via, appID, at)

			assert.Equal(t, map[string]any{
				"active":     true,
				"sub":        "bob",
				"act":        map[string]any{"sub": "alice"},
				"scope":      tc.wantScope,
				"client_id":  appID,
				"aud":        tc.wantAud,
				"iss":        testIssuer,
				"exp":        tok.Claims["exp"],
				"iat":        tok.Claims["iat"],
				"jti":        tok.Str(t, "jti"),
				"token_type": "Bearer",
				"org_id":     "acme-eu",
				"org_name":   "ACME Europe",
				"username":   "bob",
			}, got)
			assert.Equal(t, f.clock.Now().Unix(), tok.Num(t, "iat"))
			assert.Equal(t, f.clock.Now().Add(impersonation.DefaultAccessTokenTTL).Unix(), tok.Num(t, "exp"))
			assert.Len(t, f.db.Events(), n, "introspection is not audited")
		})
	}
}

// TestIntrospect_WhoMayAsk: the issuing client and a client named in the
// token's aud (a resource server registered as a client) get the token
// described; an unrelated client gets {"active":false}, recorded.
func TestIntrospect_WhoMayAsk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		client string
		active bool
	}{
		{name: "the issuing client", client: appID, active: true},
		{name: "a client in aud", client: app2ID, active: true},
		{name: "an unrelated client", client: noImpID, active: false},
	}
	for _, tc := range tests {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newIRFixture(t, true)
			f.updateClient(t, appID, func(c *store.Client) { c.Audiences = append(slices.Clone(c.Audiences), app2ID) })
			at := f.exchangeWith(t, func(r *tokenexchange.Request) { r.Audience = []string{app2ID} })
			require.Equal(t, app2ID, testkit.DecodeJWT(t, at).Str(t, "aud"))
			n := len(f.db.Events())

			if !tc.active {
				f.requireInactive(t, via, tc.client, at)
				e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventRequestRefused, store.OutcomeDenied, "introspection: inactive")
				assert.Equal(t, tc.client, e.ClientID)
				assert.Equal(t, "bob", e.Subject)
				return
			}
			got := f.requireActive(t, via, tc.client, at)
			assert.Equal(t, "bob", got["sub"])
			assert.Equal(t, appID, got["client_id"], "client_id stays the client the token was issued to")
			assert.Equal(t, app2ID, got["aud"])
			assert.Equal(t, map[string]any{"sub": "alice"}, got["act"])
			assert.Len(t, f.db.Events(), n, "an active answer is not audited")
		})
	}
}

// TestRFC7662_2_2_InactiveTokenDisclosesNothing: every token that is not
// an active access token of this issuer for the asking client is
// {"active":false} and nothing else.
func TestRFC7662_2_2_InactiveTokenDisclosesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		client string
		// token prepares the state and returns the token to introspect.
		token func(t *testing.T, f *irFixture) string
	}{
		{name: "issued to another client", client: app2ID, token: func(t *testing.T, f *irFixture) string {
			return f.accessToken(t)
		}},
		{name: "expired past exp plus skew", client: appID, token: irExpiredAccessToken},
		{name: "revoked", client: appID, token: irRevokedAccessToken},
		{name: "revoked, asked by another client", client: app2ID, token: irRevokedAccessToken},
		{name: "subject token", client: appID, token: irSubjectToken},
		{name: "ID token", client: appID, token: irIDToken},
		{name: "access token claims under typ JWT", client: appID, token: func(t *testing.T, f *irFixture) string {
			tok := testkit.DecodeJWT(t, f.accessToken(t))
			k := f.signingKey(t)
			return testkit.SignRaw(t, k, map[string]any{"alg": k.Algorithm, "kid": k.ID, "typ": "JWT"}, tok.Claims)
		}},
		{name: "access token of another issuer's key", client: appID, token: irForeignAccessToken},
		{name: "alg none", client: appID, token: irAlgNoneAccessToken},
		{name: "tampered payload", client: appID, token: func(t *testing.T, f *irFixture) string {
			parts := strings.Split(f.accessToken(t), ".")
			tok := testkit.DecodeJWT(t, strings.Join(parts, "."))
			tok.Claims["sub"] = "dave"
			return parts[0] + "." + testkit.Segment(t, tok.Claims) + "." + parts[2]
		}},
		{name: "garbage", client: appID, token: func(*testing.T, *irFixture) string { return "not-a-token" }},
		{name: "three garbage segments", client: appID, token: func(*testing.T, *irFixture) string { return "a.b.c" }},
	}
	for _, tc := range tests {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newIRFixture(t, true)
			token := tc.token(t, f)
			n := len(f.db.Events())
			f.requireInactive(t, via, tc.client, token)
			// An inactive answer is recorded, so probing leaves a trace;
			// the record never holds the token.
			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventRequestRefused, store.OutcomeDenied, "introspection: inactive")
			assert.Equal(t, tc.client, e.ClientID)
			if len(token) > 4 {
				assert.NotContains(t, e.Reason, token, "the record never holds the token")
			}
		})
	}
}

func TestIntrospect_ExpiryBoundary(t *testing.T) {
	t.Parallel()
	ttl := impersonation.DefaultAccessTokenTTL
	skew := claims.DefaultSkew
	tests := []struct {
		name       string
		advance    time.Duration
		wantActive bool
	}{
		{name: "at exp", advance: ttl, wantActive: true},
		{name: "one second before exp plus skew", advance: ttl + skew - time.Second, wantActive: true},
		{name: "at exp plus skew", advance: ttl + skew},
		{name: "a day later", advance: 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newIRFixture(t, false)
			at := f.accessToken(t)
			f.clock.Advance(tc.advance)
			if tc.wantActive {
				f.requireActive(t, viaDirect, appID, at)
				return
			}
			f.requireInactive(t, viaDirect, appID, at)
		})
	}
}

func TestIntrospect_RevocationStoreFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		token      func(t *testing.T, f *irFixture) string
		wantStatus int
	}{
		{name: "access token: temporarily_unavailable", token: func(t *testing.T, f *irFixture) string { return f.accessToken(t) },
			wantStatus: http.StatusServiceUnavailable},
		{name: "garbage needs no look-up", token: func(*testing.T, *irFixture) string { return "not-a-token" },
			wantStatus: http.StatusOK},
		{name: "subject token needs no look-up", token: func(t *testing.T, f *irFixture) string {
			st, _ := f.authorize(t, "alice", "bob")
			return st
		}, wantStatus: http.StatusOK},
	}
	for _, tc := range tests {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newIRFixture(t, true)
			token := tc.token(t, f)
			f.rev.failRevoked.Store(true)

			out := f.introspect(t, via, appID, token)

			require.Equal(t, tc.wantStatus, out.status, out.body)
			testkit.AssertNoLeak(t, out.body, "connection reset")
			if tc.wantStatus == http.StatusOK {
				assert.Equal(t, irInactive, out.body)
				return
			}
			assert.Equal(t, tokenexchange.ErrTemporarilyUnavailable.Code, out.code)
			if via == viaDirect {
				require.ErrorIs(t, out.err, tokenexchange.ErrTemporarilyUnavailable)
				require.ErrorIs(t, out.err, errIRRevocationDown, "the cause is kept for the host's logs")
			}
		})
	}
}

// TestRevoke_ImpersonatedAccessToken: revoking ends the impersonation,
// everywhere the revocation store is consulted, and once only.
func TestRevoke_ImpersonatedAccessToken(t *testing.T) {
	t.Parallel()
	runBothWays(t, "", func(t *testing.T, via string) {
		ctx := context.Background()
		f := newIRFixture(t, true)
		at := f.accessToken(t)
		jti := testkit.DecodeJWT(t, at).Str(t, "jti")
		rs := f.verifier(t, appID, resource.WithRevocation(f.db))
		_, err := rs.Verify(ctx, at)
		require.NoError(t, err)
		n := len(f.db.Events())

		want := f.aliceAsBobEvent(store.EventImpersonationEnded, store.OutcomeGranted, "openid", scopeOrdersRead)
		want.Org, want.JTI = "acme-eu", jti
		out := f.revokeRecorded(t, via, at, n, want)

		f.requireInactive(t, viaDirect, appID, at)
		f.requireInactive(t, viaHTTP, appID, at)
		_, err = rs.Verify(ctx, at)
		require.ErrorIs(t, err, resource.ErrRevoked)
		require.ErrorIs(t, err, resource.ErrInvalidToken)
		_, err = f.verifier(t, appID).Verify(ctx, at)
		require.NoError(t, err, "a verifier without the revocation store still accepts it")

		// Revoking twice: 200 again, and no second event.
		f.clock.Advance(time.Minute)
		for _, again := range bothWays {
			out = f.revoke(t, again, appID, at)
			require.Equal(t, http.StatusOK, out.status, out.body)
		}
		var ended []store.Event
		for _, e := range testkit.EventsSince(f.db.Events(), n) {
			if e.Type != store.EventRequestRefused { // the inactive introspections above
				ended = append(ended, e)
			}
		}
		assert.Len(t, ended, 1, "one impersonation.ended")
		assert.Equal(t, 1, testkit.CountEvents(f.db.Events(), store.EventImpersonationEnded))
	})
}

// TestRevoke_HeldUntilTheTokenExpires: the revocation lasts as long as a
// verifier with the service's skew could accept the token.
func TestRevoke_HeldUntilTheTokenExpires(t *testing.T) {
	t.Parallel()
	ttl := impersonation.DefaultAccessTokenTTL
	skew := claims.DefaultSkew
	tests := []struct {
		name    string
		advance time.Duration
	}{
		{name: "right away"},
		{name: "at exp", advance: ttl},
		{name: "last second within the skew", advance: ttl + skew - time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newIRFixture(t, true)
			at := f.accessToken(t)
			require.NoError(t, f.svc.Revoke(context.Background(), clientApp(), at, ""))
			f.clock.Advance(tc.advance)

			_, err := f.verifier(t, appID).Verify(context.Background(), at)
			require.NoError(t, err, "not expired yet")
			_, err = f.verifier(t, appID, resource.WithRevocation(f.db)).Verify(context.Background(), at)
			require.ErrorIs(t, err, resource.ErrRevoked)
			f.requireInactive(t, viaDirect, appID, at)
		})
	}
}

// TestRevoke_HeldForAResourceServerWithLargerSkew: a resource server may
// build its Verifier with a skew up to claims.MaxSkew; a revoked
// token must not become valid again there once the service's own skew
// has passed.
func TestRevoke_HeldForAResourceServerWithLargerSkew(t *testing.T) {
	t.Parallel()
	f := newIRFixture(t, true)
	at := f.accessToken(t)
	require.NoError(t, f.svc.Revoke(context.Background(), clientApp(), at, ""))
	f.clock.Advance(impersonation.DefaultAccessTokenTTL + claims.DefaultSkew + time.Minute)

	rs := f.verifier(t, appID, resource.WithSkew(claims.MaxSkew), resource.WithRevocation(f.db))
	_, err := rs.Verify(context.Background(), at)
	require.ErrorIs(t, err, resource.ErrInvalidToken, "revoked, or expired: never accepted again")
}

// TestRFC7009_2_1_TokenOfAnotherClientRefused: "The authorization server
// first validates the client credentials ... and then verifies whether the
// token was issued to the client making the revocation request. If this
// validation fails, the request is refused and the client is informed of
// the error" (unauthorized_client, §2.2.1); the token stays valid.
func TestRFC7009_2_1_TokenOfAnotherClientRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		subject bool // revoke the subject token instead of the access token
	}{
		{name: "access token"},
		{name: "subject token", subject: true},
	}
	for _, tc := range tests {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newIRFixture(t, true)
			st, id := f.authorize(t, "alice", "bob")
			token := st
			var at string
			if !tc.subject {
				at = f.accessToken(t)
				token = at
			}
			n := len(f.db.Events())

			out := f.revoke(t, via, app2ID, token)

			out.requireRefused(t, via, http.StatusBadRequest, tokenexchange.ErrUnauthorizedClient.Code, tokenexchange.ErrUnauthorizedClient)
			testkit.AssertNoLeak(t, out.body, token)
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n), "nothing revoked, nothing recorded")

			if tc.subject {
				resp, err := f.svc.Exchange(context.Background(), clientApp(), exchangeRequest(st, id))
				require.NoError(t, err, "the subject token is still exchangeable")
				assert.NotEmpty(t, resp.AccessToken)
				return
			}
			got := f.requireActive(t, via, appID, at)
			assert.Equal(t, "bob", got["sub"])
		})
	}
}

// TestRevoke_UnexchangedSubjectToken: revoking a subject token consumes
// it, so the exchange is then refused as a replay.
func TestRevoke_UnexchangedSubjectToken(t *testing.T) {
	t.Parallel()
	runBothWays(t, "", func(t *testing.T, via string) {
		f := newIRFixture(t, true)
		st, id := f.authorize(t, "alice", "bob")
		tok := testkit.DecodeJWT(t, st)
		n := len(f.db.Events())

		want := f.aliceAsBobEvent(store.EventTokenRevoked, store.OutcomeGranted, "openid", scopeOrdersRead)
		want.JTI = tok.Str(t, "jti")
		f.revokeRecorded(t, via, st, n, want)

		ex := f.exchangeVia(t, via, appID, exchangeRequest(st, id))
		require.Equal(t, http.StatusBadRequest, ex.status, ex.body)
		assert.Equal(t, tokenexchange.ErrInvalidRequest.Code, ex.code)
		assert.Nil(t, ex.resp)
		r := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n+1), store.EventReplayDetected, store.OutcomeDenied, "already used")
		assert.Equal(t, tok.Str(t, "jti"), r.JTI)
		assert.Zero(t, testkit.CountEvents(f.db.Events(), store.EventTokenExchanged), "nothing issued")
	})
}

// TestRevoke_SubjectTokenRecordedOnce: revoking a subject token that is
// already consumed (revoked before, or exchanged) revokes nothing and,
// like a second revocation of an access token, records nothing.
func TestRevoke_SubjectTokenRecordedOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		exchange bool
	}{
		{name: "revoked twice"},
		{name: "exchanged, then revoked", exchange: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newIRFixture(t, true)
			st, id := f.authorize(t, "alice", "bob")
			if tc.exchange {
				_, err := f.svc.Exchange(context.Background(), clientApp(), exchangeRequest(st, id))
				require.NoError(t, err)
			} else {
				require.NoError(t, f.svc.Revoke(context.Background(), clientApp(), st, ""))
			}
			n := len(f.db.Events())
			require.NoError(t, f.svc.Revoke(context.Background(), clientApp(), st, ""))
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n))
		})
	}
}

// TestRFC7009_2_2_InvalidTokenAnswered200: "invalid tokens do not cause an
// error response since the client cannot handle such an error in a
// reasonable way"; nothing is revoked or recorded.
func TestRFC7009_2_2_InvalidTokenAnswered200(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		token func(t *testing.T, f *irFixture) string
	}{
		{name: "garbage", token: func(*testing.T, *irFixture) string { return "not-a-token" }},
		{name: "three garbage segments", token: func(*testing.T, *irFixture) string { return "a.b.c" }},
		{name: "ID token", token: irIDToken},
		{name: "expired access token", token: irExpiredAccessToken},
		{name: "expired subject token", token: func(t *testing.T, f *irFixture) string {
			st, _ := f.authorize(t, "alice", "bob")
			f.clock.Advance(authorizetoken.DefaultTTL + claims.DefaultSkew + time.Second)
			return st
		}},
		{name: "access token of another issuer's key", token: irForeignAccessToken},
		{name: "subject token of another issuer's key", token: func(t *testing.T, _ *irFixture) string {
			st, _ := newFixture(t).authorize(t, "alice", "bob")
			return st
		}},
		{name: "alg none", token: irAlgNoneAccessToken},
	}
	for _, tc := range tests {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newIRFixture(t, true)
			token := tc.token(t, f)
			n := len(f.db.Events())
			out := f.revoke(t, via, appID, token)
			require.Equal(t, http.StatusOK, out.status, out.body)
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n))
		})
	}
}

func TestRevoke_WithoutRevocationStore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kind string
	}{
		{name: "access token", kind: "access"},
		{name: "subject token", kind: "subject"},
		{name: "garbage", kind: "garbage"},
	}
	for _, tc := range tests {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newIRFixture(t, false)
			st, id := f.authorize(t, "alice", "bob")
			token := map[string]string{"subject": st, "garbage": "not-a-token"}[tc.kind]
			if tc.kind == "access" {
				token = f.accessToken(t)
			}
			n := len(f.db.Events())

			out := f.revoke(t, via, appID, token)

			out.requireRefused(t, via, http.StatusBadRequest, tokenexchange.ErrUnsupportedTokenType.Code, tokenexchange.ErrUnsupportedTokenType)
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n))
			switch tc.kind {
			case "access":
				f.requireActive(t, via, appID, token)
			case "subject":
				_, err := f.svc.Exchange(context.Background(), clientApp(), exchangeRequest(st, id))
				require.NoError(t, err, "not consumed")
			}
		})
	}
}

func TestRevoke_StoreFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		subject bool
		fail    func(f *irFixture)
		recover func(f *irFixture)
		// wantRevoked: the token is revoked although the client was told
		// to retry (the revocation held, its record did not).
		wantRevoked bool
		leak        string
	}{
		{name: "revocation look-up fails",
			fail:    func(f *irFixture) { f.rev.failRevoked.Store(true) },
			recover: func(f *irFixture) { f.rev.failRevoked.Store(false) },
			leak:    "connection reset"},
		{name: "revocation write fails",
			fail:    func(f *irFixture) { f.rev.failRevoke.Store(true) },
			recover: func(f *irFixture) { f.rev.failRevoke.Store(false) },
			leak:    "connection reset"},
		{name: "audit sink fails",
			fail:        func(f *irFixture) { f.auditor.Fail.Store(true) },
			recover:     func(f *irFixture) { f.auditor.Fail.Store(false) },
			wantRevoked: true},
		{name: "one-time-use store fails for a subject token", subject: true,
			fail:    func(f *irFixture) { f.oneTime.failWith(errors.New("one-time store: timeout")) },
			recover: func(f *irFixture) { f.oneTime.failWith(nil) },
			leak:    "timeout"},
	}
	for _, tc := range tests {
		runBothWays(t, tc.name, func(t *testing.T, via string) {
			f := newIRFixture(t, true)
			st, id := f.authorize(t, "alice", "bob")
			token := st
			if !tc.subject {
				token = f.accessToken(t)
			}
			n := len(f.db.Events())
			tc.fail(f)

			out := f.revoke(t, via, appID, token)

			out.requireRefused(t, via, http.StatusServiceUnavailable, tokenexchange.ErrTemporarilyUnavailable.Code, tokenexchange.ErrTemporarilyUnavailable)
			testkit.AssertNoLeak(t, out.body, token, tc.leak)
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n))

			tc.recover(f)
			switch {
			case tc.subject:
				_, err := f.svc.Exchange(context.Background(), clientApp(), exchangeRequest(st, id))
				require.NoError(t, err, "not consumed")
			case tc.wantRevoked:
				f.requireInactive(t, via, appID, token)
			default:
				f.requireActive(t, via, appID, token)
			}
		})
	}
}

func TestIntrospectionAndRevocationEndpoints_ClientAuthentication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		auth       func(r *http.Request)
		wantStatus int
		wantCode   string
	}{
		{name: "wrong secret", auth: func(r *http.Request) { r.SetBasicAuth(appID, app2Secret) },
			wantStatus: http.StatusUnauthorized, wantCode: tokenexchange.ErrInvalidClient.Code},
		{name: "disabled client", auth: func(r *http.Request) { r.SetBasicAuth(disabledID, disabledSecret) },
			wantStatus: http.StatusUnauthorized, wantCode: tokenexchange.ErrInvalidClient.Code},
		{name: "unknown client", auth: func(r *http.Request) { r.SetBasicAuth("nobody", appSecret) },
			wantStatus: http.StatusUnauthorized, wantCode: tokenexchange.ErrInvalidClient.Code},
		{name: "no credentials", auth: func(*http.Request) {},
			wantStatus: http.StatusUnauthorized, wantCode: tokenexchange.ErrInvalidClient.Code},
	}
	for _, tc := range tests {
		for _, endpoint := range []string{"introspection", "revocation"} {
			t.Run(tc.name+"/"+endpoint, func(t *testing.T) {
				t.Parallel()
				f := newIRFixture(t, true)
				at := f.accessToken(t)
				h := f.introspection
				if endpoint == "revocation" {
					h = f.revocation
				}
				n := len(f.db.Events())
				r := httptest.NewRequest(http.MethodPost, "/oauth2/"+endpoint,
					bytes.NewReader([]byte(url.Values{"token": {at}}.Encode())))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				tc.auth(r)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)

				out := irFromHTTP(t, w)
				require.Equal(t, tc.wantStatus, out.status, out.body)
				assert.Equal(t, tc.wantCode, out.code)
				testkit.AssertNoLeak(t, out.body, at)
				assert.Empty(t, testkit.EventsSince(f.db.Events(), n))
				f.requireActive(t, viaDirect, appID, at)
			})
		}
	}
}
