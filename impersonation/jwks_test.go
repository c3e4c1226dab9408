package impersonation_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
)

// fetchJWKS GETs the JWKS from h and parses it with jwx.
func fetchJWKS(t testing.TB, h http.Handler) jwk.Set {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/jwks", nil))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.NotContains(t, w.Body.String(), `"d"`, "no private key material")
	set, err := jwk.Parse(w.Body.Bytes())
	require.NoError(t, err)
	return set
}

// kids returns the key IDs of set, sorted.
func kids(set jwk.Set) []string {
	out := make([]string, 0, set.Len())
	for i := range set.Len() {
		k, _ := set.Key(i)
		out = append(out, k.KeyID())
	}
	slices.Sort(out)
	return out
}

// verifiesWith reports whether tok's signature verifies with a key of set
// chosen by kid.
func verifiesWith(set jwk.Set, tok string) bool {
	_, err := jws.Verify([]byte(tok), jws.WithKeySet(set))
	return err == nil
}

func TestJWKSHandler_ServesKeysThatVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		alg  string
	}{
		{name: "ES256", alg: store.ES256},
		{name: "RS256", alg: store.RS256},
		{name: "EdDSA", alg: store.EdDSA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, withKeyAlgorithm(tc.alg))
			at := f.accessToken(t)

			set := fetchJWKS(t, impersonation.JWKSHandler(f.keys))
			require.Equal(t, 1, set.Len())
			k, ok := set.Key(0)
			require.True(t, ok)
			assert.Equal(t, f.signingKey(t).ID, k.KeyID())
			assert.Equal(t, tc.alg, k.Algorithm().String())
			assert.Equal(t, "sig", k.KeyUsage())
			assert.Equal(t, f.signingKey(t).ID, testkit.DecodeJWT(t, at).Header["kid"])
			assert.True(t, verifiesWith(set, at), "the published key verifies the access token")

			other := newFixture(t, withKeyAlgorithm(tc.alg))
			assert.False(t, verifiesWith(set, other.accessToken(t)), "and nothing else")
		})
	}
}

func TestJWKSHandler_RotationServesBothKeysUntilRetirement(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := impersonation.JWKSHandler(f.keys)
	old := f.signingKey(t)
	oldToken := f.accessToken(t)

	next, err := store.GenerateKey(store.ES256)
	require.NoError(t, err)
	require.NoError(t, f.keys.Rotate(next, f.clock.Now().Add(time.Hour)))
	newToken := f.accessToken(t)
	assert.Equal(t, next.ID, testkit.DecodeJWT(t, newToken).Header["kid"], "new tokens use the new key")

	set := fetchJWKS(t, h)
	assert.Equal(t, sortedIDs(old.ID, next.ID), kids(set))
	assert.True(t, verifiesWith(set, oldToken))
	assert.True(t, verifiesWith(set, newToken))

	f.clock.Advance(time.Hour - time.Second)
	assert.Equal(t, sortedIDs(old.ID, next.ID), kids(fetchJWKS(t, h)), "still served just before retireAt")

	f.clock.Advance(time.Second)
	set = fetchJWKS(t, h)
	assert.Equal(t, []string{next.ID}, kids(set), "only the new key from retireAt")
	assert.False(t, verifiesWith(set, oldToken))
	assert.True(t, verifiesWith(set, newToken))
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func TestJWKSHandler_Methods(t *testing.T) {
	t.Parallel()
	tests := []methodCase{
		{name: "GET", method: http.MethodGet, wantStatus: http.StatusOK, wantBody: true},
		{name: "HEAD", method: http.MethodHead, wantStatus: http.StatusOK},
		{name: "POST", method: http.MethodPost, wantStatus: http.StatusMethodNotAllowed, wantBody: true},
		{name: "DELETE", method: http.MethodDelete, wantStatus: http.StatusMethodNotAllowed, wantBody: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			w := httptest.NewRecorder()
			impersonation.JWKSHandler(f.keys).ServeHTTP(w, httptest.NewRequest(tc.method, "/jwks", nil))
			assert.Equal(t, tc.wantStatus, w.Code)
			assert.Equal(t, tc.wantBody, w.Body.Len() > 0)
			if tc.wantStatus == http.StatusMethodNotAllowed {
				assert.Equal(t, "GET, HEAD", w.Header().Get("Allow"))
			}
		})
	}
}

// failingKeySet fails every look-up.
type failingKeySet struct{}

var _ store.KeySet = failingKeySet{}

func (failingKeySet) PublicKey(context.Context, string) (store.PublicKey, error) {
	return store.PublicKey{}, errors.New("vault: sealed")
}

func (failingKeySet) PublicKeys(context.Context) ([]store.PublicKey, error) {
	return nil, errors.New("vault: sealed")
}

func TestJWKSHandler_KeyStoreFailureIs503(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	impersonation.JWKSHandler(failingKeySet{}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/jwks", nil))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.NotContains(t, w.Body.String(), "vault")
}
