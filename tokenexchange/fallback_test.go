package tokenexchange

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostEndpoint is the host's own token endpoint behind WithFallback: it
// records what reached it, whole.
type hostEndpoint struct {
	mu     sync.Mutex
	calls  int
	method string
	body   string
	authz  string
}

func (h *hostEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.calls++
	h.method, h.body, h.authz = r.Method, string(b), r.Header.Get("Authorization")
	h.mu.Unlock()
	w.WriteHeader(http.StatusTeapot)
}

func TestWithFallback_RoutesWhatIsNotTheEndpoints(t *testing.T) {
	t.Parallel()
	big := url.Values{"grant_type": {"client_credentials"}, "pad": {strings.Repeat("x", DefaultMaxBodyBytes)}}.Encode()
	tests := []struct {
		name     string
		spec     reqSpec
		wantHost bool
		// wantStatus is the endpoint's answer when it is not the host's.
		wantStatus int
	}{
		{name: "the host's authorization-code grant", wantHost: true, spec: reqSpec{
			authz: []string{basicHeader("host-client", "host-secret")},
			body:  "grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fapp%2Fcb"}},
		{name: "the host's client credentials, secret in the body", wantHost: true, spec: reqSpec{body: "grant_type=client_credentials&client_id=x&client_secret=y"}},
		{name: "a GET", wantHost: true, spec: reqSpec{method: http.MethodGet}},
		{name: "another content type", wantHost: true, spec: reqSpec{contentType: "application/json", body: `{"grant_type":"` + GrantType + `"}`}},
		{name: "a body larger than the endpoint's cap", wantHost: true, spec: reqSpec{body: big}},
		{name: "no grant type", wantHost: true, spec: reqSpec{body: "code=abc"}},
		{name: "token exchange stays the endpoint's", spec: basicSpec(""), wantStatus: http.StatusOK},
		{name: "a repeated grant type naming token exchange stays the endpoint's (and is refused)", spec: basicSpec("&grant_type=authorization_code"), wantStatus: http.StatusBadRequest},
		{name: "token exchange with a parameter in the query stays the endpoint's (and is refused)", spec: func() reqSpec {
			s := basicSpec("")
			s.target = "/token?subject_token=x"
			return s
		}(), wantStatus: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			host := &hostEndpoint{}
			ex := newFakeExchanger()
			var observed int
			h := newTestHandler(t, newFakeAuth(), ex, WithFallback(host), WithErrorObserver(func(*http.Request, string, error) { observed++ }))
			rec := serve(h, tc.spec)
			if tc.wantHost {
				assert.Equal(t, http.StatusTeapot, rec.Code, "the host answered")
				require.Equal(t, 1, host.calls)
				assert.Equal(t, tc.spec.body, host.body, "the whole body, as sent")
				if len(tc.spec.authz) > 0 {
					assert.Equal(t, tc.spec.authz[0], host.authz)
				}
				assert.Zero(t, ex.count(), "the exchanger never ran")
				assert.Zero(t, observed, "the endpoint refused nothing")
				return
			}
			assert.Zero(t, host.calls, "the host never saw the endpoint's request")
			assert.Equal(t, tc.wantStatus, rec.Code, rec.Body.String())
			if tc.wantStatus != http.StatusOK {
				assert.Equal(t, 1, observed, "the endpoint's refusal is observed (and so recorded)")
				assert.Zero(t, ex.count())
			}
		})
	}
}

func TestWithFallback_TokenExchangeStillWorks(t *testing.T) {
	t.Parallel()
	host := &hostEndpoint{}
	ex := newFakeExchanger()
	h := newTestHandler(t, newFakeAuth(), ex, WithFallback(host))
	rec := serve(h, basicSpec(""))
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, 1, ex.count())
	assert.Zero(t, host.calls)
}

func TestWithFallback_OnlyTheTokenEndpoint(t *testing.T) {
	t.Parallel()
	host := http.NotFoundHandler()
	_, err := NewIntrospectionHandler(newFakeAuth(), &fakeIntrospector{}, WithFallback(host))
	assert.Error(t, err)
	_, err = NewRevocationHandler(newFakeAuth(), &fakeRevoker{}, WithFallback(host))
	assert.Error(t, err)
}
