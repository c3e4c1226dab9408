package resource_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
)

// jwksServer serves h and counts the requests it gets.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int32
}

func newJWKSServer(t testing.TB, h http.Handler) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// servedVerifier serves the fixture's own keys as the issuer's JWKS
// endpoint and returns the server and a remoteVerifier reading it.
func (f *fixture) servedVerifier(t testing.TB) (*jwksServer, *resource.Verifier) {
	t.Helper()
	srv := newJWKSServer(t, testkit.JWKSHandler(f.keys))
	v, _ := f.remoteVerifier(t, srv)
	return srv, v
}

// remoteVerifier is a resource server's Verifier reading the issuer's JWKS
// from srv, on the fixture's clock.
func (f *fixture) remoteVerifier(t testing.TB, srv *jwksServer) (*resource.Verifier, *resource.RemoteKeySet) {
	t.Helper()
	hc := srv.Client()
	hc.Timeout = 5 * time.Second
	rks, err := resource.NewRemoteKeySet(srv.URL+"/jwks", hc, resource.WithClock(f.clock.Now))
	require.NoError(t, err)
	v, err := resource.NewVerifier(testIssuer, appID, rks, resource.WithClock(f.clock.Now))
	require.NoError(t, err)
	return v, rks
}

func TestRemoteKeySet_VerifierVerifiesAccessToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv, v := f.servedVerifier(t)

	p, err := v.Verify(context.Background(), f.accessToken(t))
	require.NoError(t, err)
	assert.Equal(t, "bob", p.Subject)
	assert.Equal(t, "alice", p.Actor.Subject)
	assert.Equal(t, int32(1), srv.requests.Load())

	_, err = v.Verify(context.Background(), f.accessToken(t))
	require.NoError(t, err)
	assert.Equal(t, int32(1), srv.requests.Load(), "keys are cached")
}

func TestRemoteKeySet_UnknownKidDoesNotRefetchWithinMinRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv, v := f.servedVerifier(t)
	_, err := v.Verify(context.Background(), f.accessToken(t))
	require.NoError(t, err)
	require.Equal(t, int32(1), srv.requests.Load())

	forged := func() string {
		other, err := store.GenerateKey(store.ES256)
		require.NoError(t, err)
		return testkit.SignRaw(t, other, atHeader(other), f.accessClaims())
	}
	for range 5 {
		_, err = v.Verify(context.Background(), forged())
		require.ErrorIs(t, err, resource.ErrInvalidToken)
	}
	assert.Equal(t, int32(1), srv.requests.Load(), "forged kids do not hammer the issuer")

	f.clock.Advance(resource.DefaultMinRefresh - time.Second)
	_, err = v.Verify(context.Background(), forged())
	require.ErrorIs(t, err, resource.ErrInvalidToken)
	assert.Equal(t, int32(1), srv.requests.Load())

	f.clock.Advance(time.Second)
	_, err = v.Verify(context.Background(), forged())
	require.ErrorIs(t, err, resource.ErrInvalidToken)
	assert.Equal(t, int32(2), srv.requests.Load(), "one refetch once the interval has passed")
}

func TestRemoteKeySet_PicksUpRotatedKeyAfterMinRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv, v := f.servedVerifier(t)
	oldToken := f.accessToken(t)
	_, err := v.Verify(context.Background(), oldToken)
	require.NoError(t, err)

	next, err := store.GenerateKey(store.ES256)
	require.NoError(t, err)
	require.NoError(t, f.keys.Rotate(next, f.clock.Now().Add(time.Hour)))
	newToken := f.accessToken(t)

	// Within the interval the new kid is unknown and not fetched.
	_, err = v.Verify(context.Background(), newToken)
	require.ErrorIs(t, err, resource.ErrInvalidToken)
	assert.Equal(t, int32(1), srv.requests.Load())

	f.clock.Advance(resource.DefaultMinRefresh)
	_, err = v.Verify(context.Background(), newToken)
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), oldToken)
	require.NoError(t, err, "the retired key is still published")
	assert.Equal(t, int32(2), srv.requests.Load())
}

// jwksOf builds a JWK Set document of the given raw keys (private or
// public) with the kid, alg and use given.
type jwksEntry struct {
	raw any
	kid string
	alg string
	use string
}

func jwksOf(t testing.TB, entries ...jwksEntry) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, e := range entries {
		k, err := jwk.FromRaw(e.raw)
		require.NoError(t, err)
		if e.kid != "" {
			require.NoError(t, k.Set(jwk.KeyIDKey, e.kid))
		}
		if e.alg != "" {
			require.NoError(t, k.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(e.alg)))
		}
		if e.use != "" {
			require.NoError(t, k.Set(jwk.KeyUsageKey, e.use))
		}
		require.NoError(t, set.AddKey(k))
	}
	b, err := json.Marshal(set)
	require.NoError(t, err)
	return b
}

func staticJSON(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

func TestRemoteKeySet_IgnoresUnusableKeys(t *testing.T) {
	t.Parallel()
	type keyCase struct {
		name string
		// entry publishes key k (whose private half signs the token).
		entry func(k store.PrivateKey) jwksEntry
	}
	tests := []keyCase{
		{name: "private key published by mistake", entry: func(k store.PrivateKey) jwksEntry {
			return jwksEntry{raw: k.Key, kid: k.ID, alg: k.Algorithm, use: "sig"}
		}},
		{name: "encryption key", entry: func(k store.PrivateKey) jwksEntry {
			return jwksEntry{raw: k.Key.Public(), kid: k.ID, alg: k.Algorithm, use: "enc"}
		}},
		{name: "key without kid", entry: func(k store.PrivateKey) jwksEntry {
			return jwksEntry{raw: k.Key.Public(), alg: k.Algorithm, use: "sig"}
		}},
		{name: "EC key labelled RS256", entry: func(k store.PrivateKey) jwksEntry {
			return jwksEntry{raw: k.Key.Public(), kid: k.ID, alg: store.RS256, use: "sig"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			bad, err := store.GenerateKey(store.ES256)
			require.NoError(t, err)
			good := f.signingKey(t)
			body := jwksOf(t, tc.entry(bad), jwksEntry{raw: good.Key.Public(), kid: good.ID, alg: good.Algorithm, use: "sig"})
			srv := newJWKSServer(t, staticJSON(body))
			v, rks := f.remoteVerifier(t, srv)

			_, err = v.Verify(context.Background(), testkit.SignRaw(t, bad, atHeader(bad), f.accessClaims()))
			require.ErrorIs(t, err, resource.ErrInvalidToken)
			_, err = v.Verify(context.Background(), f.accessToken(t))
			require.NoError(t, err, "the usable key beside it still works")

			pub, err := rks.PublicKeys(context.Background())
			require.NoError(t, err)
			require.Len(t, pub, 1)
			assert.Equal(t, good.ID, pub[0].ID)
		})
	}
}

func TestRemoteKeySet_KeyWithoutAlgTakesItFromKeyType(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	k := f.signingKey(t)
	srv := newJWKSServer(t, staticJSON(jwksOf(t, jwksEntry{raw: k.Key.Public(), kid: k.ID})))
	v, _ := f.remoteVerifier(t, srv)
	_, err := v.Verify(context.Background(), f.accessToken(t))
	require.NoError(t, err)
}

func TestRemoteKeySet_FetchFailureIsNotInvalidToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.Handler
	}{
		{name: "HTTP 500", handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		})},
		{name: "not JSON", handler: staticJSON([]byte("<html>maintenance</html>"))},
		{name: "larger than MaxJWKSBytes", handler: staticJSON([]byte(`{"keys":[],"pad":"` + strings.Repeat("a", resource.MaxJWKSBytes) + `"}`))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			srv := newJWKSServer(t, tc.handler)
			v, _ := f.remoteVerifier(t, srv)
			p, err := v.Verify(context.Background(), f.accessToken(t))
			require.Error(t, err)
			assert.Nil(t, p)
			assert.NotErrorIs(t, err, resource.ErrInvalidToken, "the key source failed, not the token")

			// Through the middleware, once the interval allows a refetch
			// that fails again, that is a 503, not a 401.
			f.clock.Advance(resource.DefaultMinRefresh)
			next := &recordingHandler{}
			w := call(resource.Middleware(v)(next), http.MethodGet, "/orders", "Bearer "+f.accessToken(t))
			assert.Equal(t, http.StatusServiceUnavailable, w.Code)
			assert.Zero(t, next.calls.Load())
		})
	}
}

func TestRemoteKeySet_FailedFetchDoesNotMakeValidTokensInvalid(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var down atomic.Bool
	down.Store(true)
	jwks := testkit.JWKSHandler(f.keys)
	srv := newJWKSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		jwks.ServeHTTP(w, r)
	}))
	v, _ := f.remoteVerifier(t, srv)
	at := f.accessToken(t)

	_, err := v.Verify(context.Background(), at)
	require.Error(t, err)
	require.NotErrorIs(t, err, resource.ErrInvalidToken, "first failure is reported as a key source failure")

	// The issuer is back a moment later: within the min-refresh interval
	// the key set does not refetch, and keeps reporting the failure rather
	// than calling the token invalid.
	down.Store(false)
	f.clock.Advance(time.Second)
	_, err = v.Verify(context.Background(), at)
	require.Error(t, err)
	assert.NotErrorIs(t, err, resource.ErrInvalidToken, "still a key source failure, not an invalid token")

	// After the interval it fetches again; the token is as valid as before.
	f.clock.Advance(resource.DefaultMinRefresh)
	_, err = v.Verify(context.Background(), at)
	assert.NoError(t, err)
}

func TestNewRemoteKeySet_AcceptsHTTPSAndLoopback(t *testing.T) {
	t.Parallel()
	hc := &http.Client{Timeout: time.Second}
	for _, u := range []string{"https://id.example/jwks", "http://127.0.0.1:8080/jwks", "http://[::1]:8080/jwks", "http://localhost:8080/jwks"} {
		r, err := resource.NewRemoteKeySet(u, hc)
		assert.NoError(t, err, u)
		assert.NotNil(t, r, u)
	}
}

func TestNewRemoteKeySet_RejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	hc := &http.Client{Timeout: time.Second}
	tests := []struct {
		name string
		url  string
		hc   *http.Client
	}{
		{name: "empty URL", hc: hc},
		{name: "nil client", url: "https://id.example/jwks"},
		{name: "client without a timeout", url: "https://id.example/jwks", hc: &http.Client{}},
		{name: "http to a host that is not loopback", url: "http://id.example/jwks", hc: hc},
		{name: "http to a private address", url: "http://10.0.0.7/jwks", hc: hc},
		{name: "another scheme", url: "ftp://id.example/jwks", hc: hc},
		{name: "not absolute", url: "/oauth2/jwks", hc: hc},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := resource.NewRemoteKeySet(tc.url, tc.hc)
			require.Error(t, err)
			assert.Nil(t, r)
		})
	}
}

// TestRemoteKeySet_KeyRemovedByIssuerStopsVerifyingAfterMaxAge: a cached
// key is not trusted forever; once the cache is older than the max age the
// set is refetched and a key the issuer dropped stops verifying.
func TestRemoteKeySet_KeyRemovedByIssuerStopsVerifyingAfterMaxAge(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var empty atomic.Bool
	srv := newJWKSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if empty.Load() {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"keys":[]}`))
			return
		}
		testkit.JWKSHandler(f.keys).ServeHTTP(w, r)
	}))
	v, _ := f.remoteVerifier(t, srv)
	at := f.accessToken(t)
	_, err := v.Verify(context.Background(), at)
	require.NoError(t, err)

	empty.Store(true)
	f.clock.Advance(resource.DefaultMaxAge - time.Second)
	_, err = v.Verify(context.Background(), at)
	require.NoError(t, err, "still within the max age: cached")
	assert.Equal(t, int32(1), srv.requests.Load())

	f.clock.Advance(time.Second)
	_, err = v.Verify(context.Background(), at)
	require.ErrorIs(t, err, resource.ErrInvalidToken, "the issuer no longer publishes the key")
	assert.Equal(t, int32(2), srv.requests.Load())
}
