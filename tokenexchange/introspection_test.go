package tokenexchange

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
)

// testToken is the token the introspection and revocation tests send.
const testToken = "eyJ.access-token-value.sig"

// tokenBody is a minimal valid introspection or revocation body followed by
// extra, a raw encoded suffix such as "&token_type_hint=access_token".
func tokenBody(extra string) string {
	return url.Values{"token": {testToken}}.Encode() + extra
}

// basicTokenSpec is a valid introspection or revocation request
// authenticated with client_secret_basic.
func basicTokenSpec(extra string) reqSpec {
	return reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: tokenBody(extra)}
}

// tokenArgs are the token and token_type_hint of an Introspect or Revoke
// call.
type tokenArgs struct{ token, hint string }

// tokenCalls records the calls to a fake [Introspector] or [Revoker].
type tokenCalls struct{ log callLog[tokenArgs] }

func (c *tokenCalls) record(client Client, token, hint string) {
	c.log.record(client, tokenArgs{token: token, hint: hint})
}

func (c *tokenCalls) called() (calls int, client Client, token, hint string) {
	calls, client, args := c.log.called()
	return calls, client, args.token, args.hint
}

// assertCalledOnce checks that the fake was called once, for client with
// token and hint.
func (c *tokenCalls) assertCalledOnce(t testing.TB, client Client, token, hint string) {
	t.Helper()
	calls, gotClient, gotToken, gotHint := c.called()
	require.Equal(t, 1, calls)
	assert.Equal(t, client, gotClient)
	assert.Equal(t, token, gotToken)
	assert.Equal(t, hint, gotHint)
}

// fakeIntrospector is a hand-written [Introspector] that records its call
// and returns a fixed answer or error.
type fakeIntrospector struct {
	resp *Introspection
	err  error
	tokenCalls
}

var _ Introspector = (*fakeIntrospector)(nil)

func (f *fakeIntrospector) Introspect(_ context.Context, client Client, token, hint string) (*Introspection, error) {
	f.record(client, token, hint)
	return f.resp, f.err
}

// fullIntrospection has every member set, with a two-level act chain.
func fullIntrospection() *Introspection {
	return &Introspection{
		Active:    true,
		Scope:     claims.Scope{"openid", "orders:read"},
		ClientID:  "app",
		Username:  "bob@example.com",
		TokenType: BearerTokenType,
		Expiry:    1767229200,
		IssuedAt:  1767225600,
		NotBefore: 1767225590,
		Subject:   "bob",
		Audience:  claims.Audience{"orders"},
		Issuer:    "https://as.example.com",
		ID:        "jti-1",
		Act: &claims.Actor{
			Subject: "alice",
			Issuer:  "https://as.example.com",
			Act:     &claims.Actor{Subject: "support-bot"},
		},
		OrgID:   "org-1",
		OrgName: "Acme",
	}
}

func TestNewIntrospectionHandler(t *testing.T) {
	t.Parallel()
	runConstructorTests[Introspector](t, "Introspector", NewIntrospectionHandler, &fakeIntrospector{})
}

func TestIntrospectionHandlerSuccess(t *testing.T) {
	t.Parallel()
	const fullJSON = `{
		"active": true,
		"scope": "openid orders:read",
		"client_id": "app",
		"username": "bob@example.com",
		"token_type": "Bearer",
		"exp": 1767229200,
		"iat": 1767225600,
		"nbf": 1767225590,
		"sub": "bob",
		"aud": "orders",
		"iss": "https://as.example.com",
		"jti": "jti-1",
		"act": {"sub": "alice", "iss": "https://as.example.com", "act": {"sub": "support-bot"}},
		"org_id": "org-1",
		"org_name": "Acme"
	}`
	twoAudiences := fullIntrospection()
	twoAudiences.Audience = claims.Audience{"orders", "billing"}
	tests := []struct {
		name       string
		spec       reqSpec
		resp       *Introspection
		wantClient Client
		wantHint   string
		wantJSON   string
	}{
		{
			name:       "basic, all members, one audience as a string",
			spec:       basicTokenSpec("&token_type_hint=access_token"),
			resp:       fullIntrospection(),
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodBasic},
			wantHint:   "access_token",
			wantJSON:   fullJSON,
		},
		{
			name:       "post, two audiences as an array",
			spec:       reqSpec{body: tokenBody(postCreds)},
			resp:       twoAudiences,
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodPost},
			wantJSON:   strings.Replace(fullJSON, `"aud": "orders"`, `"aud": ["orders", "billing"]`, 1),
		},
		{
			name:       "active alone",
			spec:       basicTokenSpec(""),
			resp:       &Introspection{Active: true},
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodBasic},
			wantJSON:   `{"active": true}`,
		},
		{
			name:       "unknown parameters ignored",
			spec:       basicTokenSpec("&resource=x&foo=1&foo=2"),
			resp:       &Introspection{Active: true, Subject: "bob"},
			wantClient: Client{ID: testClientID, AuthMethod: AuthMethodBasic},
			wantJSON:   `{"active": true, "sub": "bob"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, calls := introspectionEndpoint.build(t, newFakeAuth(), tc.resp, nil)
			rec := serve(h, tc.spec)

			require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body.String())
			calls.assertCalledOnce(t, tc.wantClient, testToken, tc.wantHint)
			assertNoStoreJSON(t, rec)
			assertChallenge(t, rec, false)
			assert.JSONEq(t, tc.wantJSON, rec.Body.String())
		})
	}
}

func TestIntrospectionHandlerRejects(t *testing.T) {
	t.Parallel()
	tests := []rejectCase{
		{name: "GET", spec: reqSpec{method: http.MethodGet, authz: []string{basicHeader(testClientID, testSecret)}}, wantStatus: 405, wantCode: "invalid_request", wantDesc: "the introspection endpoint accepts only POST", wantAllow: true},
		{name: "json content type", spec: reqSpec{contentType: "application/json", authz: []string{basicHeader(testClientID, testSecret)}, body: `{"token":"x"}`}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "Content-Type must be application/x-www-form-urlencoded"},
		{name: "no content type", spec: reqSpec{noContentType: true, body: tokenBody(postCreds)}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "Content-Type must be application/x-www-form-urlencoded"},
		{name: "body over the limit", spec: basicTokenSpec("&pad=" + strings.Repeat("a", DefaultMaxBodyBytes)), wantStatus: 400, wantCode: "invalid_request", wantDesc: "request body too large"},
		{name: "token in query", spec: reqSpec{target: "/introspect?token=x", authz: []string{basicHeader(testClientID, testSecret)}, body: tokenBody("")}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter not allowed in the URL query: token"},
		{name: "token_type_hint in query", spec: reqSpec{target: "/introspect?token_type_hint=access_token", authz: []string{basicHeader(testClientID, testSecret)}, body: tokenBody("")}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter not allowed in the URL query: token_type_hint"},
		{name: "duplicate token", spec: basicTokenSpec("&token=other"), wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter given more than once: token"},
		{name: "duplicate token_type_hint", spec: basicTokenSpec("&token_type_hint=a&token_type_hint=b"), wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter given more than once: token_type_hint"},
		{name: "duplicate token before authentication", spec: reqSpec{body: tokenBody("&token=other")}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter given more than once: token"},
		{name: "missing token", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: "token_type_hint=access_token"}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "token is required"},
		{name: "empty token", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: "token="}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "token is required"},
		{name: "empty body", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret)}}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "token is required"},
		{name: "bad secret basic", spec: reqSpec{authz: []string{basicHeader(testClientID, "wrong")}, body: tokenBody("")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed", wantChallenge: true},
		{name: "bad secret post", spec: reqSpec{body: tokenBody("&client_id=" + testClientID + "&client_secret=wrong")}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed"},
		{name: "basic and post", spec: reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: tokenBody(postCreds)}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "more than one client authentication method"},
		{name: "authentication before missing token", spec: reqSpec{body: "token_type_hint=access_token"}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication required"},
	}
	runRejectCases(t, introspectionEndpoint.counted(), tests, func(t testing.TB, body string) {
		assert.NotContains(t, body, "active")
	})
}

func TestIntrospectionHandlerIntrospectorErrors(t *testing.T) {
	t.Parallel()
	const internal = "redis: dial tcp 10.1.2.3:6379: connection refused"
	tests := []decisionErrorCase[*Introspection]{
		{name: "temporarily_unavailable", err: ErrTemporarilyUnavailable.WithDescription("token store unavailable").WithCause(errors.New(internal)), spec: basicTokenSpec(""), wantStatus: 503, wantCode: "temporarily_unavailable", wantDesc: "token store unavailable"},
		{name: "wrapped temporarily_unavailable", err: fmt.Errorf("store: %w", ErrTemporarilyUnavailable), spec: basicTokenSpec(""), wantStatus: 503, wantCode: "temporarily_unavailable"},
		{name: "plain error", err: errors.New(internal + " for token " + testToken), spec: basicTokenSpec(""), wantStatus: 500, wantCode: "server_error", wantDesc: "internal error"},
		{name: "plain error with an answer", resp: fullIntrospection(), err: errors.New(internal), spec: basicTokenSpec(""), wantStatus: 500, wantCode: "server_error", wantDesc: "internal error"},
		{name: "invalid_client after basic challenges", err: ErrInvalidClient, spec: basicTokenSpec(""), wantStatus: 401, wantCode: "invalid_client", wantChallenge: true},
		{name: "Error with an invalid code", err: &Error{Code: "bad\"code", Description: internal}, spec: basicTokenSpec(""), wantStatus: 500, wantCode: "server_error", wantDesc: "internal error"},
	}
	runDecisionErrorCases(t, introspectionEndpoint, tests, []string{"redis", "10.1.2.3", "connection refused", testToken, `"active"`, "bob"})
}

// RFC 7662 §2.1: "the endpoint MUST also require some form of authorization
// to access this endpoint". The handler requires client authentication and
// never reaches the Introspector without it.
func TestRFC7662_2_1_EndpointRequiresClientAuthentication(t *testing.T) {
	t.Parallel()
	tests := []rejectCase{
		{name: "no credentials", spec: reqSpec{body: tokenBody("")}, wantDesc: "client authentication required"},
		{name: "client_id alone", spec: reqSpec{body: tokenBody("&client_id=" + testClientID)}, wantDesc: "client authentication required"},
		{name: "bearer token instead of client credentials", spec: reqSpec{authz: []string{"Bearer " + testToken}, body: tokenBody("")}, wantDesc: "malformed Basic credentials", wantChallenge: true},
		{name: "basic wrong secret", spec: reqSpec{authz: []string{basicHeader(testClientID, "wrong")}, body: tokenBody("")}, wantDesc: "client authentication failed", wantChallenge: true},
		{name: "basic unknown client", spec: reqSpec{authz: []string{basicHeader("nobody", testSecret)}, body: tokenBody("")}, wantDesc: "client authentication failed", wantChallenge: true},
		{name: "post wrong secret", spec: reqSpec{body: tokenBody("&client_id=" + testClientID + "&client_secret=wrong")}, wantDesc: "client authentication failed"},
	}
	runUnauthenticatedCases(t, introspectionEndpoint.counted(), tests)
}

// RFC 7662 §2.1: token_type_hint is OPTIONAL and the server "MAY ignore this
// parameter"; the handler accepts any value and passes it through.
func TestRFC7662_2_1_TokenTypeHintPassedThrough(t *testing.T) {
	t.Parallel()
	tests := []hintCase{
		{name: "absent", extra: ""},
		{name: "empty counts as absent", extra: "&token_type_hint=", wantHint: ""},
		{name: "access_token", extra: "&token_type_hint=access_token", wantHint: TokenTypeHintAccessToken},
		{name: "refresh_token", extra: "&token_type_hint=refresh_token", wantHint: TokenTypeHintRefreshToken},
		{name: "unregistered value", extra: "&token_type_hint=" + url.QueryEscape("urn:example:pat"), wantHint: "urn:example:pat"},
	}
	runHintCases(t, introspectionEndpoint, tests)
}

// RFC 7662 §2.2: active is REQUIRED, and for a token that is not active the
// server "SHOULD NOT include any additional information". The handler sends
// exactly {"active":false} for an inactive or nil answer.
func TestRFC7662_2_2_InactiveTokenDisclosesNothing(t *testing.T) {
	t.Parallel()
	leaky := fullIntrospection()
	leaky.Active = false
	tests := []struct {
		name string
		resp *Introspection
	}{
		{name: "inactive", resp: &Introspection{}},
		{name: "nil answer", resp: nil},
		{name: "inactive with other members set", resp: leaky},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := introspectionEndpoint.build(t, newFakeAuth(), tc.resp, nil)
			rec := serve(h, basicTokenSpec(""))

			assert.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, `{"active":false}`, rec.Body.String())
			assertNoStoreJSON(t, rec)
		})
	}
}

func TestIntrospectAgainstHandler(t *testing.T) {
	t.Parallel()
	const id, secret = "team:a%b", "p+ss w:rd"
	tests := []againstHandlerCase{
		{name: "active", secret: secret, hint: TokenTypeHintAccessToken, resp: fullIntrospection(), want: fullIntrospection()},
		{name: "inactive", secret: secret, resp: &Introspection{}, want: &Introspection{}},
		{name: "nil answer", secret: secret, want: &Introspection{}},
		{name: "wrong secret", secret: "nope", resp: fullIntrospection(), wantStatus: 401, wantIs: ErrInvalidClient},
		{name: "unavailable", secret: secret, err: ErrTemporarilyUnavailable, wantStatus: 503, wantIs: ErrTemporarilyUnavailable},
		{name: "internal error", secret: secret, err: errors.New("boom"), wantStatus: 500, wantIs: ErrServerError},
	}
	runAgainstHandlerCases(t, introspectionEndpoint, id, secret, tests, func(ctx context.Context, endpoint, id, secret, hint string) (*Introspection, error) {
		return Introspect(ctx, testHTTPClient(), endpoint, id, secret, testToken, hint)
	})
}

func TestIntrospectResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		body       string
		want       *Introspection
		wantRetr   *RetrieveError
		wantErr    string
		wantPrefix string
		wantErrIs  error
	}{
		{
			name:   "active with unknown members",
			status: 200,
			body:   `{"active":true,"sub":"bob","aud":["a","b"],"scope":"openid","act":{"sub":"alice"},"extension":{"x":1}}`,
			want:   &Introspection{Active: true, Subject: "bob", Audience: claims.Audience{"a", "b"}, Scope: claims.Scope{"openid"}, Act: &claims.Actor{Subject: "alice"}},
		},
		{
			name:   "inactive members dropped",
			status: 200,
			body:   `{"active":false,"sub":"bob","scope":"admin"}`,
			want:   &Introspection{},
		},
		{
			name:      "active missing",
			status:    200,
			body:      `{"sub":"bob"}`,
			wantErrIs: errNoActive,
		},
		{
			name:      "active null",
			status:    200,
			body:      `{"active":null}`,
			wantErrIs: errNoActive,
		},
		{
			name:     "error member in a 200",
			status:   200,
			body:     `{"error":"invalid_request","error_description":"token is required"}`,
			wantRetr: &RetrieveError{StatusCode: 200, ErrorCode: "invalid_request", ErrorDescription: "token is required"},
		},
		{
			name:     "oauth error",
			status:   401,
			body:     `{"error":"invalid_client"}`,
			wantRetr: &RetrieveError{StatusCode: 401, ErrorCode: "invalid_client"},
		},
		{
			name:     "non-JSON error",
			status:   502,
			body:     "<html>bad gateway</html>",
			wantRetr: &RetrieveError{StatusCode: 502},
		},
		{
			name:    "not JSON",
			status:  200,
			body:    "active=true",
			wantErr: "tokenexchange: Introspect: decode response: invalid character 'a' looking for beginning of value",
		},
		{
			name:       "active not a boolean",
			status:     200,
			body:       `{"active":"true"}`,
			wantPrefix: "tokenexchange: Introspect: decode response: ",
		},
		{
			name:    "success body over 1 MiB",
			status:  200,
			body:    `{"active":true,"sub":"` + strings.Repeat("b", 1<<20) + `"}`,
			wantErr: "tokenexchange: Introspect: response larger than 1048576 bytes",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := staticServer(t, tc.status, tc.body)
			got, err := Introspect(t.Context(), testHTTPClient(), srv.URL, testClientID, testSecret, testToken, "")
			switch {
			case tc.want != nil:
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
			case tc.wantRetr != nil:
				re := assertRetrieveError(t, err, tc.wantRetr, tc.body)
				assert.Nil(t, got)
				assert.Contains(t, re.Error(), "introspection endpoint")
			case tc.wantErrIs != nil:
				require.ErrorIs(t, err, tc.wantErrIs)
				assert.Nil(t, got)
			case tc.wantPrefix != "":
				require.Error(t, err)
				assert.True(t, strings.HasPrefix(err.Error(), tc.wantPrefix), err.Error())
				assert.Nil(t, got)
			default:
				require.EqualError(t, err, tc.wantErr)
				assert.Nil(t, got)
			}
		})
	}
}

func TestIntrospectArguments(t *testing.T) {
	t.Parallel()
	runClientArgumentCases(t, "Introspect", `{"active":true}`, func(t testing.TB, ctx context.Context, hc *http.Client, endpoint, clientID, token string) error {
		got, err := Introspect(ctx, hc, endpoint, clientID, testSecret, token, "")
		assert.Nil(t, got)
		return err
	})
}
