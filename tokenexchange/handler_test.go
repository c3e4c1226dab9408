package tokenexchange

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
)

const (
	testClientID     = "app"
	testSecret       = "s3cr3t-value"
	testSubjectToken = "eyJ.subject-token-value.sig"
	testActorToken   = "eyJ.actor-token-value.sig"
)

// fakeAuth is a hand-written [ClientAuthenticator]. Its failure error holds
// the submitted secret so that tests can check the secret never reaches the
// response.
type fakeAuth struct {
	clients map[string]string // client ID to secret
	err     error             // returned for every call when set

	mu    sync.Mutex
	gotID string
	gotSc string
}

var _ ClientAuthenticator = (*fakeAuth)(nil)

func newFakeAuth() *fakeAuth {
	return &fakeAuth{clients: map[string]string{testClientID: testSecret}}
}

func (a *fakeAuth) AuthenticateClient(_ context.Context, clientID, secret string) error {
	a.mu.Lock()
	a.gotID, a.gotSc = clientID, secret
	a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	want, ok := a.clients[clientID]
	if ok && subtle.ConstantTimeCompare([]byte(want), []byte(secret)) == 1 {
		return nil
	}
	return fmt.Errorf("fake: client %q does not have secret %q", clientID, secret)
}

func (a *fakeAuth) got() (id, secret string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gotID, a.gotSc
}

// callLog records the calls to a fake decision: how many, and the client
// and the arguments of the last one.
type callLog[A any] struct {
	mu     sync.Mutex
	calls  int
	client Client
	args   A
}

func (l *callLog[A]) record(client Client, args A) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	l.client, l.args = client, args
}

// count returns the number of calls.
func (l *callLog[A]) count() int {
	n, _, _ := l.called()
	return n
}

func (l *callLog[A]) called() (int, Client, A) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls, l.client, l.args
}

// fakeExchanger is a hand-written [Exchanger] that records its call and
// returns a fixed response or error.
type fakeExchanger struct {
	resp *Response
	err  error
	callLog[*Request]
}

var _ Exchanger = (*fakeExchanger)(nil)

func newFakeExchanger() *fakeExchanger {
	return &fakeExchanger{resp: &Response{
		AccessToken:     "issued.access.token",
		IssuedTokenType: TokenTypeAccessToken,
		TokenType:       BearerTokenType,
		ExpiresIn:       300,
		Scope:           claims.Scope{"openid", "orders:read"},
	}}
}

func (e *fakeExchanger) Exchange(_ context.Context, client Client, req *Request) (*Response, error) {
	e.record(client, req)
	return e.resp, e.err
}

// basicHeader encodes client credentials as RFC 6749 §2.3.1 says: each
// form-encoded, then joined by a colon and base64-encoded.
func basicHeader(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// validBody is a minimal valid token exchange body followed by extra, a raw
// encoded suffix such as "&scope=openid".
func validBody(extra string) string {
	return url.Values{
		"grant_type":         {GrantType},
		"subject_token":      {testSubjectToken},
		"subject_token_type": {TokenTypeJWT},
	}.Encode() + extra
}

// postCreds is the client_secret_post suffix of a body.
const postCreds = "&client_id=" + testClientID + "&client_secret=" + testSecret

// reqSpec describes one token request; zero fields take sensible defaults.
type reqSpec struct {
	method        string   // default POST
	target        string   // default /token
	contentType   string   // default application/x-www-form-urlencoded
	noContentType bool     // send no Content-Type at all
	authz         []string // Authorization header values
	body          string
}

func (s reqSpec) build() *http.Request {
	method := s.method
	if method == "" {
		method = http.MethodPost
	}
	target := s.target
	if target == "" {
		target = "/token"
	}
	r := httptest.NewRequest(method, target, strings.NewReader(s.body))
	switch {
	case s.noContentType:
	case s.contentType != "":
		r.Header.Set("Content-Type", s.contentType)
	default:
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, a := range s.authz {
		r.Header.Add("Authorization", a)
	}
	return r
}

// basicSpec is a valid request authenticated with client_secret_basic.
func basicSpec(extra string) reqSpec {
	return reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: validBody(extra)}
}

func newTestHandler(t testing.TB, auth ClientAuthenticator, ex Exchanger, opts ...Option) http.Handler {
	t.Helper()
	return requireHandler(t)(NewHandler(auth, ex, opts...))
}

// serve sends the request spec describes to h and returns the response.
func serve(h http.Handler, spec reqSpec) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, spec.build())
	return rec
}

// assertNoStoreJSON checks the headers every JSON response of the endpoints
// carries (RFC 6749 §5.1).
func assertNoStoreJSON(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "no-cache", rec.Header().Get("Pragma"))
}

// assertChallenge checks that the response challenges for Basic
// credentials when challenge is set, and holds no challenge otherwise.
func assertChallenge(t testing.TB, rec *httptest.ResponseRecorder, challenge bool) {
	t.Helper()
	if challenge {
		assert.Equal(t, `Basic realm="token"`, rec.Header().Get("WWW-Authenticate"))
	} else {
		assert.Empty(t, rec.Header().Values("WWW-Authenticate"))
	}
}

// assertAllow checks that the response names POST in Allow when allow is
// set, and has no Allow header otherwise.
func assertAllow(t testing.TB, rec *httptest.ResponseRecorder, allow bool) {
	t.Helper()
	if allow {
		assert.Equal(t, http.MethodPost, rec.Header().Get("Allow"))
	} else {
		assert.Empty(t, rec.Header().Get("Allow"))
	}
}

// assertErrorResponse checks the status, the error members and the headers
// every error response must carry.
func assertErrorResponse(t testing.TB, rec *httptest.ResponseRecorder, status int, code, desc string, challenge bool) {
	t.Helper()
	assert.Equal(t, status, rec.Code)
	assertNoStoreJSON(t, rec)
	assertChallenge(t, rec, challenge)
	body := decodeError(t, rec)
	assert.Equal(t, code, body["error"])
	if desc != "" {
		assert.Equal(t, desc, body["error_description"])
	}
}

// runConstructorTests checks an endpoint constructor newEP, called with
// fake as its decision (Exchanger, Introspector or Revoker, as decision
// names it) or with none.
func runConstructorTests[D any](t *testing.T, decision string, newEP func(ClientAuthenticator, D, ...Option) (http.Handler, error), fake D) {
	t.Helper()
	var none D
	tests := []struct {
		name     string
		auth     ClientAuthenticator
		decision D
		opts     []Option
		wantErr  string
	}{
		{name: "defaults", auth: newFakeAuth(), decision: fake},
		{name: "all options", auth: newFakeAuth(), decision: fake, opts: []Option{
			WithMaxBodyBytes(1024), WithErrorObserver(func(*http.Request, string, error) {}),
		}},
		{name: "nil observer is no observer", auth: newFakeAuth(), decision: fake, opts: []Option{WithErrorObserver(nil)}},
		{name: "nil authenticator", decision: fake, wantErr: "tokenexchange: nil ClientAuthenticator"},
		{name: "nil " + strings.ToLower(decision), auth: newFakeAuth(), decision: none, wantErr: "tokenexchange: nil " + decision},
		{name: "zero body limit", auth: newFakeAuth(), decision: fake, opts: []Option{WithMaxBodyBytes(0)}, wantErr: "tokenexchange: WithMaxBodyBytes: limit must be positive"},
		{name: "negative body limit", auth: newFakeAuth(), decision: fake, opts: []Option{WithMaxBodyBytes(-1)}, wantErr: "tokenexchange: WithMaxBodyBytes: limit must be positive"},
		{name: "nil option", auth: newFakeAuth(), decision: fake, opts: []Option{nil}, wantErr: "tokenexchange: nil Option"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, err := newEP(tc.auth, tc.decision, tc.opts...)
			assertConstructed(t, h, err, tc.wantErr)
		})
	}
}

// requireHandler returns a function that returns the handler an endpoint
// constructor returns, and fails t if the constructor fails.
func requireHandler(t testing.TB) func(http.Handler, error) http.Handler {
	t.Helper()
	return func(h http.Handler, err error) http.Handler {
		t.Helper()
		require.NoError(t, err)
		return h
	}
}

// assertConstructed checks the result of an endpoint constructor: the error
// wantErr and no handler, or a handler when wantErr is empty.
func assertConstructed(t testing.TB, h http.Handler, err error, wantErr string) {
	t.Helper()
	if wantErr != "" {
		require.EqualError(t, err, wantErr)
		assert.Nil(t, h)
		return
	}
	require.NoError(t, err)
	assert.NotNil(t, h)
}

func TestNewHandler(t *testing.T) {
	t.Parallel()
	runConstructorTests[Exchanger](t, "Exchanger", NewHandler, newFakeExchanger())
}

func TestHandlerSuccess(t *testing.T) {
	t.Parallel()
	fullBody := url.Values{
		"grant_type":           {GrantType},
		"subject_token":        {testSubjectToken},
		"subject_token_type":   {TokenTypeJWT},
		"actor_token":          {testActorToken},
		"actor_token_type":     {TokenTypeIDToken},
		"resource":             {"https://api.example.com/orders", "https://api.example.com/billing"},
		"audience":             {"orders", "billing"},
		"scope":                {"openid orders:read"},
		"requested_token_type": {TokenTypeAccessToken},
	}.Encode()
	tests := []struct {
		name       string
		spec       reqSpec
		wantClient Client
		wantReq    *Request
	}{
		{
			name:       "basic",
			spec:       basicSpec(""),
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodBasic},
			wantReq:    &Request{GrantType: GrantType, SubjectToken: testSubjectToken, SubjectTokenType: TokenTypeJWT},
		},
		{
			name:       "post",
			spec:       reqSpec{body: validBody(postCreds)},
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodPost},
			wantReq:    &Request{GrantType: GrantType, SubjectToken: testSubjectToken, SubjectTokenType: TokenTypeJWT},
		},
		{
			name:       "basic with matching client_id in body",
			spec:       reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: validBody("&client_id=" + testClientID)},
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodBasic},
			wantReq:    &Request{GrantType: GrantType, SubjectToken: testSubjectToken, SubjectTokenType: TokenTypeJWT},
		},
		{
			name:       "lowercase basic scheme",
			spec:       reqSpec{authz: []string{"basic " + strings.TrimPrefix(basicHeader(testClientID, testSecret), "Basic ")}, body: validBody("")},
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodBasic},
			wantReq:    &Request{GrantType: GrantType, SubjectToken: testSubjectToken, SubjectTokenType: TokenTypeJWT},
		},
		{
			name:       "content type with charset",
			spec:       reqSpec{contentType: "application/x-www-form-urlencoded; charset=UTF-8", body: validBody(postCreds)},
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodPost},
			wantReq:    &Request{GrantType: GrantType, SubjectToken: testSubjectToken, SubjectTokenType: TokenTypeJWT},
		},
		{
			name:       "unrelated query parameter ignored",
			spec:       reqSpec{target: "/token?tenant=acme", body: validBody(postCreds)},
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodPost},
			wantReq:    &Request{GrantType: GrantType, SubjectToken: testSubjectToken, SubjectTokenType: TokenTypeJWT},
		},
		{
			name:       "all parameters",
			spec:       reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: fullBody},
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodBasic},
			wantReq: &Request{
				GrantType:          GrantType,
				SubjectToken:       testSubjectToken,
				SubjectTokenType:   TokenTypeJWT,
				ActorToken:         testActorToken,
				ActorTokenType:     TokenTypeIDToken,
				Resource:           []string{"https://api.example.com/orders", "https://api.example.com/billing"},
				Audience:           []string{"orders", "billing"},
				Scope:              claims.Scope{"openid", "orders:read"},
				RequestedTokenType: TokenTypeAccessToken,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex := newFakeExchanger()
			h := newTestHandler(t, newFakeAuth(), ex)
			rec := serve(h, tc.spec)

			require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body.String())
			calls, client, req := ex.called()
			require.Equal(t, 1, calls)
			assert.Equal(t, tc.wantClient, client)
			assert.Equal(t, tc.wantReq, req)
			assertNoStoreJSON(t, rec)
			assertChallenge(t, rec, false)
			assert.JSONEq(t, `{
				"access_token": "issued.access.token",
				"issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
				"token_type": "Bearer",
				"expires_in": 300,
				"scope": "openid orders:read"
			}`, rec.Body.String())
		})
	}
}

func TestHandlerRejects(t *testing.T) {
	t.Parallel()
	tooBig := validBody("&pad=" + strings.Repeat("a", DefaultMaxBodyBytes))
	tests := []rejectCase{
		// 1. method
		{name: "GET", spec: reqSpec{method: http.MethodGet}, wantStatus: 405, wantCode: "invalid_request", wantDesc: "the token endpoint accepts only POST", wantAllow: true},
		{name: "PUT with valid body", spec: reqSpec{method: http.MethodPut, authz: []string{basicHeader(testClientID, testSecret)}, body: validBody("")}, wantStatus: 405, wantCode: "invalid_request", wantAllow: true},

		// 2. content type
		{name: "no content type", spec: reqSpec{noContentType: true, body: validBody(postCreds)}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "Content-Type must be application/x-www-form-urlencoded"},
		{name: "json content type", spec: reqSpec{contentType: "application/json", body: `{"grant_type":"x"}`}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "Content-Type must be application/x-www-form-urlencoded"},
		{name: "multipart content type", spec: reqSpec{contentType: "multipart/form-data; boundary=x", body: validBody(postCreds)}, wantStatus: 400, wantCode: "invalid_request"},
		{name: "malformed content type", spec: reqSpec{contentType: "application/x-www-form-urlencoded; charset", body: validBody(postCreds)}, wantStatus: 400, wantCode: "invalid_request"},

		// 3. body
		{name: "body over the limit", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: tooBig}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "request body too large"},
		{name: "malformed percent encoding", spec: reqSpec{body: validBody(postCreds + "&x=%zz")}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "malformed request body"},
		{name: "semicolon separator", spec: reqSpec{body: validBody(postCreds + ";x=y")}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "malformed request body"},
		{name: "grant_type in query", spec: reqSpec{target: "/token?grant_type=" + url.QueryEscape(GrantType), body: validBody(postCreds)}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter not allowed in the URL query: grant_type"},
		{name: "subject_token in query", spec: reqSpec{target: "/token?subject_token=x", body: validBody(postCreds)}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter not allowed in the URL query: subject_token"},
		{name: "resource in query", spec: reqSpec{target: "/token?resource=https://a.example.com", body: validBody(postCreds)}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter not allowed in the URL query: resource"},

		// 4. repeated parameters
		{name: "repeated grant_type", spec: basicSpec("&grant_type=" + url.QueryEscape(GrantType)), wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter given more than once: grant_type"},
		{name: "repeated subject_token", spec: basicSpec("&subject_token=other"), wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter given more than once: subject_token"},
		{name: "repeated client_id", spec: reqSpec{body: validBody(postCreds + "&client_id=other")}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter given more than once: client_id"},
		{name: "repeated client_secret", spec: reqSpec{body: validBody(postCreds + "&client_secret=other")}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter given more than once: client_secret"},
		{name: "repeats checked before authentication", spec: reqSpec{body: validBody("&scope=a&scope=b")}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter given more than once: scope"},

		// 5. client authentication
		{name: "basic and post", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: validBody(postCreds)}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "more than one client authentication method"},
		{name: "two authorization headers", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret), basicHeader(testClientID, testSecret)}, body: validBody("")}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "more than one Authorization header"},
		{name: "no authentication", spec: reqSpec{body: validBody("")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication required"},
		{name: "client_id alone", spec: reqSpec{body: validBody("&client_id=" + testClientID)}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication required"},
		{name: "empty client_secret", spec: reqSpec{body: validBody("&client_id=" + testClientID + "&client_secret=")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication required"},
		{name: "client_secret without client_id", spec: reqSpec{body: validBody("&client_secret=" + testSecret)}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client_id is required with client_secret"},
		{name: "basic bad base64", spec: reqSpec{authz: []string{"Basic !!!"}, body: validBody("")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "malformed Basic credentials", wantChallenge: true},
		{name: "basic no colon", spec: reqSpec{authz: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("app"))}, body: validBody("")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "malformed Basic credentials", wantChallenge: true},
		{name: "basic bad percent encoding", spec: reqSpec{authz: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("app%zz:secret"))}, body: validBody("")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "malformed Basic credentials", wantChallenge: true},
		{name: "basic empty secret", spec: reqSpec{authz: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("app:"))}, body: validBody("")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "malformed Basic credentials", wantChallenge: true},
		{name: "basic empty id", spec: reqSpec{authz: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(":secret"))}, body: validBody("")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "malformed Basic credentials", wantChallenge: true},
		{name: "empty authorization header", spec: reqSpec{authz: []string{""}, body: validBody("")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "malformed Basic credentials", wantChallenge: true},
		{name: "bearer scheme", spec: reqSpec{authz: []string{"Bearer abc"}, body: validBody("")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "malformed Basic credentials", wantChallenge: true},
		{name: "client_id differs from basic", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: validBody("&client_id=other")}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "client_id does not match the Authorization header"},
		{name: "basic wrong secret", spec: reqSpec{authz: []string{basicHeader(testClientID, "wrong")}, body: validBody("")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed", wantChallenge: true},
		{name: "basic unknown client", spec: reqSpec{authz: []string{basicHeader("nobody", testSecret)}, body: validBody("")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed", wantChallenge: true},
		{name: "post wrong secret", spec: reqSpec{body: validBody("&client_id=" + testClientID + "&client_secret=wrong")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed"},
		{name: "authentication before grant checks", spec: reqSpec{body: "grant_type=password"}, wantStatus: 401, wantCode: "invalid_client"},

		// 6. request syntax
		{name: "grant_type missing", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: "subject_token=x&subject_token_type=" + url.QueryEscape(TokenTypeJWT)}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "grant_type is required"},
		{name: "grant_type password", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: "grant_type=password&username=a&password=b"}, wantStatus: 400, wantCode: "unsupported_grant_type"},
		{name: "subject_token missing", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: "grant_type=" + url.QueryEscape(GrantType) + "&subject_token_type=" + url.QueryEscape(TokenTypeJWT)}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "subject_token is required"},
		{name: "subject_token_type missing", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: "grant_type=" + url.QueryEscape(GrantType) + "&subject_token=x"}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "subject_token_type is required"},
		{name: "actor_token without type", spec: basicSpec("&actor_token=x"), wantStatus: 400, wantCode: "invalid_request", wantDesc: "actor_token_type is required with actor_token"},
		{name: "actor_token_type without token", spec: basicSpec("&actor_token_type=" + url.QueryEscape(TokenTypeIDToken)), wantStatus: 400, wantCode: "invalid_request", wantDesc: "actor_token_type must not be sent without actor_token"},
		{name: "relative token type", spec: basicSpec("&requested_token_type=jwt"), wantStatus: 400, wantCode: "invalid_request", wantDesc: "requested_token_type must be an absolute URI"},
		{name: "relative resource", spec: basicSpec("&resource=/orders"), wantStatus: 400, wantCode: "invalid_target", wantDesc: "resource must be an absolute URI without a fragment"},
		{name: "resource with fragment", spec: basicSpec("&resource=" + url.QueryEscape("https://a.example.com/#x")), wantStatus: 400, wantCode: "invalid_target"},
		{name: "scope with control character", spec: basicSpec("&scope=openid%0Aprofile"), wantStatus: 400, wantCode: "invalid_scope"},
	}
	runRejectCases(t, tokenTestEndpoint, tests, nil)
}

func TestWithMaxBodyBytes(t *testing.T) {
	t.Parallel()
	runMaxBodyCases(t, tokenTestEndpoint)
}

func TestHandlerAuthenticatorErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		authErr       error
		spec          reqSpec
		wantStatus    int
		wantCode      string
		wantDesc      string
		wantChallenge bool
	}{
		{name: "plain error basic", authErr: errors.New("no such client"), spec: basicSpec(""), wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed", wantChallenge: true},
		{name: "plain error post", authErr: errors.New("no such client"), spec: reqSpec{body: validBody(postCreds)}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed"},
		{name: "invalid_client description replaced", authErr: ErrInvalidClient.WithDescription("client app is disabled"), spec: basicSpec(""), wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed", wantChallenge: true},
		{name: "other Error code is invalid_client", authErr: ErrInvalidGrant, spec: reqSpec{body: validBody(postCreds)}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed"},
		{name: "temporarily_unavailable passes through", authErr: ErrTemporarilyUnavailable.WithDescription("client store unavailable"), spec: basicSpec(""), wantStatus: 503, wantCode: "temporarily_unavailable", wantDesc: "client store unavailable"},
		{name: "wrapped temporarily_unavailable passes through", authErr: fmt.Errorf("store: %w", ErrTemporarilyUnavailable), spec: reqSpec{body: validBody(postCreds)}, wantStatus: 503, wantCode: "temporarily_unavailable"},
		{name: "server_error passes through", authErr: ErrServerError.WithDescription("try later").WithCause(errors.New("redis: timeout")), spec: basicSpec(""), wantStatus: 500, wantCode: "server_error", wantDesc: "try later"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex := newFakeExchanger()
			auth := newFakeAuth()
			auth.err = tc.authErr
			h := newTestHandler(t, auth, ex)
			rec := serve(h, tc.spec)

			assertErrorResponse(t, rec, tc.wantStatus, tc.wantCode, tc.wantDesc, tc.wantChallenge)
			assert.NotContains(t, rec.Body.String(), "redis")
			assert.Zero(t, ex.count())
		})
	}
}

func TestHandlerExchangerErrors(t *testing.T) {
	t.Parallel()
	tests := []decisionErrorCase[*Response]{
		{name: "plain error", err: errors.New("pq: relation grants does not exist"), spec: basicSpec(""), wantStatus: 500, wantCode: "server_error", wantDesc: "internal error"},
		{name: "invalid_scope with description", err: ErrInvalidScope.WithDescription("scope exceeds the grant"), spec: basicSpec(""), wantStatus: 400, wantCode: "invalid_scope", wantDesc: "scope exceeds the grant"},
		{name: "wrapped invalid_grant", err: fmt.Errorf("verify: %w", ErrInvalidGrant.WithDescription("subject token expired")), spec: basicSpec(""), wantStatus: 400, wantCode: "invalid_grant", wantDesc: "subject token expired"},
		{name: "invalid_target", err: ErrInvalidTarget, spec: basicSpec(""), wantStatus: 400, wantCode: "invalid_target"},
		{name: "unauthorized_client", err: ErrUnauthorizedClient, spec: basicSpec(""), wantStatus: 400, wantCode: "unauthorized_client"},
		{name: "invalid_client after basic challenges", err: ErrInvalidClient, spec: basicSpec(""), wantStatus: 401, wantCode: "invalid_client", wantChallenge: true},
		{name: "invalid_client after post", err: ErrInvalidClient, spec: reqSpec{body: validBody(postCreds)}, wantStatus: 401, wantCode: "invalid_client"},
		{name: "temporarily_unavailable", err: ErrTemporarilyUnavailable, spec: basicSpec(""), wantStatus: 503, wantCode: "temporarily_unavailable"},
		{name: "response and error", resp: &Response{AccessToken: "x", IssuedTokenType: TokenTypeJWT, TokenType: "N_A"}, err: ErrInvalidGrant, spec: basicSpec(""), wantStatus: 400, wantCode: "invalid_grant"},
		{name: "nil response and nil error", spec: basicSpec(""), wantStatus: 500, wantCode: "server_error", wantDesc: "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex := &fakeExchanger{resp: tc.resp, err: tc.err}
			h := newTestHandler(t, newFakeAuth(), ex)
			rec := serve(h, tc.spec)

			assertErrorResponse(t, rec, tc.wantStatus, tc.wantCode, tc.wantDesc, tc.wantChallenge)
			assert.NotContains(t, rec.Body.String(), "pq:")
			assert.NotContains(t, rec.Body.String(), `"access_token"`)
		})
	}
}

// RFC 8693 §2.2.1: access_token, issued_token_type and token_type are
// REQUIRED; the handler refuses to send a response without them.
func TestRFC8693_2_2_1_ResponseRequiredMembers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp *Response
	}{
		{name: "no access_token", resp: &Response{IssuedTokenType: TokenTypeAccessToken, TokenType: BearerTokenType}},
		{name: "no issued_token_type", resp: &Response{AccessToken: "at", TokenType: BearerTokenType}},
		{name: "no token_type", resp: &Response{AccessToken: "at", IssuedTokenType: TokenTypeAccessToken}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var observed error
			h := newTestHandler(t, newFakeAuth(), &fakeExchanger{resp: tc.resp},
				WithErrorObserver(func(_ *http.Request, _ string, err error) { observed = err }))
			rec := serve(h, basicSpec(""))

			assertErrorResponse(t, rec, 500, "server_error", "internal error", false)
			assert.NotContains(t, rec.Body.String(), "access_token")
			require.ErrorIs(t, observed, ErrServerError)
			assert.ErrorIs(t, observed, errIncompleteResponse)
		})
	}
}

func TestHandlerErrorBodyNeverLeaksSecrets(t *testing.T) {
	t.Parallel()
	const internal = "dial tcp 10.1.2.3:5432: connection refused"
	tests := []struct {
		name    string
		authErr error
		exErr   error
		spec    reqSpec
	}{
		{name: "wrong secret basic", spec: reqSpec{authz: []string{basicHeader(testClientID, "wrong-"+testSecret)}, body: validBody("")}},
		{name: "wrong secret post", spec: reqSpec{body: validBody("&client_id=" + testClientID + "&client_secret=wrong-" + testSecret)}},
		{name: "authenticator internal error", authErr: errors.New(internal), spec: basicSpec("")},
		{name: "authenticator server_error with cause", authErr: ErrServerError.WithCause(errors.New(internal)), spec: basicSpec("")},
		{name: "exchanger internal error", exErr: fmt.Errorf("token %s: %s", testSubjectToken, internal), spec: basicSpec("")},
		{name: "exchanger Error with cause", exErr: ErrInvalidGrant.WithDescription("subject token rejected").WithCause(errors.New(internal + " " + testSubjectToken)), spec: basicSpec("")},
		{name: "repeated subject_token", spec: basicSpec("&subject_token=" + testSubjectToken)},
		{name: "bad subject_token_type", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: "grant_type=" + url.QueryEscape(GrantType) + "&subject_token=" + testSubjectToken + "&subject_token_type=" + testSecret}},
		{name: "secret in query", spec: reqSpec{target: "/token?client_secret=" + testSecret, body: validBody(postCreds)}},
		{name: "repeated unknown parameter name", spec: reqSpec{body: validBody("&" + testSecret + "=1&" + testSecret + "=2")}},
		{name: "malformed body", spec: reqSpec{body: validBody(postCreds + "&%zz" + testSecret)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			auth := newFakeAuth()
			auth.err = tc.authErr
			ex := newFakeExchanger()
			ex.err = tc.exErr
			h := newTestHandler(t, auth, ex)
			rec := serve(h, tc.spec)

			require.GreaterOrEqual(t, rec.Code, 400)
			body := rec.Body.String()
			for _, secret := range []string{testSecret, testSubjectToken, "10.1.2.3", "connection refused"} {
				assert.NotContains(t, body, secret)
			}
			for k, vs := range rec.Header() {
				for _, v := range vs {
					assert.NotContains(t, v, testSecret, "header %s", k)
					assert.NotContains(t, v, testSubjectToken, "header %s", k)
				}
			}
		})
	}
}

func TestHandlerErrorObserver(t *testing.T) {
	t.Parallel()
	authFailure := errors.New("fake: secret mismatch")
	exFailure := errors.New("store: down")
	tests := []struct {
		name       string
		authErr    error
		exErr      error
		spec       reqSpec
		wantCalled bool
		wantID     string
		wantIs     []error
	}{
		{name: "success is not observed", spec: basicSpec("")},
		{name: "wrong method", spec: reqSpec{method: http.MethodGet}, wantCalled: true, wantIs: []error{ErrInvalidRequest}},
		{name: "body too large", spec: reqSpec{body: validBody("&pad=" + strings.Repeat("a", DefaultMaxBodyBytes))}, wantCalled: true, wantIs: []error{ErrInvalidRequest}},
		{name: "no client", spec: reqSpec{body: validBody("")}, wantCalled: true, wantIs: []error{ErrInvalidClient}},
		{name: "failed basic carries claimed id and cause", authErr: authFailure, spec: basicSpec(""), wantCalled: true, wantID: testClientID, wantIs: []error{ErrInvalidClient, authFailure}},
		{name: "failed post carries claimed id", authErr: authFailure, spec: reqSpec{body: validBody(postCreds)}, wantCalled: true, wantID: testClientID, wantIs: []error{ErrInvalidClient, authFailure}},
		{name: "syntax error after authentication", spec: basicSpec("&resource=x"), wantCalled: true, wantID: testClientID, wantIs: []error{ErrInvalidTarget}},
		{name: "exchanger error is passed whole", exErr: fmt.Errorf("exchange: %w", exFailure), spec: basicSpec(""), wantCalled: true, wantID: testClientID, wantIs: []error{exFailure}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				called bool
				gotID  string
				gotErr error
				gotReq *http.Request
			)
			auth := newFakeAuth()
			auth.err = tc.authErr
			ex := newFakeExchanger()
			ex.err = tc.exErr
			h := newTestHandler(t, auth, ex, WithErrorObserver(func(r *http.Request, clientID string, err error) {
				called, gotReq, gotID, gotErr = true, r, clientID, err
			}))
			req := tc.spec.build()
			h.ServeHTTP(httptest.NewRecorder(), req)

			require.Equal(t, tc.wantCalled, called)
			if !tc.wantCalled {
				return
			}
			assert.Same(t, req, gotReq)
			assert.Equal(t, tc.wantID, gotID)
			for _, target := range tc.wantIs {
				assert.ErrorIs(t, gotErr, target)
			}
		})
	}
}

// RFC 6749 §3.2: "The client MUST use the HTTP "POST" method when making
// access token requests"; RFC 8693 §2.1 says the same.
func TestRFC6749_3_2_TokenRequestMustUsePOST(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			h := newTestHandler(t, newFakeAuth(), newFakeExchanger())
			rec := serve(h, reqSpec{method: method, authz: []string{basicHeader(testClientID, testSecret)}, body: validBody("")})
			assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
			assert.Equal(t, http.MethodPost, rec.Header().Get("Allow"))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
		})
	}
}

// RFC 6749 §3.2: "The authorization server MUST ignore unrecognized request
// parameters."
func TestRFC6749_3_2_UnrecognizedParametersIgnored(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		extra string
	}{
		{name: "single", extra: "&foo=bar"},
		{name: "repeated", extra: "&foo=1&foo=2"},
		{name: "odd name", extra: "&" + url.QueryEscape(`<script>"x"`) + "=1"},
		{name: "other grant's parameters", extra: "&username=a&password=b&code=c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex := newFakeExchanger()
			h := newTestHandler(t, newFakeAuth(), ex)
			rec := serve(h, basicSpec(tc.extra))
			assert.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body.String())
			_, _, req := ex.called()
			assert.Equal(t, &Request{GrantType: GrantType, SubjectToken: testSubjectToken, SubjectTokenType: TokenTypeJWT}, req)
		})
	}
}

// RFC 6749 §2.3.1: the client identifier and password are encoded with the
// application/x-www-form-urlencoded algorithm before HTTP Basic encoding,
// and the server decodes them the same way.
func TestRFC6749_2_3_1_BasicCredentialsAreFormEncoded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		header     string
		wantID     string
		wantSecret string
	}{
		{
			name:       "colon and percent in id, plus and space in secret",
			header:     "Basic " + base64.StdEncoding.EncodeToString([]byte("my%3Aclient%2542:p%2Bss+word")),
			wantID:     "my:client%42",
			wantSecret: "p+ss word",
		},
		{
			name:       "space encoded as %20",
			header:     "Basic " + base64.StdEncoding.EncodeToString([]byte("a%20b:c%20d")),
			wantID:     "a b",
			wantSecret: "c d",
		},
		{
			name:       "colon in secret after the first colon",
			header:     "Basic " + base64.StdEncoding.EncodeToString([]byte("app:x:y")),
			wantID:     "app",
			wantSecret: "x:y",
		},
		{
			name:       "non-ASCII",
			header:     basicHeader("clïent", "sécret"),
			wantID:     "clïent",
			wantSecret: "sécret",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			auth := &fakeAuth{clients: map[string]string{tc.wantID: tc.wantSecret}}
			ex := newFakeExchanger()
			h := newTestHandler(t, auth, ex)
			rec := serve(h, reqSpec{authz: []string{tc.header}, body: validBody("")})

			require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body.String())
			gotID, gotSecret := auth.got()
			assert.Equal(t, tc.wantID, gotID)
			assert.Equal(t, tc.wantSecret, gotSecret)
			_, client, _ := ex.called()
			assert.Equal(t, Client{ID: tc.wantID, AuthMethod: AuthMethodBasic}, client)
		})
	}
}

// RFC 6749 §2.3.1: client credentials "MUST NOT be included in the request
// URI". The handler refuses every token request parameter there.
func TestRFC6749_2_3_1_CredentialsNotInRequestURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		target   string
		body     string
		wantDesc string
	}{
		{name: "both in query", target: "/token?client_id=app&client_secret=" + testSecret, body: validBody(""), wantDesc: "parameter not allowed in the URL query: client_id"},
		{name: "secret in query, id in body", target: "/token?client_secret=" + testSecret, body: validBody("&client_id=app"), wantDesc: "parameter not allowed in the URL query: client_secret"},
		{name: "duplicated in query and body", target: "/token?client_secret=" + testSecret, body: validBody(postCreds), wantDesc: "parameter not allowed in the URL query: client_secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			auth := newFakeAuth()
			h := newTestHandler(t, auth, newFakeExchanger())
			rec := serve(h, reqSpec{target: tc.target, body: tc.body})
			assertErrorResponse(t, rec, http.StatusBadRequest, "invalid_request", tc.wantDesc, false)
			gotID, _ := auth.got()
			assert.Empty(t, gotID, "the authenticator must not be called")
		})
	}
}

// RFC 6749 §2.3: "The client MUST NOT use more than one authentication
// method in each request."
func TestRFC6749_2_3_OneAuthenticationMethodPerRequest(t *testing.T) {
	t.Parallel()
	const desc = "more than one client authentication method"
	basic := []string{basicHeader(testClientID, testSecret)}
	tests := []rejectCase{
		{name: "same credentials both ways", spec: reqSpec{authz: basic, body: validBody(postCreds)}, wantDesc: desc},
		{name: "secret alone in body", spec: reqSpec{authz: basic, body: validBody("&client_secret=" + testSecret)}, wantDesc: desc},
	}
	runRejectCases(t, tokenTestEndpoint, withStatus(tests, http.StatusBadRequest, "invalid_request"), nil)
}

// RFC 6749 §5.2: if the client authenticated with the Authorization header,
// a failure MUST be a 401 with a WWW-Authenticate header for that scheme.
// Without the header, there is no challenge.
func TestRFC6749_5_2_InvalidClientChallengesOnlyAuthorizationHeader(t *testing.T) {
	t.Parallel()
	tests := []rejectCase{
		{name: "basic wrong secret", spec: reqSpec{authz: []string{basicHeader(testClientID, "nope")}, body: validBody("")}, wantChallenge: true},
		{name: "basic malformed", spec: reqSpec{authz: []string{"Basic %%%"}, body: validBody("")}, wantChallenge: true},
		{name: "post wrong secret", spec: reqSpec{body: validBody("&client_id=app&client_secret=nope")}},
		{name: "no credentials", spec: reqSpec{body: validBody("")}},
	}
	runUnauthenticatedCases(t, tokenTestEndpoint, tests)
}

// RFC 6749 §5.1: Cache-Control: no-store and Pragma: no-cache on every
// response that holds tokens or credentials; the handler sets them on all.
func TestRFC6749_5_1_EveryResponseIsNoStore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		exErr      error
		spec       reqSpec
		wantStatus int
	}{
		{name: "success", spec: basicSpec(""), wantStatus: 200},
		{name: "method", spec: reqSpec{method: http.MethodGet}, wantStatus: 405},
		{name: "invalid_request", spec: reqSpec{noContentType: true}, wantStatus: 400},
		{name: "invalid_client", spec: reqSpec{body: validBody("")}, wantStatus: 401},
		{name: "server_error", exErr: errors.New("x"), spec: basicSpec(""), wantStatus: 500},
		{name: "temporarily_unavailable", exErr: ErrTemporarilyUnavailable, spec: basicSpec(""), wantStatus: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex := newFakeExchanger()
			ex.err = tc.exErr
			h := newTestHandler(t, newFakeAuth(), ex)
			rec := serve(h, tc.spec)
			assert.Equal(t, tc.wantStatus, rec.Code)
			assertNoStoreJSON(t, rec)
		})
	}
}

func TestHandlerConcurrentUse(t *testing.T) {
	t.Parallel()
	runConcurrentUse(t, tokenTestEndpoint)
}
