package resource_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
)

func TestVerifier_AcceptsAccessToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	at := f.accessToken(t)
	jwt := testkit.DecodeJWT(t, at)

	p, err := f.verifier(t, appID).Verify(context.Background(), at)
	require.NoError(t, err)
	assert.Equal(t, "bob", p.Subject)
	require.NotNil(t, p.Actor)
	assert.Equal(t, "alice", p.Actor.Subject)
	assert.Nil(t, p.Actor.Act)
	assert.True(t, p.Impersonated())
	assert.Equal(t, appID, p.ClientID)
	assert.Equal(t, claims.Scope{"openid", scopeOrdersRead}, p.Scope)
	assert.Equal(t, claims.Audience{appID}, p.Audience)
	assert.Equal(t, "acme-eu", p.OrgID)
	assert.Equal(t, "ACME Europe", p.OrgName)
	assert.Equal(t, jwt.Str(t, "jti"), p.TokenID)
	assert.Equal(t, f.clock.Now().Add(time.Hour).Unix(), p.Expiry.Unix())
}

func TestVerifier_AcceptsWithinSkew(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	at := f.accessToken(t)
	f.clock.Advance(time.Hour + 10*time.Second)
	_, err := f.verifier(t, appID).Verify(context.Background(), at)
	require.NoError(t, err)
}

func TestVerifier_Rejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// token returns the bearer token presented.
		token    func(t testing.TB, f *fixture) string
		issuer   string
		audience string
	}{
		{name: "subject token presented as bearer", token: func(t testing.TB, f *fixture) string { st, _ := flow(t, f); return st }},
		{name: "ID token presented as bearer", token: func(t testing.TB, f *fixture) string { _, id := flow(t, f); return id }},
		{name: "expired past the skew", token: func(t testing.TB, f *fixture) string {
			at := f.accessToken(t)
			f.clock.Advance(time.Hour + 31*time.Second)
			return at
		}},
		{name: "wrong audience", audience: apiAudience, token: func(t testing.TB, f *fixture) string { return f.accessToken(t) }},
		{name: "wrong issuer", issuer: "https://evil.example", token: func(t testing.TB, f *fixture) string { return f.accessToken(t) }},
		{name: "signed by an unknown key", token: func(t testing.TB, f *fixture) string {
			other, err := store.GenerateKey(store.ES256)
			require.NoError(t, err)
			return testkit.SignRaw(t, other, atHeader(other), f.accessClaims())
		}},
		{name: "unknown key claiming the issuer's kid", token: func(t testing.TB, f *fixture) string {
			other, err := store.GenerateKey(store.ES256)
			require.NoError(t, err)
			return testkit.SignRaw(t, other, atHeader(f.signingKey(t)), f.accessClaims())
		}},
		{name: "alg none", token: func(t testing.TB, f *fixture) string {
			hdr := map[string]any{"alg": "none", "kid": f.signingKey(t).ID, "typ": "at+jwt"}
			return testkit.Segment(t, hdr) + "." + testkit.Segment(t, f.accessClaims()) + ".c2ln"
		}},
		{name: "header alg differs from the key's alg", token: func(t testing.TB, f *fixture) string {
			key := f.signingKey(t)
			hdr := atHeader(key)
			hdr["alg"] = store.RS256
			return testkit.SignRaw(t, key, hdr, f.accessClaims())
		}},
		{name: "header typ missing", token: func(t testing.TB, f *fixture) string {
			key := f.signingKey(t)
			return testkit.SignRaw(t, key, map[string]any{"alg": key.Algorithm, "kid": key.ID}, f.accessClaims())
		}},
		{name: "crit header", token: func(t testing.TB, f *fixture) string {
			key := f.signingKey(t)
			hdr := atHeader(key)
			hdr["crit"] = []string{"exp"}
			return testkit.SignRaw(t, key, hdr, f.accessClaims())
		}},
		{name: "payload tampered", token: func(t testing.TB, f *fixture) string {
			parts := strings.Split(f.accessToken(t), ".")
			c := f.accessClaims()
			c["scope"] = "openid orders:read orders:write"
			return parts[0] + "." + testkit.Segment(t, c) + "." + parts[2]
		}},
		{name: "client_id missing", token: withClaims(func(_ *fixture, c map[string]any) {
			delete(c, "client_id")
		})},
		{name: "jti missing", token: withClaims(func(_ *fixture, c map[string]any) {
			delete(c, "jti")
		})},
		{name: "exp missing", token: withClaims(func(_ *fixture, c map[string]any) {
			delete(c, "exp")
		})},
		{name: "not yet valid", token: withClaims(func(f *fixture, c map[string]any) {
			c["nbf"] = f.clock.Now().Add(2 * time.Minute).Unix()
		})},
		{name: "act chain too deep", token: withClaims(func(_ *fixture, c map[string]any) {
			c["act"] = testkit.ActChain(claims.DefaultMaxActDepth + 1)
		})},
		{name: "act without sub", token: withClaims(func(_ *fixture, c map[string]any) {
			c["act"] = map[string]any{"act": map[string]any{"sub": "alice"}}
		})},
		{name: "trailing data after the claims", token: func(t testing.TB, f *fixture) string {
			key := f.signingKey(t)
			return signRawPayload(t, key, atHeader(key), []byte(`{"sub":"bob"} {"sub":"mallory"}`))
		}},
		{name: "garbage", token: func(testing.TB, *fixture) string { return "garbage" }},
		{name: "four segments", token: func(t testing.TB, f *fixture) string { return f.accessToken(t) + ".x" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			iss, aud := testIssuer, appID
			if tc.issuer != "" {
				iss = tc.issuer
			}
			if tc.audience != "" {
				aud = tc.audience
			}
			tok := tc.token(t, f)
			v, err := resource.NewVerifier(iss, aud, f.keys, resource.WithClock(f.clock.Now))
			require.NoError(t, err)
			p, err := v.Verify(context.Background(), tok)
			require.ErrorIs(t, err, resource.ErrInvalidToken)
			assert.Nil(t, p)
			assert.NotContains(t, err.Error(), tok, "the error never holds the token")
		})
	}
}

// signRawPayload signs payload bytes as they are.
func signRawPayload(t testing.TB, key store.PrivateKey, header map[string]any, payload []byte) string {
	t.Helper()
	input := testkit.Segment(t, header) + "." + testkit.B64(payload)
	return input + "." + testkit.Sign(t, key, input)
}

func TestVerifier_RevokedToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	at := f.accessToken(t)
	v := f.verifier(t, appID, resource.WithRevocation(f.db))
	p, err := v.Verify(context.Background(), at)
	require.NoError(t, err)

	require.NoError(t, f.db.Revoke(context.Background(), p.TokenID, p.Expiry))
	p2, err := v.Verify(context.Background(), at)
	require.ErrorIs(t, err, resource.ErrRevoked)
	require.ErrorIs(t, err, resource.ErrInvalidToken)
	assert.Nil(t, p2)

	// Another token of the same flow is unaffected.
	_, err = v.Verify(context.Background(), f.accessToken(t))
	require.NoError(t, err)
}

// failingRevocation fails every look-up.
type failingRevocation struct{}

var _ store.Revocation = failingRevocation{}

var errRevocationDown = errors.New("revocation: redis timeout")

func (failingRevocation) Revoke(context.Context, string, time.Time) error { return errRevocationDown }
func (failingRevocation) Revoked(context.Context, string) (bool, error) {
	return false, errRevocationDown
}

func TestVerifier_RevocationStoreFailureIsNotInvalidToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := f.verifier(t, appID, resource.WithRevocation(failingRevocation{}))
	p, err := v.Verify(context.Background(), f.accessToken(t))
	require.ErrorIs(t, err, errRevocationDown)
	assert.NotErrorIs(t, err, resource.ErrInvalidToken, "the token may be fine and the store down")
	assert.Nil(t, p)
}

func TestVerifier_RetiredKeyVerifiesUntilRetireAt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	at := f.accessToken(t)
	next, err := store.GenerateKey(store.ES256)
	require.NoError(t, err)
	require.NoError(t, f.keys.Rotate(next, f.clock.Now().Add(time.Hour)))

	v := f.verifier(t, appID)
	_, err = v.Verify(context.Background(), at)
	require.NoError(t, err, "the retired key verifies until retireAt")
	f.clock.Advance(time.Hour)
	_, err = v.Verify(context.Background(), at)
	require.ErrorIs(t, err, resource.ErrInvalidToken)
}

func TestNewVerifier_RejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	keys, err := memory.GenerateKeySet(store.ES256)
	require.NoError(t, err)
	tests := []struct {
		name     string
		iss, aud string
		keys     store.KeySet
		opts     []resource.Option
	}{
		{name: "empty issuer", aud: appID, keys: keys},
		{name: "empty audience", iss: testIssuer, keys: keys},
		{name: "nil keys", iss: testIssuer, aud: appID},
		{name: "nil clock", iss: testIssuer, aud: appID, keys: keys, opts: []resource.Option{resource.WithClock(nil)}},
		{name: "negative skew", iss: testIssuer, aud: appID, keys: keys, opts: []resource.Option{resource.WithSkew(-time.Second)}},
		{name: "skew beyond the maximum", iss: testIssuer, aud: appID, keys: keys, opts: []resource.Option{resource.WithSkew(claims.MaxSkew + time.Second)}},
		{name: "act depth zero", iss: testIssuer, aud: appID, keys: keys, opts: []resource.Option{resource.WithMaxActDepth(0)}},
		{name: "no algorithm", iss: testIssuer, aud: appID, keys: keys, opts: []resource.Option{resource.WithAlgorithms()}},
		{name: "alg none", iss: testIssuer, aud: appID, keys: keys, opts: []resource.Option{resource.WithAlgorithms("none")}},
		{name: "HS256", iss: testIssuer, aud: appID, keys: keys, opts: []resource.Option{resource.WithAlgorithms("HS256")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := resource.NewVerifier(tc.iss, tc.aud, tc.keys, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, v)
		})
	}
}

func TestVerifier_AlgorithmAllowList(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	at := f.accessToken(t) // ES256
	v := f.verifier(t, appID, resource.WithAlgorithms(store.RS256))
	_, err := v.Verify(context.Background(), at)
	require.ErrorIs(t, err, resource.ErrInvalidToken)
}
