package tokenexchange

import (
	"errors"
	"net/http"
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
	// decision names what the endpoint calls: Exchanger, Introspector or
	// Revoker.
	decision string
	// body returns a valid body for the endpoint followed by extra.
	body func(extra string) string
	// build returns the handler and a function that counts the calls to
	// its decision.
	build func(t testing.TB, auth ClientAuthenticator, opts ...Option) (http.Handler, func() int)
}

// tokenEndpoint builds the introspection or revocation endpoint around a
// fake decision, for the tests of what the two share.
type tokenEndpoint struct {
	name     string
	decision string
	// build returns the handler, whose fake answers with resp (the
	// Introspector only) and err, and the calls to the fake.
	build func(t testing.TB, auth ClientAuthenticator, resp *Introspection, err error, opts ...Option) (http.Handler, *tokenCalls)
}

var (
	introspectionEndpoint = tokenEndpoint{
		name: "introspection", decision: "Introspector",
		build: func(t testing.TB, auth ClientAuthenticator, resp *Introspection, err error, opts ...Option) (http.Handler, *tokenCalls) {
			in := &fakeIntrospector{resp: resp, err: err}
			return requireHandler(t)(NewIntrospectionHandler(auth, in, opts...)), &in.tokenCalls
		},
	}
	revocationEndpoint = tokenEndpoint{
		name: "revocation", decision: "Revoker",
		build: func(t testing.TB, auth ClientAuthenticator, _ *Introspection, err error, opts ...Option) (http.Handler, *tokenCalls) {
			rv := &fakeRevoker{err: err}
			return requireHandler(t)(NewRevocationHandler(auth, rv, opts...)), &rv.tokenCalls
		},
	}
)

// counted is ep as a testEndpoint, its Introspector answering with
// fullIntrospection.
func (ep tokenEndpoint) counted() testEndpoint {
	return testEndpoint{
		name: ep.name, decision: ep.decision, body: tokenBody,
		build: func(t testing.TB, auth ClientAuthenticator, opts ...Option) (http.Handler, func() int) {
			h, calls := ep.build(t, auth, fullIntrospection(), nil, opts...)
			return h, func() int { n, _, _, _ := calls.called(); return n }
		},
	}
}

// tokenTestEndpoint is the token endpoint as a testEndpoint.
var tokenTestEndpoint = testEndpoint{
	name: "token", decision: "Exchanger", body: validBody,
	build: func(t testing.TB, auth ClientAuthenticator, opts ...Option) (http.Handler, func() int) {
		ex := newFakeExchanger()
		return newTestHandler(t, auth, ex, opts...), ex.count
	},
}

func testEndpoints() []testEndpoint {
	return []testEndpoint{tokenTestEndpoint, introspectionEndpoint.counted(), revocationEndpoint.counted()}
}

// rejectCase is a request an endpoint refuses before it calls its decision.
type rejectCase struct {
	name          string
	spec          reqSpec
	wantStatus    int
	wantCode      string
	wantDesc      string
	wantChallenge bool
	wantAllow     bool
}

// runRejectCases sends each request of tests to the endpoint ep builds and
// checks the error response, the Allow header and that the decision was not
// called; check, if not nil, checks the body further.
func runRejectCases(t *testing.T, ep testEndpoint, tests []rejectCase, check func(t testing.TB, body string)) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, calls := ep.build(t, newFakeAuth())
			rec := serve(h, tc.spec)

			assertErrorResponse(t, rec, tc.wantStatus, tc.wantCode, tc.wantDesc, tc.wantChallenge)
			assertAllow(t, rec, tc.wantAllow)
			if check != nil {
				check(t, rec.Body.String())
			}
			assert.Zero(t, calls(), "the %s must not be called", ep.decision)
		})
	}
}

// runUnauthenticatedCases checks that each request of tests, which does not
// authenticate its client, is refused with invalid_client before the
// decision of ep is called.
func runUnauthenticatedCases(t *testing.T, ep testEndpoint, tests []rejectCase) {
	t.Helper()
	runRejectCases(t, ep, withStatus(tests, http.StatusUnauthorized, "invalid_client"), nil)
}

// withStatus sets the status and error code every case of tests expects,
// and returns tests.
func withStatus(tests []rejectCase, status int, code string) []rejectCase {
	for i := range tests {
		tests[i].wantStatus, tests[i].wantCode = status, code
	}
	return tests
}

// decisionErrorCase is an error the decision returns, with the answer resp
// (an *Introspection or a *Response), and the error response it becomes.
type decisionErrorCase[R any] struct {
	name          string
	resp          R
	err           error
	spec          reqSpec
	wantStatus    int
	wantCode      string
	wantDesc      string
	wantChallenge bool
}

// runDecisionErrorCases checks that the decision's error becomes the error
// response, that none of leaks reaches the body and that the observer gets
// the error whole.
func runDecisionErrorCases(t *testing.T, ep tokenEndpoint, tests []decisionErrorCase[*Introspection], leaks []string) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var observedID string
			var observed error
			h, _ := ep.build(t, newFakeAuth(), tc.resp, tc.err,
				WithErrorObserver(func(_ *http.Request, clientID string, err error) { observedID, observed = clientID, err }))
			rec := serve(h, tc.spec)

			assertErrorResponse(t, rec, tc.wantStatus, tc.wantCode, tc.wantDesc, tc.wantChallenge)
			for _, leak := range leaks {
				assert.NotContains(t, rec.Body.String(), leak)
			}
			assert.Equal(t, testClientID, observedID)
			assert.Same(t, tc.err, observed, "the observer gets the %s's error whole", ep.decision)
		})
	}
}

// hintCase is a token_type_hint suffix of a request body and the hint the
// decision must get.
type hintCase struct {
	name     string
	extra    string
	wantHint string
}

// runHintCases checks that ep passes token_type_hint through as sent.
func runHintCases(t *testing.T, ep tokenEndpoint, tests []hintCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, calls := ep.build(t, newFakeAuth(), &Introspection{Active: true}, nil)
			rec := serve(h, basicTokenSpec(tc.extra))

			require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body.String())
			_, _, token, hint := calls.called()
			assert.Equal(t, testToken, token)
			assert.Equal(t, tc.wantHint, hint)
		})
	}
}

// runConcurrentUse sends authenticated and unauthenticated requests to the
// endpoint ep builds at once, for the race detector.
func runConcurrentUse(t *testing.T, ep testEndpoint) {
	t.Helper()
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
			codes[i] = serve(h, spec).Code
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
				rec := serve(h, tc.spec(ep.body))

				wantDesc := strings.ReplaceAll(tc.wantDesc, "%s", ep.name)
				assertErrorResponse(t, rec, tc.wantStatus, tc.wantCode, wantDesc, tc.wantChallenge)
				assertAllow(t, rec, tc.wantAllow)
				assert.NotContains(t, rec.Body.String(), testSecret)
				assert.Zero(t, calls(), "the %s must not be called", ep.decision)
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
	forEachEndpoint(t, runMaxBodyCases)
}

// forEachEndpoint runs run for each of testEndpoints in a parallel subtest
// named after it.
func forEachEndpoint(t *testing.T, run func(t *testing.T, ep testEndpoint)) {
	t.Helper()
	for _, ep := range testEndpoints() {
		t.Run(ep.name, func(t *testing.T) {
			t.Parallel()
			run(t, ep)
		})
	}
}

// runMaxBodyCases checks that the endpoint ep builds accepts a body at the
// WithMaxBodyBytes limit and refuses a larger one.
func runMaxBodyCases(t *testing.T, ep testEndpoint) {
	t.Helper()
	body := ep.body(postCreds)
	tests := []struct {
		name       string
		limit      int64
		wantStatus int
	}{
		{name: "at the limit", limit: int64(len(body)), wantStatus: http.StatusOK},
		{name: "one byte short", limit: int64(len(body)) - 1, wantStatus: http.StatusBadRequest},
		{name: "tiny", limit: 1, wantStatus: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := ep.build(t, newFakeAuth(), WithMaxBodyBytes(tc.limit))
			rec := serve(h, reqSpec{body: body})
			assert.Equal(t, tc.wantStatus, rec.Code, "body: %s", rec.Body.String())
			if tc.wantStatus != http.StatusOK {
				assertErrorResponse(t, rec, tc.wantStatus, "invalid_request", "request body too large", false)
			}
		})
	}
}

// TestEndpointsConcurrentUse runs authenticated and unauthenticated
// requests at every endpoint at once, for the race detector.
func TestEndpointsConcurrentUse(t *testing.T) {
	t.Parallel()
	forEachEndpoint(t, runConcurrentUse)
}
