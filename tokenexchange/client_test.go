package tokenexchange

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
)

// testHTTPClient is an *http.Client with a timeout, as Exchange requires.
func testHTTPClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

// testRequest is the request the client tests send.
func testRequest() *Request {
	return &Request{
		SubjectToken:     testSubjectToken,
		SubjectTokenType: TokenTypeJWT,
		ActorToken:       testActorToken,
		ActorTokenType:   TokenTypeIDToken,
		Audience:         []string{"orders"},
		Scope:            claims.Scope{"openid", "orders:read"},
	}
}

// staticServer answers every request with status, Content-Type
// application/json and body.
func staticServer(t testing.TB, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// againstHandlerCase is a call of Exchange, Introspect or Revoke against
// the package's own endpoint, whose one client is id with secret in the
// tests that use it.
type againstHandlerCase struct {
	name   string
	secret string // the secret the client sends
	hint   string // token_type_hint, for Introspect and Revoke
	resp   *Introspection
	err    error          // the decision's error
	want   *Introspection // what Introspect returns
	// wantStatus and wantIs describe the RetrieveError the call returns;
	// wantIs nil means success.
	wantStatus int
	wantIs     error
}

// runAgainstHandlerCases runs call, Introspect or Revoke, with the client
// id and the secret of each case against ep, whose one client is id with
// secret. call returns what Introspect returns, nil for Revoke.
func runAgainstHandlerCases(t *testing.T, ep tokenEndpoint, id, secret string, tests []againstHandlerCase,
	call func(ctx context.Context, endpoint, id, secret, hint string) (*Introspection, error),
) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, calls := ep.build(t, &fakeAuth{clients: map[string]string{id: secret}}, tc.resp, tc.err)
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)

			got, err := call(t.Context(), srv.URL, id, tc.secret, tc.hint)
			if tc.wantIs != nil {
				assertEndpointError(t, err, ep.name, tc.wantStatus, tc.wantIs, tc.secret)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			calls.assertCalledOnce(t, Client{ID: id, AuthMethod: AuthMethodBasic}, testToken, tc.hint)
		})
	}
}

// assertEndpointError checks that err is the [RetrieveError] of an answer
// of the named endpoint with status wantStatus, that it is (errors.Is)
// wantIs, and that secret is not in its message.
func assertEndpointError(t testing.TB, err error, endpoint string, wantStatus int, wantIs error, secret string) {
	t.Helper()
	require.ErrorIs(t, err, wantIs)
	var re *RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, wantStatus, re.StatusCode)
	assert.True(t, strings.HasPrefix(err.Error(), "tokenexchange: "+endpoint+" endpoint returned status "), err.Error())
	assert.NotContains(t, err.Error(), secret)
}

// assertRetrieveError checks that err is a [RetrieveError] with the status
// and error members of want and the body body, and returns it.
func assertRetrieveError(t testing.TB, err error, want *RetrieveError, body string) *RetrieveError {
	t.Helper()
	var re *RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, want.StatusCode, re.StatusCode)
	assert.Equal(t, want.ErrorCode, re.ErrorCode)
	assert.Equal(t, want.ErrorDescription, re.ErrorDescription)
	assert.Equal(t, want.ErrorURI, re.ErrorURI)
	assert.Equal(t, body, string(re.Body))
	return re
}

// runClientArgumentCases checks the arguments Introspect and Revoke (fn)
// refuse; call calls fn, with testSecret, against a server that answers
// body.
func runClientArgumentCases(t *testing.T, fn, body string, call func(t testing.TB, ctx context.Context, hc *http.Client, endpoint, clientID, token string) error) {
	t.Helper()
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	srv := staticServer(t, 200, body)
	prefix := "tokenexchange: " + fn + ": "
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
		{name: "nil http client", ctx: t.Context(), endpoint: srv.URL, clientID: testClientID, token: testToken, wantErr: prefix + "nil *http.Client"},
		{name: "empty url", ctx: t.Context(), hc: testHTTPClient(), clientID: testClientID, token: testToken, wantErr: prefix + "empty endpoint URL"},
		{name: "empty client id", ctx: t.Context(), hc: testHTTPClient(), endpoint: srv.URL, token: testToken, wantErr: prefix + "empty client ID"},
		{name: "empty token", ctx: t.Context(), hc: testHTTPClient(), endpoint: srv.URL, clientID: testClientID, wantErr: prefix + "empty token"},
		{name: "canceled context", ctx: canceled, hc: testHTTPClient(), endpoint: srv.URL, clientID: testClientID, token: testToken, wantIs: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := call(t, tc.ctx, tc.hc, tc.endpoint, tc.clientID, tc.token)
			if tc.wantIs != nil {
				require.ErrorIs(t, err, tc.wantIs)
				assert.True(t, strings.HasPrefix(err.Error(), prefix), err.Error())
				assert.NotContains(t, err.Error(), testSecret)
				return
			}
			require.EqualError(t, err, tc.wantErr)
		})
	}
}

func TestExchange(t *testing.T) {
	t.Parallel()
	bigDescription := strings.Repeat("d", 100<<10)
	tests := []struct {
		name      string
		status    int
		body      string
		want      *Response
		wantRetr  *RetrieveError
		wantErrIs error
		wantErr   string
	}{
		{
			name:   "success",
			status: 200,
			body: `{"access_token":"at","issued_token_type":"urn:ietf:params:oauth:token-type:access_token",
				"token_type":"Bearer","expires_in":300,"scope":"openid orders:read","refresh_token":"rt","extra":1}`,
			want: &Response{
				AccessToken: "at", IssuedTokenType: TokenTypeAccessToken, TokenType: "Bearer",
				ExpiresIn: 300, Scope: claims.Scope{"openid", "orders:read"}, RefreshToken: "rt",
			},
		},
		{
			name:   "success with 201",
			status: 201,
			body:   `{"access_token":"at","issued_token_type":"urn:ietf:params:oauth:token-type:jwt","token_type":"N_A"}`,
			want:   &Response{AccessToken: "at", IssuedTokenType: TokenTypeJWT, TokenType: "N_A"},
		},
		{
			name:      "oauth error",
			status:    400,
			body:      `{"error":"invalid_grant","error_description":"subject token expired","error_uri":"https://example.com/e"}`,
			wantRetr:  &RetrieveError{StatusCode: 400, ErrorCode: "invalid_grant", ErrorDescription: "subject token expired", ErrorURI: "https://example.com/e"},
			wantErrIs: ErrInvalidGrant,
		},
		{
			name:      "invalid_client",
			status:    401,
			body:      `{"error":"invalid_client"}`,
			wantRetr:  &RetrieveError{StatusCode: 401, ErrorCode: "invalid_client"},
			wantErrIs: ErrInvalidClient,
		},
		{
			name:     "non-JSON error",
			status:   502,
			body:     "<html>bad gateway</html>",
			wantRetr: &RetrieveError{StatusCode: 502},
		},
		{
			name:      "error member in a 200",
			status:    200,
			body:      `{"error":"invalid_scope","error_description":"too wide"}`,
			wantRetr:  &RetrieveError{StatusCode: 200, ErrorCode: "invalid_scope", ErrorDescription: "too wide"},
			wantErrIs: ErrInvalidScope,
		},
		{
			name:     "large error body capped",
			status:   400,
			body:     `{"error":"invalid_request","error_description":"` + bigDescription + `"}`,
			wantRetr: &RetrieveError{StatusCode: 400, ErrorCode: "invalid_request", ErrorDescription: bigDescription},
		},
		{
			name:     "error body over 1 MiB",
			status:   500,
			body:     `{"error":"server_error","x":"` + strings.Repeat("x", 1<<20) + `"}`,
			wantRetr: &RetrieveError{StatusCode: 500},
		},
		{
			name:    "success body over 1 MiB",
			status:  200,
			body:    `{"access_token":"` + strings.Repeat("a", 1<<20) + `","issued_token_type":"urn:x","token_type":"Bearer"}`,
			wantErr: "tokenexchange: Exchange: response larger than 1048576 bytes",
		},
		{
			name:    "not JSON",
			status:  200,
			body:    "access_token=at&token_type=bearer",
			wantErr: "tokenexchange: Exchange: decode response: invalid character 'a' looking for beginning of value",
		},
		{
			name:    "scope not a string",
			status:  200,
			body:    `{"access_token":"at","issued_token_type":"urn:x","token_type":"Bearer","scope":["a"]}`,
			wantErr: "tokenexchange: Exchange: decode response: claims: scope is not a string",
		},
		{
			name:      "missing issued_token_type",
			status:    200,
			body:      `{"access_token":"at","token_type":"Bearer"}`,
			wantErrIs: errIncompleteResponse,
		},
		{
			name:      "missing access_token",
			status:    200,
			body:      `{"issued_token_type":"urn:x","token_type":"Bearer"}`,
			wantErrIs: errIncompleteResponse,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := staticServer(t, tc.status, tc.body)
			got, err := Exchange(t.Context(), testHTTPClient(), srv.URL, testClientID, testSecret, testRequest())
			switch {
			case tc.want != nil:
				require.NoError(t, err)
				assert.Equal(t, tc.want, got)
				return
			case tc.wantRetr != nil:
				assert.Nil(t, got)
				wantBody := tc.body
				if len(wantBody) > 64<<10 {
					wantBody = wantBody[:64<<10]
				}
				assertRetrieveError(t, err, tc.wantRetr, wantBody)
			case tc.wantErr != "":
				require.EqualError(t, err, tc.wantErr)
				assert.Nil(t, got)
			}
			if tc.wantErrIs != nil {
				require.ErrorIs(t, err, tc.wantErrIs)
				assert.Nil(t, got)
			}
		})
	}
}

func TestExchangeArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		hc       *http.Client
		tokenURL string
		clientID string
		req      *Request
		wantErr  string
	}{
		{name: "nil http client", tokenURL: "https://as.example.com/token", clientID: "app", req: testRequest(), wantErr: "tokenexchange: Exchange: nil *http.Client"},
		{name: "nil request", hc: testHTTPClient(), tokenURL: "https://as.example.com/token", clientID: "app", wantErr: "tokenexchange: Exchange: nil *Request"},
		{name: "empty url", hc: testHTTPClient(), clientID: "app", req: testRequest(), wantErr: "tokenexchange: Exchange: empty token URL"},
		{name: "empty client id", hc: testHTTPClient(), tokenURL: "https://as.example.com/token", req: testRequest(), wantErr: "tokenexchange: Exchange: empty client ID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Exchange(t.Context(), tc.hc, tc.tokenURL, tc.clientID, testSecret, tc.req)
			require.EqualError(t, err, tc.wantErr)
			assert.Nil(t, got)
		})
	}
}

func TestExchangeTransportErrors(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	srv := staticServer(t, 200, `{}`)
	tests := []struct {
		name     string
		ctx      context.Context
		tokenURL string
		wantIs   error
	}{
		{name: "canceled context", ctx: canceled, tokenURL: srv.URL, wantIs: context.Canceled},
		{name: "bad url", ctx: t.Context(), tokenURL: "://no-scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Exchange(tc.ctx, testHTTPClient(), tc.tokenURL, testClientID, testSecret, testRequest())
			require.Error(t, err)
			assert.Nil(t, got)
			assert.True(t, strings.HasPrefix(err.Error(), "tokenexchange: Exchange: "), err.Error())
			assert.NotContains(t, err.Error(), testSecret)
			if tc.wantIs != nil {
				require.ErrorIs(t, err, tc.wantIs)
			}
		})
	}
}

// RFC 6749 §2.3.1: the client form-encodes its identifier and secret before
// HTTP Basic encoding; the request body is the form-encoded RFC 8693 §2.1
// request sent with POST.
func TestRFC6749_2_3_1_ExchangeSendsFormEncodedBasicCredentials(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, contentType, accept, rawCreds string
		query                                 string
		form                                  url.Values
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.Header.Get("Authorization"), "Basic "))
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		got <- seen{r.Method, r.Header.Get("Content-Type"), r.Header.Get("Accept"), string(raw), r.URL.RawQuery, form}
		_, _ = io.WriteString(w, `{"access_token":"at","issued_token_type":"urn:x","token_type":"Bearer"}`)
	}))
	t.Cleanup(srv.Close)

	_, err := Exchange(t.Context(), testHTTPClient(), srv.URL+"/token", "my:client%1", "p+ss word", testRequest())
	require.NoError(t, err)
	s := <-got
	assert.Equal(t, http.MethodPost, s.method)
	assert.Equal(t, "application/x-www-form-urlencoded", s.contentType)
	assert.Equal(t, "application/json", s.accept)
	assert.Equal(t, "my%3Aclient%251:p%2Bss+word", s.rawCreds)
	assert.Empty(t, s.query)
	assert.Equal(t, url.Values{
		"grant_type":         {GrantType},
		"subject_token":      {testSubjectToken},
		"subject_token_type": {TokenTypeJWT},
		"actor_token":        {testActorToken},
		"actor_token_type":   {TokenTypeIDToken},
		"audience":           {"orders"},
		"scope":              {"openid orders:read"},
	}, s.form)
}

// TestExchangeAgainstHandler runs the client against the package's own
// Handler, with credentials that need form-encoding.
func TestExchangeAgainstHandler(t *testing.T) {
	t.Parallel()
	const id, secret = "team:a%b", "p+ss w:rd"
	tests := []againstHandlerCase{
		{name: "success", secret: secret},
		{name: "wrong secret", secret: "nope", wantStatus: 401, wantIs: ErrInvalidClient},
		{name: "refused exchange", secret: secret, err: ErrInvalidGrant.WithDescription("subject token already used"), wantStatus: 400, wantIs: ErrInvalidGrant},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex := newFakeExchanger()
			ex.err = tc.err
			h := newTestHandler(t, &fakeAuth{clients: map[string]string{id: secret}}, ex)
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)

			got, err := Exchange(t.Context(), testHTTPClient(), srv.URL, id, tc.secret, testRequest())
			if tc.wantIs != nil {
				assertEndpointError(t, err, "token", tc.wantStatus, tc.wantIs, tc.secret)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, ex.resp, got)
			_, client, req := ex.called()
			assert.Equal(t, Client{ID: id, AuthMethod: AuthMethodBasic}, client)
			want := testRequest()
			want.GrantType = GrantType
			assert.Equal(t, want, req)
		})
	}
}

func TestRetrieveErrorError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *RetrieveError
		want string
	}{
		{name: "status only", err: &RetrieveError{StatusCode: 502, Body: []byte("gateway")}, want: "tokenexchange: token endpoint returned status 502"},
		{name: "code", err: &RetrieveError{StatusCode: 400, ErrorCode: "invalid_grant"}, want: `tokenexchange: token endpoint returned status 400: error "invalid_grant"`},
		{
			name: "all members",
			err:  &RetrieveError{StatusCode: 400, ErrorCode: "invalid_scope", ErrorDescription: "too\nwide", ErrorURI: "https://e.example/x"},
			want: `tokenexchange: token endpoint returned status 400: error "invalid_scope", description "too\nwide", uri "https://e.example/x"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.err.Error())
		})
	}
}

func TestRetrieveErrorIs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{name: "same code", err: &RetrieveError{ErrorCode: "invalid_grant"}, target: ErrInvalidGrant, want: true},
		{name: "other code", err: &RetrieveError{ErrorCode: "invalid_grant"}, target: ErrInvalidScope, want: false},
		{name: "no code", err: &RetrieveError{StatusCode: 500}, target: ErrServerError, want: false},
		{name: "not an Error", err: &RetrieveError{ErrorCode: "x"}, target: errors.New("x"), want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, errors.Is(tc.err, tc.target))
		})
	}
}
