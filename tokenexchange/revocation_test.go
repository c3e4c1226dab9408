package tokenexchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeRevoker is a hand-written [Revoker] that records its call and returns
// a fixed error.
type fakeRevoker struct {
	err error

	mu     sync.Mutex
	calls  int
	client Client
	token  string
	hint   string
}

var _ Revoker = (*fakeRevoker)(nil)

func (f *fakeRevoker) Revoke(_ context.Context, client Client, token, hint string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.client, f.token, f.hint = client, token, hint
	return f.err
}

func (f *fakeRevoker) called() (calls int, client Client, token, hint string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.client, f.token, f.hint
}

func newTestRevocationHandler(t testing.TB, auth ClientAuthenticator, rv Revoker, opts ...Option) http.Handler {
	t.Helper()
	h, err := NewRevocationHandler(auth, rv, opts...)
	require.NoError(t, err)
	return h
}

func TestNewRevocationHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		auth    ClientAuthenticator
		rv      Revoker
		opts    []Option
		wantErr string
	}{
		{name: "defaults", auth: newFakeAuth(), rv: &fakeRevoker{}},
		{name: "all options", auth: newFakeAuth(), rv: &fakeRevoker{}, opts: []Option{
			WithMaxBodyBytes(1024), WithErrorObserver(func(*http.Request, string, error) {}),
		}},
		{name: "nil authenticator", rv: &fakeRevoker{}, wantErr: "tokenexchange: nil ClientAuthenticator"},
		{name: "nil revoker", auth: newFakeAuth(), wantErr: "tokenexchange: nil Revoker"},
		{name: "negative body limit", auth: newFakeAuth(), rv: &fakeRevoker{}, opts: []Option{WithMaxBodyBytes(-1)}, wantErr: "tokenexchange: WithMaxBodyBytes: limit must be positive"},
		{name: "nil option", auth: newFakeAuth(), rv: &fakeRevoker{}, opts: []Option{nil}, wantErr: "tokenexchange: nil Option"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, err := NewRevocationHandler(tc.auth, tc.rv, tc.opts...)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				assert.Nil(t, h)
				return
			}
			require.NoError(t, err)
			assert.NotNil(t, h)
		})
	}
}

func TestRevocationHandlerSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		spec       reqSpec
		wantClient Client
		wantHint   string
	}{
		{name: "basic", spec: basicTokenSpec(""), wantClient: Client{ID: testClientID, AuthMethod: AuthMethodBasic}},
		{name: "post", spec: reqSpec{body: tokenBody(postCreds)}, wantClient: Client{ID: testClientID, AuthMethod: AuthMethodPost}},
		{name: "refresh_token hint", spec: basicTokenSpec("&token_type_hint=refresh_token"), wantClient: Client{ID: testClientID, AuthMethod: AuthMethodBasic}, wantHint: TokenTypeHintRefreshToken},
		{name: "unknown parameters ignored", spec: basicTokenSpec("&foo=1&foo=2"), wantClient: Client{ID: testClientID, AuthMethod: AuthMethodBasic}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rv := &fakeRevoker{}
			h := newTestRevocationHandler(t, newFakeAuth(), rv)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.spec.build())

			require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body.String())
			assert.Empty(t, rec.Body.String())
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			assert.Empty(t, rec.Header().Values("WWW-Authenticate"))
			calls, client, token, hint := rv.called()
			require.Equal(t, 1, calls)
			assert.Equal(t, tc.wantClient, client)
			assert.Equal(t, testToken, token)
			assert.Equal(t, tc.wantHint, hint)
		})
	}
}

func TestRevocationHandlerRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		spec          reqSpec
		wantStatus    int
		wantCode      string
		wantDesc      string
		wantChallenge bool
		wantAllow     bool
	}{
		{name: "GET", spec: reqSpec{method: http.MethodGet, target: "/revoke?token=x"}, wantStatus: 405, wantCode: "invalid_request", wantDesc: "the revocation endpoint accepts only POST", wantAllow: true},
		{name: "DELETE with valid body", spec: reqSpec{method: http.MethodDelete, authz: []string{basicHeader(testClientID, testSecret)}, body: tokenBody("")}, wantStatus: 405, wantCode: "invalid_request", wantAllow: true},
		{name: "json content type", spec: reqSpec{contentType: "application/json", body: `{"token":"x"}`}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "Content-Type must be application/x-www-form-urlencoded"},
		{name: "token in query", spec: reqSpec{target: "/revoke?token=x", body: tokenBody(postCreds)}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter not allowed in the URL query: token"},
		{name: "duplicate token", spec: basicTokenSpec("&token=other"), wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter given more than once: token"},
		{name: "missing token", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: "token_type_hint=refresh_token"}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "token is required"},
		{name: "empty token", spec: reqSpec{body: "token=" + postCreds}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "token is required"},
		{name: "bad secret basic", spec: reqSpec{authz: []string{basicHeader(testClientID, "wrong")}, body: tokenBody("")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed", wantChallenge: true},
		{name: "bad secret post", spec: reqSpec{body: tokenBody("&client_id=" + testClientID + "&client_secret=wrong")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rv := &fakeRevoker{}
			h := newTestRevocationHandler(t, newFakeAuth(), rv)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.spec.build())

			assertErrorResponse(t, rec, tc.wantStatus, tc.wantCode, tc.wantDesc, tc.wantChallenge)
			if tc.wantAllow {
				assert.Equal(t, "POST", rec.Header().Get("Allow"))
			} else {
				assert.Empty(t, rec.Header().Get("Allow"))
			}
			calls, _, _, _ := rv.called()
			assert.Zero(t, calls, "the Revoker must not be called")
		})
	}
}

func TestRevocationHandlerRevokerErrors(t *testing.T) {
	t.Parallel()
	const internal = "pq: connection refused to 10.0.0.7"
	tests := []struct {
		name          string
		err           error
		spec          reqSpec
		wantStatus    int
		wantCode      string
		wantDesc      string
		wantChallenge bool
	}{
		{name: "token of another client", err: ErrUnauthorizedClient.WithDescription("the token was issued to another client"), spec: basicTokenSpec(""), wantStatus: 400, wantCode: "unauthorized_client", wantDesc: "the token was issued to another client"},
		{name: "unsupported token type", err: ErrUnsupportedTokenType, spec: basicTokenSpec("&token_type_hint=access_token"), wantStatus: 400, wantCode: "unsupported_token_type"},
		{name: "wrapped unsupported token type", err: fmt.Errorf("revoke: %w", ErrUnsupportedTokenType.WithDescription("access tokens are self-contained")), spec: basicTokenSpec(""), wantStatus: 400, wantCode: "unsupported_token_type", wantDesc: "access tokens are self-contained"},
		{name: "temporarily_unavailable", err: ErrTemporarilyUnavailable.WithCause(errors.New(internal)), spec: basicTokenSpec(""), wantStatus: 503, wantCode: "temporarily_unavailable"},
		{name: "plain error", err: errors.New(internal + " revoking " + testToken), spec: basicTokenSpec(""), wantStatus: 500, wantCode: "server_error", wantDesc: "internal error"},
		{name: "invalid_client after post does not challenge", err: ErrInvalidClient, spec: reqSpec{body: tokenBody(postCreds)}, wantStatus: 401, wantCode: "invalid_client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var observedID string
			var observed error
			rv := &fakeRevoker{err: tc.err}
			h := newTestRevocationHandler(t, newFakeAuth(), rv,
				WithErrorObserver(func(_ *http.Request, clientID string, err error) { observedID, observed = clientID, err }))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.spec.build())

			assertErrorResponse(t, rec, tc.wantStatus, tc.wantCode, tc.wantDesc, tc.wantChallenge)
			for _, leak := range []string{"pq:", "10.0.0.7", testToken} {
				assert.NotContains(t, rec.Body.String(), leak)
			}
			assert.Equal(t, testClientID, observedID)
			assert.Same(t, tc.err, observed, "the observer gets the Revoker's error whole")
		})
	}
}

func TestErrUnsupportedTokenType(t *testing.T) {
	t.Parallel()
	d := ErrUnsupportedTokenType.WithDescription("x")
	assert.Equal(t, "unsupported_token_type", CodeUnsupportedTokenType)
	assert.Equal(t, http.StatusBadRequest, ErrUnsupportedTokenType.StatusCode())
	assert.ErrorIs(t, d, ErrUnsupportedTokenType)
	assert.NotErrorIs(t, d, ErrUnauthorizedClient)
	assert.Empty(t, ErrUnsupportedTokenType.Description, "refining must not modify the sentinel")
}

// RFC 7009 §2.1: "The client also includes its authentication credentials"
// and the server "first validates the client credentials"; the handler never
// reaches the Revoker without them.
func TestRFC7009_2_1_EndpointRequiresClientAuthentication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		spec          reqSpec
		wantChallenge bool
	}{
		{name: "no credentials", spec: reqSpec{body: tokenBody("")}},
		{name: "client_id alone, as a public client", spec: reqSpec{body: tokenBody("&client_id=" + testClientID)}},
		{name: "basic wrong secret", spec: reqSpec{authz: []string{basicHeader(testClientID, "wrong")}, body: tokenBody("")}, wantChallenge: true},
		{name: "post wrong secret", spec: reqSpec{body: tokenBody("&client_id=" + testClientID + "&client_secret=wrong")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rv := &fakeRevoker{}
			h := newTestRevocationHandler(t, newFakeAuth(), rv)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.spec.build())

			assertErrorResponse(t, rec, http.StatusUnauthorized, "invalid_client", "", tc.wantChallenge)
			calls, _, _, _ := rv.called()
			assert.Zero(t, calls, "the Revoker must not be called")
		})
	}
}

// RFC 7009 §2.1: token_type_hint is OPTIONAL; "An authorization server MAY
// ignore this parameter". The handler passes any value through.
func TestRFC7009_2_1_TokenTypeHintPassedThrough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		extra    string
		wantHint string
	}{
		{name: "absent"},
		{name: "access_token", extra: "&token_type_hint=access_token", wantHint: TokenTypeHintAccessToken},
		{name: "refresh_token", extra: "&token_type_hint=refresh_token", wantHint: TokenTypeHintRefreshToken},
		{name: "unknown value", extra: "&token_type_hint=id_token", wantHint: "id_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rv := &fakeRevoker{}
			h := newTestRevocationHandler(t, newFakeAuth(), rv)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, basicTokenSpec(tc.extra).build())

			require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body.String())
			_, _, token, hint := rv.called()
			assert.Equal(t, testToken, token)
			assert.Equal(t, tc.wantHint, hint)
		})
	}
}

// RFC 7009 §2.2: "The authorization server responds with HTTP status code
// 200 if the token has been revoked successfully or if the client submitted
// an invalid token." Deciding that a token is invalid is the Revoker's job;
// whenever it returns nil, whatever the token, the handler answers 200 with
// an empty body.
func TestRFC7009_2_2_RevokerNilErrorAnswers200(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		token string
	}{
		{name: "revoked token", token: testToken},
		{name: "unknown token", token: "not-a-token-we-issued"},
		{name: "garbage", token: "%%%\x00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rv := &fakeRevoker{}
			h := newTestRevocationHandler(t, newFakeAuth(), rv)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, reqSpec{
				authz: []string{basicHeader(testClientID, testSecret)},
				body:  url.Values{"token": {tc.token}}.Encode(),
			}.build())

			assert.Equal(t, http.StatusOK, rec.Code)
			assert.Empty(t, rec.Body.String())
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			_, _, token, _ := rv.called()
			assert.Equal(t, tc.token, token)
		})
	}
}

// RFC 7009 §2.2.1: unsupported_token_type is the error for a token type the
// server cannot revoke, sent with HTTP 400 like the RFC 6749 §5.2 codes.
func TestRFC7009_2_2_1_UnsupportedTokenTypeIs400(t *testing.T) {
	t.Parallel()
	h := newTestRevocationHandler(t, newFakeAuth(), &fakeRevoker{err: ErrUnsupportedTokenType})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, basicTokenSpec("&token_type_hint=access_token").build())
	assertErrorResponse(t, rec, http.StatusBadRequest, "unsupported_token_type", "", false)
	assert.Equal(t, map[string]string{"error": "unsupported_token_type"}, decodeError(t, rec))
}

func TestRevokeAgainstHandler(t *testing.T) {
	t.Parallel()
	const id, secret = "team:a%b", "p+ss w:rd"
	tests := []struct {
		name       string
		secret     string
		hint       string
		rvErr      error
		wantStatus int
		wantIs     error
	}{
		{name: "revoked", secret: secret, hint: TokenTypeHintRefreshToken},
		{name: "no hint", secret: secret},
		{name: "wrong secret", secret: "nope", wantStatus: 401, wantIs: ErrInvalidClient},
		{name: "token of another client", secret: secret, rvErr: ErrUnauthorizedClient, wantStatus: 400, wantIs: ErrUnauthorizedClient},
		{name: "unsupported token type", secret: secret, hint: TokenTypeHintAccessToken, rvErr: ErrUnsupportedTokenType, wantStatus: 400, wantIs: ErrUnsupportedTokenType},
		{name: "internal error", secret: secret, rvErr: errors.New("boom"), wantStatus: 500, wantIs: ErrServerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rv := &fakeRevoker{err: tc.rvErr}
			srv := httptest.NewServer(newTestRevocationHandler(t, &fakeAuth{clients: map[string]string{id: secret}}, rv))
			t.Cleanup(srv.Close)

			err := Revoke(t.Context(), testHTTPClient(), srv.URL, id, tc.secret, testToken, tc.hint)
			if tc.wantIs != nil {
				require.ErrorIs(t, err, tc.wantIs)
				var re *RetrieveError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, tc.wantStatus, re.StatusCode)
				assert.True(t, strings.HasPrefix(err.Error(), "tokenexchange: revocation endpoint returned status "), err.Error())
				return
			}
			require.NoError(t, err)
			calls, client, token, hint := rv.called()
			require.Equal(t, 1, calls)
			assert.Equal(t, Client{ID: id, AuthMethod: AuthMethodBasic}, client)
			assert.Equal(t, testToken, token)
			assert.Equal(t, tc.hint, hint)
		})
	}
}

func TestRevokeResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		body     string
		wantRetr *RetrieveError
	}{
		{name: "200 empty", status: 200},
		{name: "204", status: 204},
		{name: "200 body ignored", status: 200, body: "<html>ok</html>"},
		{name: "200 error member ignored", status: 200, body: `{"error":"invalid_request"}`},
		{name: "200 body over 1 MiB ignored", status: 200, body: strings.Repeat("x", 2<<20)},
		{name: "oauth error", status: 400, body: `{"error":"unsupported_token_type","error_description":"no"}`, wantRetr: &RetrieveError{StatusCode: 400, ErrorCode: "unsupported_token_type", ErrorDescription: "no"}},
		{name: "non-JSON 503", status: 503, body: "busy", wantRetr: &RetrieveError{StatusCode: 503}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := staticServer(t, tc.status, tc.body)
			err := Revoke(t.Context(), testHTTPClient(), srv.URL, testClientID, testSecret, testToken, "")
			if tc.wantRetr == nil {
				require.NoError(t, err)
				return
			}
			var re *RetrieveError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tc.wantRetr.StatusCode, re.StatusCode)
			assert.Equal(t, tc.wantRetr.ErrorCode, re.ErrorCode)
			assert.Equal(t, tc.wantRetr.ErrorDescription, re.ErrorDescription)
			assert.Equal(t, tc.body, string(re.Body))
		})
	}
}

func TestRevokeArguments(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	srv := staticServer(t, 200, "")
	tests := []struct {
		name     string
		ctx      context.Context
		hc       *http.Client
		endpoint string
		clientID string
		token    string
		wantErr  string
		wantIs   error
	}{
		{name: "nil http client", ctx: t.Context(), endpoint: srv.URL, clientID: testClientID, token: testToken, wantErr: "tokenexchange: Revoke: nil *http.Client"},
		{name: "empty url", ctx: t.Context(), hc: testHTTPClient(), clientID: testClientID, token: testToken, wantErr: "tokenexchange: Revoke: empty endpoint URL"},
		{name: "empty client id", ctx: t.Context(), hc: testHTTPClient(), endpoint: srv.URL, token: testToken, wantErr: "tokenexchange: Revoke: empty client ID"},
		{name: "empty token", ctx: t.Context(), hc: testHTTPClient(), endpoint: srv.URL, clientID: testClientID, wantErr: "tokenexchange: Revoke: empty token"},
		{name: "canceled context", ctx: canceled, hc: testHTTPClient(), endpoint: srv.URL, clientID: testClientID, token: testToken, wantIs: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Revoke(tc.ctx, tc.hc, tc.endpoint, tc.clientID, testSecret, tc.token, "")
			if tc.wantIs != nil {
				require.ErrorIs(t, err, tc.wantIs)
				assert.True(t, strings.HasPrefix(err.Error(), "tokenexchange: Revoke: "), err.Error())
				assert.NotContains(t, err.Error(), testSecret)
				return
			}
			require.EqualError(t, err, tc.wantErr)
		})
	}
}

// RFC 7662 §2.1 and RFC 7009 §2.1: the request is a POST with the token and
// the optional token_type_hint form-encoded in the body, and RFC 6749 §2.3.1
// client_secret_basic credentials form-encoded before HTTP Basic encoding.
func TestRFC7662_2_1_And_RFC7009_2_1_ClientSendsFormPOST(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, contentType, rawCreds, query string
		form                                 url.Values
	}
	tests := []struct {
		name     string
		call     func(ctx context.Context, hc *http.Client, endpoint string) error
		wantForm url.Values
	}{
		{
			name: "Introspect with hint",
			call: func(ctx context.Context, hc *http.Client, endpoint string) error {
				_, err := Introspect(ctx, hc, endpoint, "my:client%1", "p+ss word", testToken, TokenTypeHintAccessToken)
				return err
			},
			wantForm: url.Values{"token": {testToken}, "token_type_hint": {"access_token"}},
		},
		{
			name: "Introspect without hint",
			call: func(ctx context.Context, hc *http.Client, endpoint string) error {
				_, err := Introspect(ctx, hc, endpoint, "my:client%1", "p+ss word", testToken, "")
				return err
			},
			wantForm: url.Values{"token": {testToken}},
		},
		{
			name: "Revoke with hint",
			call: func(ctx context.Context, hc *http.Client, endpoint string) error {
				return Revoke(ctx, hc, endpoint, "my:client%1", "p+ss word", testToken, TokenTypeHintRefreshToken)
			},
			wantForm: url.Values{"token": {testToken}, "token_type_hint": {"refresh_token"}},
		},
		{
			name: "Revoke without hint",
			call: func(ctx context.Context, hc *http.Client, endpoint string) error {
				return Revoke(ctx, hc, endpoint, "my:client%1", "p+ss word", testToken, "")
			},
			wantForm: url.Values{"token": {testToken}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan seen, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				user, pass, _ := r.BasicAuth()
				b, _ := io.ReadAll(r.Body)
				form, _ := url.ParseQuery(string(b))
				got <- seen{r.Method, r.Header.Get("Content-Type"), user + ":" + pass, r.URL.RawQuery, form}
				_, _ = io.WriteString(w, `{"active":true}`)
			}))
			t.Cleanup(srv.Close)

			require.NoError(t, tc.call(t.Context(), testHTTPClient(), srv.URL+"/endpoint"))
			s := <-got
			assert.Equal(t, http.MethodPost, s.method)
			assert.Equal(t, "application/x-www-form-urlencoded", s.contentType)
			assert.Equal(t, "my%3Aclient%251:p%2Bss+word", s.rawCreds)
			assert.Empty(t, s.query)
			assert.Equal(t, tc.wantForm, s.form)
		})
	}
}
