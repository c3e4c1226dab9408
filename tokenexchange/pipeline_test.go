package tokenexchange

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testEndpoint builds one of the three endpoints for the tests of the
// shared pipeline.
type testEndpoint struct {
	name string
	// body returns a valid body for the endpoint followed by extra.
	body func(extra string) string
	// build returns the handler and a function that counts the calls to
	// its Exchanger, Introspector or Revoker.
	build func(t testing.TB, auth ClientAuthenticator, opts ...Option) (http.Handler, func() int)
}

func testEndpoints() []testEndpoint {
	return []testEndpoint{
		{
			name: "token",
			body: validBody,
			build: func(t testing.TB, auth ClientAuthenticator, opts ...Option) (http.Handler, func() int) {
				ex := newFakeExchanger()
				return newTestHandler(t, auth, ex, opts...), func() int { n, _, _ := ex.called(); return n }
			},
		},
		{
			name: "introspection",
			body: tokenBody,
			build: func(t testing.TB, auth ClientAuthenticator, opts ...Option) (http.Handler, func() int) {
				in := &fakeIntrospector{resp: &Introspection{Active: true}}
				return newTestIntrospectionHandler(t, auth, in, opts...), func() int { n, _, _, _ := in.called(); return n }
			},
		},
		{
			name: "revocation",
			body: tokenBody,
			build: func(t testing.TB, auth ClientAuthenticator, opts ...Option) (http.Handler, func() int) {
				rv := &fakeRevoker{}
				return newTestRevocationHandler(t, auth, rv, opts...), func() int { n, _, _, _ := rv.called(); return n }
			},
		},
	}
}

// TestEndpointsSharePipeline runs the checks every endpoint makes before its
// own parameters against all three, with the same expectations: one
// implementation, one behaviour.
func TestEndpointsSharePipeline(t *testing.T) {
	t.Parallel()
	basic := []string{basicHeader(testClientID, testSecret)}
	tests := []struct {
		name          string
		authErr       error
		spec          func(body func(string) string) reqSpec
		wantStatus    int
		wantCode      string
		wantDesc      string // "%s" is the endpoint name
		wantChallenge bool
		wantAllow     bool
		wantID        string // client ID the observer gets
	}{
		{name: "GET", spec: func(b func(string) string) reqSpec { return reqSpec{method: http.MethodGet, authz: basic, body: b("")} }, wantStatus: 405, wantCode: "invalid_request", wantDesc: "the %s endpoint accepts only POST", wantAllow: true},
		{name: "PUT", spec: func(b func(string) string) reqSpec { return reqSpec{method: http.MethodPut, authz: basic, body: b("")} }, wantStatus: 405, wantCode: "invalid_request", wantAllow: true},
		{name: "no content type", spec: func(b func(string) string) reqSpec { return reqSpec{noContentType: true, body: b(postCreds)} }, wantStatus: 400, wantCode: "invalid_request", wantDesc: "Content-Type must be application/x-www-form-urlencoded"},
		{name: "multipart", spec: func(b func(string) string) reqSpec {
			return reqSpec{contentType: "multipart/form-data; boundary=x", body: b(postCreds)}
		}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "Content-Type must be application/x-www-form-urlencoded"},
		{name: "body over the limit", spec: func(b func(string) string) reqSpec {
			return reqSpec{authz: basic, body: b("&pad=" + strings.Repeat("a", DefaultMaxBodyBytes))}
		}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "request body too large"},
		{name: "malformed body", spec: func(b func(string) string) reqSpec { return reqSpec{authz: basic, body: b("&x=%zz")} }, wantStatus: 400, wantCode: "invalid_request", wantDesc: "malformed request body"},
		{name: "client_secret in query", spec: func(b func(string) string) reqSpec {
			return reqSpec{target: "/x?client_secret=" + testSecret, body: b(postCreds)}
		}, wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter not allowed in the URL query: client_secret"},
		{name: "repeated client_id", spec: func(b func(string) string) reqSpec { return reqSpec{body: b(postCreds + "&client_id=other")} }, wantStatus: 400, wantCode: "invalid_request", wantDesc: "parameter given more than once: client_id"},
		{name: "basic and post", spec: func(b func(string) string) reqSpec { return reqSpec{authz: basic, body: b(postCreds)} }, wantStatus: 400, wantCode: "invalid_request", wantDesc: "more than one client authentication method"},
		{name: "two authorization headers", spec: func(b func(string) string) reqSpec { return reqSpec{authz: append(basic, basic...), body: b("")} }, wantStatus: 400, wantCode: "invalid_request", wantDesc: "more than one Authorization header"},
		{name: "client_id differs from basic", spec: func(b func(string) string) reqSpec { return reqSpec{authz: basic, body: b("&client_id=other")} }, wantStatus: 400, wantCode: "invalid_request", wantDesc: "client_id does not match the Authorization header", wantID: testClientID},
		{name: "no credentials", spec: func(b func(string) string) reqSpec { return reqSpec{body: b("")} }, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication required"},
		{name: "basic wrong secret challenges", spec: func(b func(string) string) reqSpec {
			return reqSpec{authz: []string{basicHeader(testClientID, "wrong")}, body: b("")}
		}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed", wantChallenge: true, wantID: testClientID},
		{name: "basic malformed challenges", spec: func(b func(string) string) reqSpec { return reqSpec{authz: []string{"Basic !!!"}, body: b("")} }, wantStatus: 401, wantCode: "invalid_client", wantDesc: "malformed Basic credentials", wantChallenge: true},
		{name: "post wrong secret does not challenge", spec: func(b func(string) string) reqSpec {
			return reqSpec{body: b("&client_id=" + testClientID + "&client_secret=wrong")}
		}, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed", wantID: testClientID},
		{name: "authenticator unavailable", authErr: ErrTemporarilyUnavailable, spec: func(b func(string) string) reqSpec { return reqSpec{authz: basic, body: b("")} }, wantStatus: 503, wantCode: "temporarily_unavailable", wantID: testClientID},
		{name: "authenticator plain error", authErr: errors.New("client store: no rows"), spec: func(b func(string) string) reqSpec { return reqSpec{authz: basic, body: b("")} }, wantStatus: 401, wantCode: "invalid_client", wantDesc: "client authentication failed", wantChallenge: true, wantID: testClientID},
	}
	for _, ep := range testEndpoints() {
		for _, tc := range tests {
			t.Run(ep.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				var (
					observed   bool
					observedID string
					observedEr error
				)
				auth := newFakeAuth()
				auth.err = tc.authErr
				h, calls := ep.build(t, auth, WithErrorObserver(func(_ *http.Request, clientID string, err error) {
					observed, observedID, observedEr = true, clientID, err
				}))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, tc.spec(ep.body).build())

				wantDesc := strings.ReplaceAll(tc.wantDesc, "%s", ep.name)
				assertErrorResponse(t, rec, tc.wantStatus, tc.wantCode, wantDesc, tc.wantChallenge)
				if tc.wantAllow {
					assert.Equal(t, http.MethodPost, rec.Header().Get("Allow"))
				} else {
					assert.Empty(t, rec.Header().Get("Allow"))
				}
				assert.NotContains(t, rec.Body.String(), testSecret)
				assert.Zero(t, calls(), "the decision must not be called")
				require.True(t, observed, "the observer must see every refusal")
				assert.Equal(t, tc.wantID, observedID)
				if tc.authErr != nil && tc.wantCode == "invalid_client" {
					assert.ErrorIs(t, observedEr, tc.authErr)
				}
			})
		}
	}
}

// TestEndpointsWithMaxBodyBytes checks that every endpoint honours the
// option the same way.
func TestEndpointsWithMaxBodyBytes(t *testing.T) {
	t.Parallel()
	for _, ep := range testEndpoints() {
		body := ep.body(postCreds)
		tests := []struct {
			name       string
			limit      int64
			wantStatus int
		}{
			{name: "at the limit", limit: int64(len(body)), wantStatus: http.StatusOK},
			{name: "one byte short", limit: int64(len(body)) - 1, wantStatus: http.StatusBadRequest},
		}
		for _, tc := range tests {
			t.Run(ep.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				h, _ := ep.build(t, newFakeAuth(), WithMaxBodyBytes(tc.limit))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, reqSpec{body: body}.build())
				assert.Equal(t, tc.wantStatus, rec.Code, "body: %s", rec.Body.String())
			})
		}
	}
}

// TestEndpointsConcurrentUse runs authenticated and unauthenticated
// requests at every endpoint at once, for the race detector.
func TestEndpointsConcurrentUse(t *testing.T) {
	t.Parallel()
	for _, ep := range testEndpoints() {
		t.Run(ep.name, func(t *testing.T) {
			t.Parallel()
			h, calls := ep.build(t, newFakeAuth(), WithErrorObserver(func(*http.Request, string, error) {}))
			const n = 32
			codes := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					spec := reqSpec{authz: []string{basicHeader(testClientID, testSecret)}, body: ep.body("")}
					if i%2 == 1 {
						spec = reqSpec{body: ep.body("")} // unauthenticated
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, spec.build())
					codes[i] = rec.Code
				})
			}
			wg.Wait()
			for i, c := range codes {
				if i%2 == 1 {
					assert.Equal(t, http.StatusUnauthorized, c)
				} else {
					assert.Equal(t, http.StatusOK, c)
				}
			}
			assert.Equal(t, n/2, calls())
		})
	}
}
