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
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeRevoker is a hand-written [Revoker] that records its call and returns
// a fixed error.
type fakeRevoker struct {
	err error
	tokenCalls
}

var _ Revoker = (*fakeRevoker)(nil)

func (f *fakeRevoker) Revoke(_ context.Context, client Client, token, hint string) error {
	f.record(client, token, hint)
	return f.err
}

func TestNewRevocationHandler(t *testing.T) {
	t.Parallel()
	runConstructorTests[Revoker](t, "Revoker", NewRevocationHandler, &fakeRevoker{})
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
			h, calls := revocationEndpoint.build(t, newFakeAuth(), nil, nil)
			rec := serve(h, tc.spec)

			require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body.String())
			assert.Empty(t, rec.Body.String())
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			assertChallenge(t, rec, false)
			calls.assertCalledOnce(t, tc.wantClient, testToken, tc.wantHint)
		})
	}
}

func TestRevocationHandlerRejects(t *testing.T) {
	t.Parallel()
	tests := []rejectCase{
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
	runRejectCases(t, revocationEndpoint.counted(), tests, nil)
}

func TestRevocationHandlerRevokerErrors(t *testing.T) {
	t.Parallel()
	const internal = "pq: connection refused to 10.0.0.7"
	tests := []decisionErrorCase[*Introspection]{
		{name: "token of another client", err: ErrUnauthorizedClient.WithDescription("the token was issued to another client"), spec: basicTokenSpec(""), wantStatus: 400, wantCode: "unauthorized_client", wantDesc: "the token was issued to another client"},
		{name: "unsupported token type", err: ErrUnsupportedTokenType, spec: basicTokenSpec("&token_type_hint=access_token"), wantStatus: 400, wantCode: "unsupported_token_type"},
		{name: "wrapped unsupported token type", err: fmt.Errorf("revoke: %w", ErrUnsupportedTokenType.WithDescription("access tokens are self-contained")), spec: basicTokenSpec(""), wantStatus: 400, wantCode: "unsupported_token_type", wantDesc: "access tokens are self-contained"},
		{name: "temporarily_unavailable", err: ErrTemporarilyUnavailable.WithCause(errors.New(internal)), spec: basicTokenSpec(""), wantStatus: 503, wantCode: "temporarily_unavailable"},
		{name: "plain error", err: errors.New(internal + " revoking " + testToken), spec: basicTokenSpec(""), wantStatus: 500, wantCode: "server_error", wantDesc: "internal error"},
		{name: "invalid_client after post does not challenge", err: ErrInvalidClient, spec: reqSpec{body: tokenBody(postCreds)}, wantStatus: 401, wantCode: "invalid_client"},
	}
	runDecisionErrorCases(t, revocationEndpoint, tests, []string{"pq:", "10.0.0.7", testToken})
}

func TestErrUnsupportedTokenType(t *testing.T) {
	t.Parallel()
	d := ErrUnsupportedTokenType.WithDescription("x")
	assert.Equal(t, "unsupported_token_type", codeUnsupportedTokenType)
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
	tests := []rejectCase{
		{name: "no credentials", spec: reqSpec{body: tokenBody("")}},
		{name: "client_id alone, as a public client", spec: reqSpec{body: tokenBody("&client_id=" + testClientID)}},
		{name: "basic wrong secret", spec: reqSpec{authz: []string{basicHeader(testClientID, "wrong")}, body: tokenBody("")}, wantChallenge: true},
		{name: "post wrong secret", spec: reqSpec{body: tokenBody("&client_id=" + testClientID + "&client_secret=wrong")}},
	}
	runUnauthenticatedCases(t, revocationEndpoint.counted(), tests)
}

// RFC 7009 §2.1: token_type_hint is OPTIONAL; "An authorization server MAY
// ignore this parameter". The handler passes any value through.
func TestRFC7009_2_1_TokenTypeHintPassedThrough(t *testing.T) {
	t.Parallel()
	tests := []hintCase{
		{name: "absent"},
		{name: "access_token", extra: "&token_type_hint=access_token", wantHint: TokenTypeHintAccessToken},
		{name: "refresh_token", extra: "&token_type_hint=refresh_token", wantHint: TokenTypeHintRefreshToken},
		{name: "unknown value", extra: "&token_type_hint=id_token", wantHint: "id_token"},
	}
	runHintCases(t, revocationEndpoint, tests)
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
			h, calls := revocationEndpoint.build(t, newFakeAuth(), nil, nil)
			rec := serve(h, reqSpec{
				authz: []string{basicHeader(testClientID, testSecret)},
				body:  url.Values{"token": {tc.token}}.Encode(),
			})

			assert.Equal(t, http.StatusOK, rec.Code)
			assert.Empty(t, rec.Body.String())
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			_, _, token, _ := calls.called()
			assert.Equal(t, tc.token, token)
		})
	}
}

// RFC 7009 §2.2.1: unsupported_token_type is the error for a token type the
// server cannot revoke, sent with HTTP 400 like the RFC 6749 §5.2 codes.
func TestRFC7009_2_2_1_UnsupportedTokenTypeIs400(t *testing.T) {
	t.Parallel()
	h, _ := revocationEndpoint.build(t, newFakeAuth(), nil, ErrUnsupportedTokenType)
	rec := serve(h, basicTokenSpec("&token_type_hint=access_token"))
	assertErrorResponse(t, rec, http.StatusBadRequest, "unsupported_token_type", "", false)
	assert.Equal(t, map[string]string{"error": "unsupported_token_type"}, decodeError(t, rec))
}

func TestRevokeAgainstHandler(t *testing.T) {
	t.Parallel()
	const id, secret = "team:a%b", "p+ss w:rd"
	tests := []againstHandlerCase{
		{name: "revoked", secret: secret, hint: TokenTypeHintRefreshToken},
		{name: "no hint", secret: secret},
		{name: "wrong secret", secret: "nope", wantStatus: 401, wantIs: ErrInvalidClient},
		{name: "token of another client", secret: secret, err: ErrUnauthorizedClient, wantStatus: 400, wantIs: ErrUnauthorizedClient},
		{name: "unsupported token type", secret: secret, hint: TokenTypeHintAccessToken, err: ErrUnsupportedTokenType, wantStatus: 400, wantIs: ErrUnsupportedTokenType},
		{name: "internal error", secret: secret, err: errors.New("boom"), wantStatus: 500, wantIs: ErrServerError},
	}
	runAgainstHandlerCases(t, revocationEndpoint, id, secret, tests, func(ctx context.Context, endpoint, id, secret, hint string) (*Introspection, error) {
		return nil, Revoke(ctx, testHTTPClient(), endpoint, id, secret, testToken, hint)
	})
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
			assertRetrieveError(t, err, tc.wantRetr, tc.body)
		})
	}
}

func TestRevokeArguments(t *testing.T) {
	t.Parallel()
	runClientArgumentCases(t, "Revoke", "", func(_ testing.TB, ctx context.Context, hc *http.Client, endpoint, clientID, token string) error {
		return Revoke(ctx, hc, endpoint, clientID, testSecret, token, "")
	})
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
