package impersonation_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/tokenexchange"
)

// The OpenID Connect UserInfo endpoint (OpenID Connect Core 1.0 §5.3) of
// Service.Handlers: what it answers for the user's own and for an
// impersonated access token, and how it refuses (RFC 6750 §3), each
// refusal with its audit record.

const (
	uiPath = "/oauth2/userinfo"
	// uiOwnLogin is a login session of alice's that is not impersonating.
	uiOwnLogin = "login-alice-userinfo"
)

// errUIUsersDown is what a failing uiUsers says; it must never reach a
// client.
var errUIUsersDown = errors.New("user directory: connection refused")

// uiUsers is a hand-written store.Users over next that fails every look-up
// when told to, and answers ErrNotFound for the users removed.
type uiUsers struct {
	next store.Users
	fail atomic.Bool

	mu      sync.Mutex
	removed map[string]bool
}

var _ store.Users = (*uiUsers)(nil)

func (u *uiUsers) User(ctx context.Context, id string) (*store.User, error) {
	if u.fail.Load() {
		return nil, errUIUsersDown
	}
	u.mu.Lock()
	gone := u.removed[id]
	u.mu.Unlock()
	if gone {
		return nil, store.ErrNotFound
	}
	return u.next.User(ctx, id)
}

func (u *uiUsers) remove(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.removed == nil {
		u.removed = map[string]bool{}
	}
	u.removed[id] = true
}

// uiFixture is a fixture whose service reads users through users and
// revocations through rev (both over the fixture's memory store), has
// impersonation sessions whose tokens carry the reason (for the user's own
// tokens of Sessions.Issue, and the tokens of a session),
// records to the fixture's auditor with fallback as its fallback auditor,
// and serves its UserInfo endpoint as userinfo. Client app may ask for
// profile and email, which bob and alice hold for it.
type uiFixture struct {
	*fixture
	users    *uiUsers
	rev      *irRevocation
	fallback *memory.Store
	userinfo http.Handler
}

func newUIFixture(t testing.TB) *uiFixture {
	t.Helper()
	f := newFixture(t)
	u := &uiFixture{
		fixture:  f,
		users:    &uiUsers{next: f.db},
		rev:      &irRevocation{next: f.db},
		fallback: memory.New(memory.WithClock(f.clock.Now)),
	}
	stores := f.sessStores()
	stores.Users = u.users
	svc, err := impersonation.New(testIssuer, stores,
		impersonation.WithClock(f.clock.Now),
		impersonation.WithAuditor(f.auditor),
		impersonation.WithFallbackAuditor(u.fallback),
		impersonation.WithNotifier(f.db),
		impersonation.WithRevocationStore(u.rev),
		impersonation.WithSessions(f.db, u.rev, impersonation.SessionConfig{ReasonClaim: true}),
	)
	require.NoError(t, err)
	f.svc = svc
	e, err := svc.Handlers(context.Background(), &ahAuthenticator{user: "alice", authTime: f.clock.Now()})
	require.NoError(t, err)
	require.NotNil(t, e.UserInfo)
	u.userinfo = e.UserInfo

	f.updateClient(t, appID, func(c *store.Client) { c.Scopes = append(c.Scopes, "profile", "email") })
	require.NoError(t, f.db.PutRole(memory.Role{Name: "directory", ClientID: appID, Scopes: []string{"profile", "email"}, Users: []string{"alice", "bob"}}))
	return u
}

// impersonated runs the flow, alice as bob through app, asking at the
// authorize step for openid, orders:read, profile and email, and at the
// exchange for scope (all that was granted when empty). It returns the
// access token.
func (f *uiFixture) impersonated(t testing.TB, scope ...string) string {
	t.Helper()
	v := authorizeValues(appID, "bob")
	v.Set("scope", fullScope+" profile email")
	resp, err := f.svc.Authorize(context.Background(), f.parseAuthorize(t, v), impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
	require.NoError(t, err)
	req := exchangeRequest(resp.SubjectToken, resp.IDToken)
	req.Scope = scope
	out, err := f.svc.Exchange(context.Background(), clientApp(), req)
	require.NoError(t, err)
	return out.AccessToken
}

// own is alice's own access token for app, from an ordinary sign-in
// asking for scope.
func (f *uiFixture) own(t testing.TB, scope ...string) string {
	t.Helper()
	tok, err := f.svc.Sessions().Issue(context.Background(), impersonation.SignIn{
		LoginSession: uiOwnLogin, User: "alice", ClientID: appID, Scope: scope, AuthTime: f.clock.Now(),
	})
	require.NoError(t, err)
	require.Nil(t, tok.Session, "not impersonating")
	return tok.AccessToken
}

// mint signs an access token of the flow's shape (bob, acted for by
// alice, for app, scope openid) by hand with the fixture's key, after
// change edits its claims: for tokens the flow would never issue.
func (f *uiFixture) mint(t testing.TB, change func(c map[string]any)) string {
	t.Helper()
	now := f.clock.Now()
	c := map[string]any{
		"iss": testIssuer, "sub": "bob", "aud": appID, "azp": appID, "client_id": appID,
		"scope": "openid", "act": map[string]any{"sub": "alice"}, "aut": "APPLICATION_USER",
		"org_id": "acme-eu", "org_name": "ACME Europe",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": testkit.RandomID(),
	}
	if change != nil {
		change(c)
	}
	key := f.signingKey(t)
	return testkit.SignRaw(t, key, testkit.Header(key, "at+jwt"), c)
}

// uiRequest is one request to the UserInfo endpoint.
type uiRequest struct {
	method string
	// query is the raw URL query.
	query string
	// authorization are the Authorization header values.
	authorization []string
	contentType   string
	body          string
}

// bearer is a GET with token as Bearer credentials.
func bearer(token string) uiRequest {
	return uiRequest{method: http.MethodGet, authorization: []string{"Bearer " + token}}
}

// formPost is a POST with token as the access_token form parameter.
func formPost(token string) uiRequest {
	return uiRequest{method: http.MethodPost, contentType: "application/x-www-form-urlencoded", body: url.Values{"access_token": {token}}.Encode()}
}

func (f *uiFixture) call(t testing.TB, req uiRequest) *httptest.ResponseRecorder {
	t.Helper()
	target := uiPath
	if req.query != "" {
		target += "?" + req.query
	}
	var r *http.Request
	if req.body != "" {
		r = httptest.NewRequest(req.method, target, strings.NewReader(req.body))
	} else {
		r = httptest.NewRequest(req.method, target, nil)
	}
	for _, a := range req.authorization {
		r.Header.Add("Authorization", a)
	}
	if req.contentType != "" {
		r.Header.Set("Content-Type", req.contentType)
	}
	w := httptest.NewRecorder()
	f.userinfo.ServeHTTP(w, r)
	return w
}

// requireClaims requires a 200 JSON, uncached UserInfo response and
// returns its members.
func requireClaims(t testing.TB, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Empty(t, w.Header().Get("WWW-Authenticate"))
	var got map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	return got
}

// assertNoClaims checks that a refusal carries no claim and nothing of
// the token.
func assertNoClaims(t testing.TB, w *httptest.ResponseRecorder, token string) {
	t.Helper()
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	for _, c := range []string{`"sub"`, `"act"`, `"org_id"`, "bob", "alice"} {
		assert.NotContains(t, w.Body.String(), c, "no claims with a refusal")
	}
	testkit.AssertNoLeak(t, w.Body.String(), token)
	testkit.AssertNoLeak(t, w.Header().Get("WWW-Authenticate"), token)
}

// TestRFC6750_3_UserInfoRefusals: every way a UserInfo request is refused
// for the client's mistake, with its status and RFC 6750 §3.1 error in the
// Bearer challenge (none, and no body, when no token was sent), no claims,
// nothing of the token, and one request.refused event naming the check.
func TestRFC6750_3_UserInfoRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// request builds the request; token is what it carries, for the
		// leak check.
		request    func(t *testing.T, f *uiFixture) (req uiRequest, token string)
		wantStatus int
		// wantCode is the error attribute of the challenge; empty for the
		// bare challenge.
		wantCode   string
		wantReason string
		// wantSubject is the event's subject, once the token verified.
		wantSubject string
	}{
		{
			name:       "no token",
			request:    func(*testing.T, *uiFixture) (uiRequest, string) { return uiRequest{method: http.MethodGet}, "" },
			wantStatus: http.StatusUnauthorized, wantReason: "no access token",
		},
		{
			name: "Basic credentials are no bearer token",
			request: func(*testing.T, *uiFixture) (uiRequest, string) {
				return uiRequest{method: http.MethodGet, authorization: []string{"Basic YWxpY2U6c2VjcmV0"}}, ""
			},
			wantStatus: http.StatusUnauthorized, wantReason: "no access token",
		},
		{
			name:       "empty bearer",
			request:    func(*testing.T, *uiFixture) (uiRequest, string) { return bearer(""), "" },
			wantStatus: http.StatusUnauthorized, wantReason: "no access token",
		},
		{
			name: "POST with an empty form",
			request: func(*testing.T, *uiFixture) (uiRequest, string) {
				return uiRequest{method: http.MethodPost, contentType: "application/x-www-form-urlencoded", body: "access_token="}, ""
			},
			wantStatus: http.StatusUnauthorized, wantReason: "no access token",
		},
		{
			name: "token in the URL query",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.impersonated(t)
				return uiRequest{method: http.MethodGet, query: url.Values{"access_token": {at}}.Encode()}, at
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request", wantReason: "must not be sent in the URL",
		},
		{
			name: "token in the URL query of a POST with a valid header",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.impersonated(t)
				req := bearer(at)
				req.method, req.query = http.MethodPost, url.Values{"access_token": {at}}.Encode()
				return req, at
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request", wantReason: "must not be sent in the URL",
		},
		{
			name: "token in the header and the body",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.impersonated(t)
				req := formPost(at)
				req.authorization = []string{"Bearer " + at}
				return req, at
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request", wantReason: "one way only",
		},
		{
			name: "POST with a JSON body",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.impersonated(t)
				return uiRequest{method: http.MethodPost, contentType: "application/json", body: `{"access_token":"` + at + `"}`}, at
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request", wantReason: "Content-Type must be application/x-www-form-urlencoded",
		},
		{
			name: "POST with a form body and no Content-Type",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.impersonated(t)
				req := formPost(at)
				req.contentType = ""
				return req, at
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request", wantReason: "Content-Type must be application/x-www-form-urlencoded",
		},
		{
			name: "POST with a JSON body and a valid header",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.impersonated(t)
				return uiRequest{method: http.MethodPost, authorization: []string{"Bearer " + at}, contentType: "application/json", body: `{}`}, at
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request", wantReason: "Content-Type must be application/x-www-form-urlencoded",
		},
		{
			name: "access_token twice in the body",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.impersonated(t)
				req := formPost(at)
				req.body += "&" + req.body
				return req, at
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request", wantReason: "access_token must be given once",
		},
		{
			name: "body over the limit",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.impersonated(t)
				req := formPost(at)
				req.body += "&pad=" + strings.Repeat("a", tokenexchange.DefaultMaxBodyBytes)
				return req, at
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request", wantReason: "request body too large",
		},
		{
			name: "malformed body",
			request: func(*testing.T, *uiFixture) (uiRequest, string) {
				return uiRequest{method: http.MethodPost, contentType: "application/x-www-form-urlencoded", body: "access_token=%zz"}, ""
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request", wantReason: "malformed request body",
		},
		{
			name:       "malformed token",
			request:    func(*testing.T, *uiFixture) (uiRequest, string) { return bearer("not-a-token"), "not-a-token" },
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_token", wantReason: "malformed",
		},
		{
			name: "malformed token in the body",
			request: func(*testing.T, *uiFixture) (uiRequest, string) {
				return formPost("not.a.token"), "not.a.token"
			},
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_token", wantReason: "malformed",
		},
		{
			name: "expired",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.impersonated(t)
				f.clock.Advance(impersonation.DefaultAccessTokenTTL + time.Minute)
				return bearer(at), at
			},
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_token", wantReason: "expired",
		},
		{
			name: "revoked",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.impersonated(t)
				require.NoError(t, f.svc.Revoke(context.Background(), clientApp(), at, ""))
				return bearer(at), at
			},
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_token", wantReason: "revoked",
		},
		{
			name: "subject token as bearer",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				st, _ := f.authorize(t, "alice", "bob")
				return bearer(st), st
			},
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_token", wantReason: "typ",
		},
		{
			name: "the issuer's ID token as bearer",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				_, id := f.authorize(t, "alice", "bob")
				return bearer(id), id
			},
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_token", wantReason: "typ",
		},
		{
			name: "the ID token of an own sign-in as bearer",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				tok, err := f.svc.Sessions().Issue(context.Background(), impersonation.SignIn{
					LoginSession: uiOwnLogin, User: "alice", ClientID: appID, Scope: claims.Scope{"openid"}, AuthTime: f.clock.Now(),
				})
				require.NoError(t, err)
				require.NotEmpty(t, tok.IDToken)
				return bearer(tok.IDToken), tok.IDToken
			},
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_token", wantReason: "typ",
		},
		{
			name: "token of another issuer",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.mint(t, func(c map[string]any) { c["iss"] = "https://evil.example" })
				return bearer(at), at
			},
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_token", wantReason: "iss",
		},
		{
			name: "token signed by a key of another issuer",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				other, err := memory.GenerateKeySet(store.ES256)
				require.NoError(t, err)
				key, err := other.SigningKey(context.Background())
				require.NoError(t, err)
				at := testkit.SignRaw(t, key, testkit.Header(key, "at+jwt"), testkit.DecodeJWT(t, f.mint(t, nil)).Claims)
				return bearer(at), at
			},
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_token", wantReason: "unknown signing key",
		},
		{
			name: "token with the issuer's kid signed by another key",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				other, err := memory.GenerateKeySet(store.ES256)
				require.NoError(t, err)
				key, err := other.SigningKey(context.Background())
				require.NoError(t, err)
				at := testkit.SignRaw(t, key, testkit.Header(f.signingKey(t), "at+jwt"), testkit.DecodeJWT(t, f.mint(t, nil)).Claims)
				return bearer(at), at
			},
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_token", wantReason: "signature",
		},
		{
			name: "no openid scope",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.impersonated(t, scopeOrdersRead, "profile", "email")
				return bearer(at), at
			},
			wantStatus: http.StatusForbidden, wantCode: "insufficient_scope", wantReason: "no openid scope", wantSubject: "bob",
		},
		{
			name: "the user no longer exists",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.impersonated(t)
				f.users.remove("bob")
				return bearer(at), at
			},
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_token", wantReason: "the user no longer exists", wantSubject: "bob",
		},
		{
			name: "the user is disabled",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.impersonated(t)
				bob, err := f.db.User(context.Background(), "bob")
				require.NoError(t, err)
				disabled := *bob
				disabled.Disabled = true
				require.NoError(t, f.db.PutUser(disabled))
				return bearer(at), at
			},
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_token", wantReason: "the user is disabled", wantSubject: "bob",
		},
		{
			name: "the user's own token, user disabled",
			request: func(t *testing.T, f *uiFixture) (uiRequest, string) {
				at := f.own(t, "openid")
				alice, err := f.db.User(context.Background(), "alice")
				require.NoError(t, err)
				disabled := *alice
				disabled.Disabled = true
				require.NoError(t, f.db.PutUser(disabled))
				return formPost(at), at
			},
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_token", wantReason: "the user is disabled", wantSubject: "alice",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newUIFixture(t)
			req, token := tc.request(t, f)
			n := len(f.db.Events())
			w := f.call(t, req)

			assert.Equal(t, tc.wantStatus, w.Code, w.Body.String())
			challenge := w.Header().Get("WWW-Authenticate")
			if tc.wantCode == "" {
				assert.Equal(t, `Bearer realm="userinfo"`, challenge, "no error attribute without a token (RFC 6750 §3.1)")
				assert.Empty(t, w.Body.String(), "no error information without a token (RFC 6750 §3.1)")
			} else {
				assert.True(t, strings.HasPrefix(challenge, `Bearer realm="userinfo", error="`+tc.wantCode+`"`), "WWW-Authenticate: %q", challenge)
				var body map[string]string
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
				assert.Equal(t, tc.wantCode, body["error"])
				assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			}
			if tc.wantCode == "insufficient_scope" {
				assert.Contains(t, challenge, `scope="openid"`, "RFC 6750 §3: the scope needed")
			}
			assertNoClaims(t, w, token)

			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventRequestRefused, store.OutcomeDenied, tc.wantReason)
			assert.Equal(t, req.method, e.Method)
			assert.Equal(t, uiPath, e.Path)
			assert.Equal(t, tc.wantSubject, e.Subject)
			if tc.wantSubject != "" {
				assert.Equal(t, appID, e.ClientID, "whose token it was")
				assert.NotEmpty(t, e.JTI)
			}
			if token != "" {
				assert.NotContains(t, e.Reason, token, "the record never holds the token")
			}
		})
	}
}

// TestUserInfo_HandMintedControlIsAccepted: the token mint builds for the
// other-issuer and other-key cases is accepted as it is, so that those
// cases fail for their one change only.
func TestUserInfo_HandMintedControlIsAccepted(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	got := requireClaims(t, f.call(t, bearer(f.mint(t, nil))))
	assert.Equal(t, "bob", got["sub"])
}

// TestUserInfo_StoreFailureIs503: a key, revocation, user or audit store
// that fails is 503 temporarily_unavailable, with no challenge, no claims
// and nothing of the failure for the client, and the failure on record
// (outcome failed; in the fallback auditor when the audit store is what
// failed).
func TestUserInfo_StoreFailureIs503(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// token is the access token sent.
		token func(t *testing.T, f *uiFixture) string
		fail  func(f *uiFixture)
		// wantCause is in the failure's record.
		wantCause string
		// auditDown: the record is in the fallback auditor.
		auditDown bool
	}{
		{
			name:  "user store down",
			token: func(t *testing.T, f *uiFixture) string { return f.impersonated(t) },
			fail:  func(f *uiFixture) { f.users.fail.Store(true) }, wantCause: errUIUsersDown.Error(),
		},
		{
			name:  "revocation store down",
			token: func(t *testing.T, f *uiFixture) string { return f.impersonated(t) },
			fail:  func(f *uiFixture) { f.rev.failRevoked.Store(true) }, wantCause: errIRRevocationDown.Error(),
		},
		{
			name:  "audit store down for an impersonated token",
			token: func(t *testing.T, f *uiFixture) string { return f.impersonated(t) },
			fail:  func(f *uiFixture) { f.auditor.Fail.Store(true) }, wantCause: testkit.ErrAuditDown.Error(), auditDown: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newUIFixture(t)
			at := tc.token(t, f)
			tc.fail(f)
			n, nf := len(f.db.Events()), len(f.fallback.Events())
			w := f.call(t, bearer(at))

			assert.Equal(t, http.StatusServiceUnavailable, w.Code)
			assert.Empty(t, w.Header().Get("WWW-Authenticate"), "not a matter of the client's credentials")
			var body map[string]string
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
			assert.Equal(t, "temporarily_unavailable", body["error"])
			assert.NotContains(t, w.Body.String(), tc.wantCause)
			assertNoClaims(t, w, at)

			if tc.auditDown {
				assert.Empty(t, testkit.EventsSince(f.db.Events(), n))
				got := testkit.EventsSince(f.fallback.Events(), nf)
				require.NotEmpty(t, got, "the failure reaches the fallback auditor")
				for _, e := range got {
					assert.Equal(t, store.OutcomeFailed, e.Outcome)
					assert.Contains(t, e.Reason, tc.wantCause)
				}
				assert.Equal(t, 1, testkit.CountEvents(got, store.EventImpersonatedRequest), "the read that could not be recorded")
				return
			}
			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventRequestRefused, store.OutcomeFailed, tc.wantCause)
			assert.Contains(t, e.Reason, "temporarily_unavailable")
		})
	}
}

// TestOIDCCore_5_3_1_UserInfoMethods: GET and POST are served; any other
// method is 405 with Allow, no claims, and a request.refused event.
func TestOIDCCore_5_3_1_UserInfoMethods(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			f := newUIFixture(t)
			at := f.impersonated(t)
			n := len(f.db.Events())
			req := bearer(at)
			req.method = method
			w := f.call(t, req)

			assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
			assert.Equal(t, "GET, POST", w.Header().Get("Allow"))
			assert.Empty(t, w.Header().Get("WWW-Authenticate"), "not a matter of credentials")
			var body map[string]string
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
			assert.Equal(t, "invalid_request", body["error"])
			assertNoClaims(t, w, at)
			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventRequestRefused, store.OutcomeDenied, "accepts only GET and POST")
			assert.Equal(t, method, e.Method)
		})
	}
}

// TestUserInfo_ImpersonatedToken: with an impersonated access token the
// claims are the impersonated user's (sub bob), with act naming alice, in
// each way the token may come; each read is recorded as an
// impersonation.request.
func TestUserInfo_ImpersonatedToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		request func(token string) uiRequest
	}{
		{name: "GET, Authorization header", request: bearer},
		{name: "GET, lower-case scheme", request: func(at string) uiRequest {
			return uiRequest{method: http.MethodGet, authorization: []string{"bearer " + at}}
		}},
		{name: "POST, Authorization header, no body", request: func(at string) uiRequest {
			req := bearer(at)
			req.method = http.MethodPost
			return req
		}},
		{name: "POST, Authorization header, empty form", request: func(at string) uiRequest {
			req := bearer(at)
			req.method, req.contentType, req.body = http.MethodPost, "application/x-www-form-urlencoded", "other=1"
			return req
		}},
		{name: "POST, form body", request: formPost},
		{name: "POST, form body with charset", request: func(at string) uiRequest {
			req := formPost(at)
			req.contentType += "; charset=UTF-8"
			return req
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newUIFixture(t)
			at := f.impersonated(t, "openid", scopeOrdersRead)
			n := len(f.db.Events())
			req := tc.request(at)
			w := f.call(t, req)

			got := requireClaims(t, w)
			assert.Equal(t, map[string]any{
				"sub": "bob", "act": map[string]any{"sub": "alice"}, "org_id": "acme-eu", "org_name": "ACME Europe",
			}, got, "the impersonated user's claims, and who acts")
			testkit.AssertNoLeak(t, w.Body.String(), at)

			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonatedRequest, store.OutcomeGranted, "")
			assert.Equal(t, appID, e.ClientID)
			assert.Equal(t, "alice", e.Impersonator)
			assert.Equal(t, "bob", e.Subject)
			assert.Equal(t, "acme-eu", e.Org)
			assert.Equal(t, testkit.DecodeJWT(t, at).Str(t, "jti"), e.JTI)
			assert.Equal(t, []string{"openid", scopeOrdersRead}, e.Scopes)
			assert.Equal(t, req.method, e.Method)
			assert.Equal(t, uiPath, e.Path)
		})
	}
}

// TestUserInfo_SessionToken: a token issued under an impersonation
// session reads the user's claims like the exchanged one, and its record
// carries the impersonator's stated reason (impersonation_reason).
func TestUserInfo_SessionToken(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	sess, err := f.svc.Sessions().Start(context.Background(), sessLogin, f.impersonated(t), sessReason)
	require.NoError(t, err)
	tok, err := f.svc.Sessions().Issue(context.Background(), f.sessSignIn(appID, sessLogin))
	require.NoError(t, err)
	require.NotNil(t, tok.Session)
	require.Equal(t, sess.ID, tok.Session.ID)
	n := len(f.db.Events())

	got := requireClaims(t, f.call(t, bearer(tok.AccessToken)))
	assert.Equal(t, "bob", got["sub"])
	assert.Equal(t, map[string]any{"sub": "alice"}, got["act"])
	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonatedRequest, store.OutcomeGranted, "")
	assert.Equal(t, sessReason, e.Justification)
	assert.Equal(t, testkit.DecodeJWT(t, tok.AccessToken).Str(t, "jti"), e.JTI)

	require.NoError(t, f.svc.Sessions().End(context.Background(), sessLogin, "done"))
	assert.Equal(t, http.StatusUnauthorized, f.call(t, bearer(tok.AccessToken)).Code, "the session's end revokes its tokens")
}

// TestUserInfo_OwnToken: the user's own token gets the user's claims, no
// act, and leaves no audit event (nothing is read for another user).
func TestUserInfo_OwnToken(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	at := f.own(t, "openid")
	n := len(f.db.Events())
	for _, req := range []uiRequest{bearer(at), formPost(at)} {
		got := requireClaims(t, f.call(t, req))
		assert.Equal(t, map[string]any{"sub": "alice", "org_id": "acme", "org_name": "ACME Corp"}, got)
	}
	assert.Empty(t, testkit.EventsSince(f.db.Events(), n))
}

// TestUserInfo_TokenOfAnyAudience: the endpoint checks no audience or
// client (OpenID Connect asks none of it): a token issued for the API's
// audience, to app, is served like any other.
func TestUserInfo_TokenOfAnyAudience(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	v := authorizeValues(appID, "bob")
	resp, err := f.svc.Authorize(context.Background(), f.parseAuthorize(t, v), impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
	require.NoError(t, err)
	req := exchangeRequest(resp.SubjectToken, resp.IDToken)
	req.Audience = []string{apiAudience}
	out, err := f.svc.Exchange(context.Background(), clientApp(), req)
	require.NoError(t, err)
	require.Equal(t, apiAudience, testkit.DecodeJWT(t, out.AccessToken).Str(t, "aud"))

	got := requireClaims(t, f.call(t, bearer(out.AccessToken)))
	assert.Equal(t, "bob", got["sub"])
}

// TestOIDCCore_5_4_ScopeDecidesClaims: profile brings name and
// preferred_username, email brings email; openid alone only sub (and the
// token's organisation), for the impersonated user and for the user's own
// token alike.
func TestOIDCCore_5_4_ScopeDecidesClaims(t *testing.T) {
	t.Parallel()
	bob := map[string]any{"sub": "bob", "act": map[string]any{"sub": "alice"}, "org_id": "acme-eu", "org_name": "ACME Europe"}
	alice := map[string]any{"sub": "alice", "org_id": "acme", "org_name": "ACME Corp"}
	with := func(base map[string]any, kv ...string) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name  string
		own   bool
		scope []string
		want  map[string]any
	}{
		{name: "impersonated, openid", scope: []string{"openid"}, want: bob},
		{name: "impersonated, openid profile", scope: []string{"openid", "profile"},
			want: with(bob, "name", "Bob Buyer", "preferred_username", "bob")},
		{name: "impersonated, openid email", scope: []string{"openid", "email"},
			want: with(bob, "email", "bob@acme.example")},
		{name: "impersonated, openid profile email", scope: []string{"openid", "profile", "email"},
			want: with(bob, "name", "Bob Buyer", "preferred_username", "bob", "email", "bob@acme.example")},
		{name: "own, openid", own: true, scope: []string{"openid"}, want: alice},
		{name: "own, openid profile email", own: true, scope: []string{"openid", "profile", "email"},
			want: with(alice, "name", "Alice Admin", "preferred_username", "alice", "email", "alice@acme.example")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newUIFixture(t)
			var at string
			if tc.own {
				at = f.own(t, tc.scope...)
			} else {
				at = f.impersonated(t, tc.scope...)
			}
			require.Equal(t, strings.Join(tc.scope, " "), testkit.DecodeJWT(t, at).Str(t, "scope"), "the token carries the scope of the case")
			assert.Equal(t, tc.want, requireClaims(t, f.call(t, bearer(at))))
		})
	}
}

// TestUserInfo_ResponseDecodes: the response decodes into
// impersonation.UserInfo, act as a claims.Actor.
func TestUserInfo_ResponseDecodes(t *testing.T) {
	t.Parallel()
	f := newUIFixture(t)
	w := f.call(t, bearer(f.impersonated(t, "openid", "profile")))
	require.Equal(t, http.StatusOK, w.Code)
	var got impersonation.UserInfo
	d := json.NewDecoder(w.Body)
	d.DisallowUnknownFields()
	require.NoError(t, d.Decode(&got))
	assert.Equal(t, impersonation.UserInfo{
		Subject: "bob", Name: "Bob Buyer", PreferredUsername: "bob", OrgID: "acme-eu", OrgName: "ACME Europe",
		Act: &claims.Actor{Subject: "alice"},
	}, got)
}
