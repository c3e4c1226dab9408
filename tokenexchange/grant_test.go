package tokenexchange

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
)

const testRefreshToken = "eyJ.refresh-token-value.sig"

// fakeGrant is a hand-written [GrantHandler] that records its calls and
// returns a fixed response or error.
type fakeGrant struct {
	resp *Response
	err  error
	callLog[*GrantRequest]
}

var _ GrantHandler = (*fakeGrant)(nil)

// newFakeGrant answers like newFakeExchanger, with its own access token
// and lifetime and with a refresh token and an ID token.
func newFakeGrant() *fakeGrant {
	resp := *newFakeExchanger().resp
	resp.AccessToken, resp.ExpiresIn = "refreshed.access.token", 600
	resp.RefreshToken, resp.IDToken = "new.refresh.token", "new.id.token"
	return &fakeGrant{resp: &resp}
}

func (g *fakeGrant) Grant(_ context.Context, client Client, req *GrantRequest) (*Response, error) {
	g.record(client, req)
	return g.resp, g.err
}

// refreshBody is a refresh_token grant body followed by extra, a raw
// encoded suffix.
func refreshBody(extra string) string {
	return url.Values{
		"grant_type":    {GrantTypeRefreshToken},
		"refresh_token": {testRefreshToken},
	}.Encode() + extra
}

func TestNewHandler_WithGrant(t *testing.T) {
	t.Parallel()
	const refused = "tokenexchange: WithGrant needs a grant type other than token exchange and a handler"
	tests := []struct {
		name    string
		opts    []Option
		wantErr string
	}{
		{name: "refresh_token", opts: []Option{WithGrant(GrantTypeRefreshToken, newFakeGrant())}},
		{name: "authorization_code", opts: []Option{WithGrant(GrantTypeAuthorizationCode, newFakeGrant())}},
		{name: "both", opts: []Option{
			WithGrant(GrantTypeRefreshToken, newFakeGrant()), WithGrant(GrantTypeAuthorizationCode, newFakeGrant()),
		}},
		{name: "token exchange cannot be replaced", opts: []Option{WithGrant(GrantType, newFakeGrant())}, wantErr: refused},
		{name: "token exchange next to a valid grant", opts: []Option{
			WithGrant(GrantTypeRefreshToken, newFakeGrant()), WithGrant(GrantType, newFakeGrant()),
		}, wantErr: refused},
		{name: "empty grant type", opts: []Option{WithGrant("", newFakeGrant())}, wantErr: refused},
		{name: "nil handler", opts: []Option{WithGrant(GrantTypeRefreshToken, nil)}, wantErr: refused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, err := NewHandler(newFakeAuth(), newFakeExchanger(), tc.opts...)
			assertConstructed(t, h, err, tc.wantErr)
		})
	}
}

// TestWithGrant_ServesGrantType: a request of a grant type served through
// WithGrant goes to its handler, after client authentication, with the
// form; the Exchanger is not called.
func TestWithGrant_ServesGrantType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		spec       reqSpec
		wantClient Client
	}{
		{
			name:       "client_secret_basic",
			spec:       reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: refreshBody("")},
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodBasic},
		},
		{
			name:       "client_secret_post",
			spec:       reqSpec{body: refreshBody(postCreds)},
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodPost},
		},
		{
			name:       "with scope",
			spec:       reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: refreshBody("&scope=openid")},
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodBasic},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex, g := newFakeExchanger(), newFakeGrant()
			h := newTestHandler(t, newFakeAuth(), ex, WithGrant(GrantTypeRefreshToken, g))
			rec := serve(h, tc.spec)

			require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body.String())
			calls, client, req := g.called()
			require.Equal(t, 1, calls)
			assert.Equal(t, tc.wantClient, client)
			require.NotNil(t, req)
			assert.Equal(t, GrantTypeRefreshToken, req.GrantType)
			assert.Equal(t, testRefreshToken, req.RefreshToken, "the typed field")
			assert.Equal(t, []string{GrantTypeRefreshToken}, req.Form["grant_type"])
			assert.Equal(t, []string{testRefreshToken}, req.Form["refresh_token"])
			assert.Zero(t, ex.count(), "the Exchanger is not called for another grant")
			assertNoStoreJSON(t, rec)
			assert.JSONEq(t, `{
				"access_token": "refreshed.access.token",
				"issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
				"token_type": "Bearer",
				"expires_in": 600,
				"scope": "openid orders:read",
				"refresh_token": "new.refresh.token",
				"id_token": "new.id.token"
			}`, rec.Body.String())
		})
	}
}

// TestWithGrant_TokenExchangeStillServed: token exchange and grant types
// not registered keep their usual handling.
func TestWithGrant_TokenExchangeStillServed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   string
		wantEx     int
	}{
		{name: "token exchange", body: validBody(""), wantStatus: http.StatusOK, wantEx: 1},
		{
			name:       "grant type not registered",
			body:       url.Values{"grant_type": {GrantTypeAuthorizationCode}, "code": {"c0de"}}.Encode(),
			wantStatus: http.StatusBadRequest, wantCode: codeUnsupportedGrantType,
		},
		{
			name:       "no grant type",
			body:       url.Values{"refresh_token": {testRefreshToken}}.Encode(),
			wantStatus: http.StatusBadRequest, wantCode: codeInvalidRequest,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex, g := newFakeExchanger(), newFakeGrant()
			h := newTestHandler(t, newFakeAuth(), ex, WithGrant(GrantTypeRefreshToken, g))
			rec := serve(h, reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: tc.body})

			assert.Equal(t, tc.wantStatus, rec.Code, rec.Body.String())
			if tc.wantCode != "" {
				assert.Equal(t, tc.wantCode, decodeError(t, rec)["error"])
			}
			assert.Equal(t, tc.wantEx, ex.count())
			assert.Zero(t, g.count())
		})
	}
}

// TestWithGrant_PipelineChecks: a grant served through WithGrant goes
// through the endpoint's checks; refused requests never reach it.
func TestWithGrant_PipelineChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		spec       reqSpec
		wantStatus int
		wantCode   string
	}{
		{
			name:       "GET",
			spec:       reqSpec{method: http.MethodGet, authz: []string{basicHeader(testClientID, testSecret)}, body: refreshBody("")},
			wantStatus: http.StatusMethodNotAllowed, wantCode: codeInvalidRequest,
		},
		{
			name:       "JSON body",
			spec:       reqSpec{contentType: "application/json", authz: []string{basicHeader(testClientID, testSecret)}, body: `{"grant_type":"refresh_token"}`},
			wantStatus: http.StatusBadRequest, wantCode: codeInvalidRequest,
		},
		{
			name:       "no client authentication",
			spec:       reqSpec{body: refreshBody("")},
			wantStatus: http.StatusUnauthorized, wantCode: codeInvalidClient,
		},
		{
			name:       "wrong secret",
			spec:       reqSpec{authz: []string{basicHeader(testClientID, "wrong-secret")}, body: refreshBody("")},
			wantStatus: http.StatusUnauthorized, wantCode: codeInvalidClient,
		},
		{
			name:       "two authentication methods",
			spec:       reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: refreshBody(postCreds)},
			wantStatus: http.StatusBadRequest, wantCode: codeInvalidRequest,
		},
		{
			name:       "refresh_token repeated",
			spec:       reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: refreshBody("&refresh_token=other")},
			wantStatus: http.StatusBadRequest, wantCode: codeInvalidRequest,
		},
		{
			name:       "grant_type repeated",
			spec:       reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: refreshBody("&grant_type=refresh_token")},
			wantStatus: http.StatusBadRequest, wantCode: codeInvalidRequest,
		},
		{
			name:       "client_secret in the URL",
			spec:       reqSpec{target: "/token?client_secret=" + testSecret, body: refreshBody(postCreds)},
			wantStatus: http.StatusBadRequest, wantCode: codeInvalidRequest,
		},
		{
			name: "oversized body",
			spec: reqSpec{
				authz: []string{basicHeader(testClientID, testSecret)},
				body:  refreshBody("&pad=" + strings.Repeat("a", DefaultMaxBodyBytes)),
			},
			wantStatus: http.StatusBadRequest, wantCode: codeInvalidRequest,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newFakeGrant()
			h := newTestHandler(t, newFakeAuth(), newFakeExchanger(), WithGrant(GrantTypeRefreshToken, g))
			rec := serve(h, tc.spec)

			assert.Equal(t, tc.wantStatus, rec.Code, rec.Body.String())
			assert.Equal(t, tc.wantCode, decodeError(t, rec)["error"])
			assert.NotContains(t, rec.Body.String(), testRefreshToken)
			assert.NotContains(t, rec.Body.String(), testSecret)
			assert.Zero(t, g.count(), "a refused request never reaches the grant handler")
		})
	}
}

// TestWithGrant_HandlerErrors: the grant handler's errors and incomplete
// responses, as the client sees them.
func TestWithGrant_HandlerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		resp       *Response
		err        error
		wantStatus int
		wantCode   string
		wantDesc   string
	}{
		{
			name: "invalid_grant", err: ErrInvalidGrant.WithDescription("the refresh token is invalid, expired or used"),
			wantStatus: http.StatusBadRequest, wantCode: codeInvalidGrant, wantDesc: "the refresh token is invalid, expired or used",
		},
		{name: "invalid_scope", err: ErrInvalidScope, wantStatus: http.StatusBadRequest, wantCode: codeInvalidScope},
		{name: "unauthorized_client", err: ErrUnauthorizedClient, wantStatus: http.StatusBadRequest, wantCode: codeUnauthorizedClient},
		{
			name: "wrapped wire error", err: errors.Join(errors.New("store: refresh:abc already used"), ErrInvalidGrant),
			wantStatus: http.StatusBadRequest, wantCode: codeInvalidGrant,
		},
		{
			name: "temporarily_unavailable", err: ErrTemporarilyUnavailable.WithCause(errors.New("redis: connection refused")),
			wantStatus: http.StatusServiceUnavailable, wantCode: codeTemporarilyUnavailable,
		},
		{
			name: "plain error", err: errors.New("signing key: pkcs8 blob corrupted " + testSecret),
			wantStatus: http.StatusInternalServerError, wantCode: codeServerError,
		},
		{name: "nil response", wantStatus: http.StatusInternalServerError, wantCode: codeServerError},
		{
			name: "no access_token", resp: &Response{TokenType: BearerTokenType, IDToken: "id.token"},
			wantStatus: http.StatusInternalServerError, wantCode: codeServerError,
		},
		{
			name: "no token_type", resp: &Response{AccessToken: "access.token", RefreshToken: "refresh.token"},
			wantStatus: http.StatusInternalServerError, wantCode: codeServerError,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := &fakeGrant{resp: tc.resp, err: tc.err}
			var (
				mu       sync.Mutex
				observed []error
				clientID string
			)
			h := newTestHandler(t, newFakeAuth(), newFakeExchanger(),
				WithGrant(GrantTypeRefreshToken, g),
				WithErrorObserver(func(_ *http.Request, id string, err error) {
					mu.Lock()
					defer mu.Unlock()
					observed, clientID = append(observed, err), id
				}))
			rec := serve(h, reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: refreshBody("")})

			assertErrorResponse(t, rec, tc.wantStatus, tc.wantCode, tc.wantDesc, false)
			body := rec.Body.String()
			for _, leak := range []string{"store:", "redis", "pkcs8", testSecret, testRefreshToken, "access.token", "refresh.token", "id.token"} {
				assert.NotContains(t, body, leak)
			}
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, observed, 1, "the observer sees every refusal")
			assert.Equal(t, testClientID, clientID)
			if tc.err != nil {
				require.ErrorIs(t, observed[0], tc.err)
			}
		})
	}
}

// TestWithGrant_OnlyTheTokenEndpoint: the introspection and revocation
// constructors refuse WithGrant instead of ignoring it.
func TestWithGrant_OnlyTheTokenEndpoint(t *testing.T) {
	t.Parallel()
	auth := newFakeAuth()
	opt := WithGrant(GrantTypeRefreshToken, newFakeGrant())
	in, err := NewIntrospectionHandler(auth, &fakeIntrospector{}, opt)
	require.Error(t, err)
	assert.Nil(t, in)
	rv, err := NewRevocationHandler(auth, &fakeRevoker{}, opt)
	require.Error(t, err)
	assert.Nil(t, rv)
}

// TestGrantRequest_TypedFields: the authorization-code parameters and the
// scope reach a grant handler decoded.
func TestGrantRequest_TypedFields(t *testing.T) {
	t.Parallel()
	req := grantRequest(url.Values{
		"grant_type": {GrantTypeAuthorizationCode}, "code": {"c-1"}, "redirect_uri": {"https://app.example/cb"},
		"code_verifier": {"v-1"}, "scope": {"openid orders:read"},
	})
	assert.Equal(t, GrantTypeAuthorizationCode, req.GrantType)
	assert.Equal(t, "c-1", req.Code)
	assert.Equal(t, "https://app.example/cb", req.RedirectURI)
	assert.Equal(t, "v-1", req.CodeVerifier)
	assert.Equal(t, claims.Scope{"openid", "orders:read"}, req.Scope)
	assert.Empty(t, req.RefreshToken)
}
