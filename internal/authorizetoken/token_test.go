package authorizetoken_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testIssuer = "https://idp.example"

func newTestIssuer(t testing.TB, opts ...authorizetoken.Option) (*authorizetoken.Issuer, *testkit.Clock, *memory.KeySet) {
	t.Helper()
	clk := testkit.NewClockAt(time.Unix(1_800_000_000, 0))
	ks, err := memory.GenerateKeySet(store.ES256)
	require.NoError(t, err)
	iss, err := authorizetoken.NewIssuer(testIssuer, ks, append([]authorizetoken.Option{authorizetoken.WithClock(clk.Now)}, opts...)...)
	require.NoError(t, err)
	return iss, clk, ks
}

// segments decodes a JWT's header and payload into maps.
func segments(t testing.TB, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	var out [2]map[string]any
	for i := range 2 {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &out[i]))
	}
	return out[0], out[1]
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestMintSubjectTokenHasExactlyTheReferenceClaims(t *testing.T) {
	t.Parallel()
	iss, clk, ks := newTestIssuer(t)
	tok, c, err := iss.Mint(context.Background(), authorizetoken.Params{
		Subject: "bob", ClientID: "app", Scope: claims.Scope{"openid", "orders:read"}, Actor: "alice",
	})
	require.NoError(t, err)
	hdr, payload := segments(t, tok)
	key, err := ks.SigningKey(context.Background())
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"alg": "ES256", "kid": key.ID, "typ": "subject+jwt"}, hdr)
	assert.Equal(t, []string{"aud", "azp", "client_id", "exp", "iat", "iss", "jti", "may_act", "nbf", "scope", "sub"}, keysOf(payload))
	assert.Equal(t, testIssuer, payload["iss"])
	assert.Equal(t, "bob", payload["sub"])
	assert.Equal(t, "app", payload["aud"])
	assert.Equal(t, "app", payload["azp"])
	assert.Equal(t, "app", payload["client_id"])
	assert.Equal(t, "openid orders:read", payload["scope"])
	assert.Equal(t, map[string]any{"sub": "alice"}, payload["may_act"])
	now := float64(clk.Now().Unix())
	assert.Equal(t, now, payload["iat"])
	assert.Equal(t, now, payload["nbf"])
	assert.Equal(t, now+180, payload["exp"], "180 s by default")
	jti, err := base64.RawURLEncoding.DecodeString(payload["jti"].(string))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(jti), 16, "jti has at least 128 bits")
	assert.Equal(t, c.ID, payload["jti"])
}

func TestMintHonoursTTLAndCarriesAct(t *testing.T) {
	t.Parallel()
	iss, clk, _ := newTestIssuer(t)
	tok, _, err := iss.Mint(context.Background(), authorizetoken.Params{
		Subject: "bob", ClientID: "app", Actor: "alice", TTL: 60 * time.Second,
		Act: &claims.Actor{Subject: "root"},
	})
	require.NoError(t, err)
	_, payload := segments(t, tok)
	assert.Equal(t, float64(clk.Now().Unix()+60), payload["exp"])
	assert.Equal(t, map[string]any{"sub": "root"}, payload["act"])

	_, _, err = iss.Mint(context.Background(), authorizetoken.Params{Subject: "bob", ClientID: "app"})
	assert.Error(t, err, "may_act is required")
	deep := &claims.Actor{Subject: "a", Act: &claims.Actor{Subject: "b", Act: &claims.Actor{Subject: "c", Act: &claims.Actor{Subject: "d", Act: &claims.Actor{Subject: "e"}}}}}
	_, _, err = iss.Mint(context.Background(), authorizetoken.Params{Subject: "bob", ClientID: "app", Actor: "alice", Act: deep})
	assert.ErrorIs(t, err, claims.ErrActTooDeep, "with the new actor the chain would exceed the limit")
}

func TestMintIDToken(t *testing.T) {
	t.Parallel()
	iss, clk, _ := newTestIssuer(t)
	authTime := clk.Now().Add(-time.Minute)
	tok, _, err := iss.MintIDToken(context.Background(), authorizetoken.IDTokenParams{
		Subject: "alice", ClientID: "app", Nonce: "n-1", State: "sample_state", AuthTime: authTime,
	})
	require.NoError(t, err)
	hdr, payload := segments(t, tok)
	assert.Equal(t, "JWT", hdr["typ"])
	assert.Equal(t, []string{"aud", "auth_time", "azp", "exp", "iat", "iss", "jti", "nonce", "s_hash", "sub"}, keysOf(payload))
	assert.Equal(t, "alice", payload["sub"])
	assert.Equal(t, "n-1", payload["nonce"])
	assert.Equal(t, float64(authTime.Unix()), payload["auth_time"])

	// s_hash computed independently: left half of SHA-256, base64url.
	sum := sha256.Sum256([]byte("sample_state"))
	assert.Equal(t, base64.RawURLEncoding.EncodeToString(sum[:16]), payload["s_hash"])

	noState, _, err := iss.MintIDToken(context.Background(), authorizetoken.IDTokenParams{Subject: "alice", ClientID: "app", Nonce: "n"})
	require.NoError(t, err)
	_, p2 := segments(t, noState)
	assert.NotContains(t, p2, "s_hash")
	assert.NotContains(t, p2, "auth_time")
}

func TestVerifySubjectToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	iss, clk, ks := newTestIssuer(t)
	mint := func(p authorizetoken.Params) string {
		tok, _, err := iss.Mint(ctx, p)
		require.NoError(t, err)
		return tok
	}
	base := authorizetoken.Params{Subject: "bob", ClientID: "app", Actor: "alice", Scope: claims.Scope{"openid"}}
	good := mint(base)

	c, err := iss.Verify(ctx, good, "app")
	require.NoError(t, err)
	assert.Equal(t, "bob", c.Subject)
	assert.Equal(t, "alice", c.MayAct.Subject)

	key, err := ks.SigningKey(ctx)
	require.NoError(t, err)
	signed := func(v any, typ string) string {
		tok, err := jose.Sign(key, typ, v)
		require.NoError(t, err)
		return tok
	}
	now := claims.NewNumericDate(clk.Now())
	reg := claims.Registered{Issuer: testIssuer, Subject: "bob", Audience: claims.Audience{"app"}, IssuedAt: now, Expiry: now + 60, ID: "j"}
	idTok, _, err := iss.MintIDToken(ctx, authorizetoken.IDTokenParams{Subject: "bob", ClientID: "app"})
	require.NoError(t, err)

	tests := []struct {
		name   string
		token  string
		client string
		want   error
	}{
		{name: "minted for another client", token: good, client: "other", want: authorizetoken.ErrAudience},
		{name: "client_id differs from aud", token: signed(authorizetoken.Claims{Registered: reg, AuthorizedParty: "app", ClientID: "other", MayAct: &claims.MayAct{Subject: "alice"}}, authorizetoken.HeaderType), client: "app", want: authorizetoken.ErrClientMismatch},
		{name: "azp differs", token: signed(authorizetoken.Claims{Registered: reg, AuthorizedParty: "other", ClientID: "app", MayAct: &claims.MayAct{Subject: "alice"}}, authorizetoken.HeaderType), client: "app", want: authorizetoken.ErrClientMismatch},
		{name: "may_act missing", token: signed(authorizetoken.Claims{Registered: reg, AuthorizedParty: "app", ClientID: "app"}, authorizetoken.HeaderType), client: "app", want: authorizetoken.ErrNoMayAct},
		{name: "may_act without sub", token: signed(authorizetoken.Claims{Registered: reg, AuthorizedParty: "app", ClientID: "app", MayAct: &claims.MayAct{}}, authorizetoken.HeaderType), client: "app", want: authorizetoken.ErrNoMayAct},
		{name: "may_act not an object", token: signed(map[string]any{"iss": testIssuer, "sub": "bob", "aud": "app", "azp": "app", "client_id": "app", "exp": now + 60, "jti": "j", "may_act": "alice"}, authorizetoken.HeaderType), client: "app", want: authorizetoken.ErrMalformed},
		{name: "sub not a string", token: signed(map[string]any{"iss": testIssuer, "sub": 42, "aud": "app", "azp": "app", "client_id": "app", "exp": now + 60, "jti": "j", "may_act": map[string]string{"sub": "alice"}}, authorizetoken.HeaderType), client: "app", want: authorizetoken.ErrMalformed},
		{name: "jti missing", token: signed(authorizetoken.Claims{Registered: claims.Registered{Issuer: testIssuer, Subject: "bob", Audience: claims.Audience{"app"}, Expiry: now + 60}, AuthorizedParty: "app", ClientID: "app", MayAct: &claims.MayAct{Subject: "alice"}}, authorizetoken.HeaderType), client: "app", want: authorizetoken.ErrMissingClaim},
		{name: "wrong issuer", token: signed(authorizetoken.Claims{Registered: claims.Registered{Issuer: "https://evil", Subject: "bob", Audience: claims.Audience{"app"}, Expiry: now + 60, ID: "j"}, AuthorizedParty: "app", ClientID: "app", MayAct: &claims.MayAct{Subject: "alice"}}, authorizetoken.HeaderType), client: "app", want: authorizetoken.ErrIssuer},
		{name: "ID token presented as subject token", token: idTok, client: "app", want: authorizetoken.ErrTokenType},
		{name: "access token typ", token: signed(authorizetoken.Claims{Registered: reg, AuthorizedParty: "app", ClientID: "app", MayAct: &claims.MayAct{Subject: "alice"}}, "at+jwt"), client: "app", want: authorizetoken.ErrTokenType},
		{name: "act nested too deep", token: signed(authorizetoken.Claims{Registered: reg, AuthorizedParty: "app", ClientID: "app", MayAct: &claims.MayAct{Subject: "alice"}, Act: &claims.Actor{Subject: "1", Act: &claims.Actor{Subject: "2", Act: &claims.Actor{Subject: "3", Act: &claims.Actor{Subject: "4", Act: &claims.Actor{Subject: "5"}}}}}}, authorizetoken.HeaderType), client: "app", want: claims.ErrActTooDeep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := iss.Verify(ctx, tc.token, tc.client)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, c)
		})
	}
}

func TestVerifySubjectTokenTimes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	iss, clk, _ := newTestIssuer(t)
	tok, _, err := iss.Mint(ctx, authorizetoken.Params{Subject: "bob", ClientID: "app", Actor: "alice"})
	require.NoError(t, err)

	clk.Advance(authorizetoken.DefaultTTL + 29*time.Second)
	_, err = iss.Verify(ctx, tok, "app")
	assert.NoError(t, err, "expired within the 30 s skew")

	clk.Advance(time.Second)
	_, err = iss.Verify(ctx, tok, "app")
	assert.ErrorIs(t, err, authorizetoken.ErrExpired, "expired past the skew")

	future, clk2, _ := newTestIssuer(t)
	tok2, _, err := future.Mint(ctx, authorizetoken.Params{Subject: "bob", ClientID: "app", Actor: "alice"})
	require.NoError(t, err)
	clk2.Advance(-time.Minute)
	_, err = future.Verify(ctx, tok2, "app")
	assert.ErrorIs(t, err, authorizetoken.ErrNotYetValid)
}

func TestVerifyIDToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	iss, clk, _ := newTestIssuer(t)
	tok, _, err := iss.MintIDToken(ctx, authorizetoken.IDTokenParams{Subject: "alice", ClientID: "app", Nonce: "n"})
	require.NoError(t, err)
	c, err := iss.VerifyIDToken(ctx, tok, "app")
	require.NoError(t, err)
	assert.Equal(t, "alice", c.Subject)

	_, err = iss.VerifyIDToken(ctx, tok, "other")
	assert.ErrorIs(t, err, authorizetoken.ErrAudience, "ID token of another client")

	st, _, err := iss.Mint(ctx, authorizetoken.Params{Subject: "alice", ClientID: "app", Actor: "mallory"})
	require.NoError(t, err)
	_, err = iss.VerifyIDToken(ctx, st, "app")
	assert.ErrorIs(t, err, authorizetoken.ErrTokenType, "a subject token is not an ID token")

	clk.Advance(authorizetoken.DefaultIDTokenTTL + time.Minute)
	_, err = iss.VerifyIDToken(ctx, tok, "app")
	assert.ErrorIs(t, err, authorizetoken.ErrExpired)
}

func TestNewIssuerValidates(t *testing.T) {
	t.Parallel()
	ks, err := memory.GenerateKeySet(store.ES256)
	require.NoError(t, err)
	tests := []struct {
		name string
		iss  string
		keys store.Keys
		opts []authorizetoken.Option
	}{
		{name: "empty issuer", keys: ks},
		{name: "nil keys", iss: testIssuer},
		{name: "negative skew", iss: testIssuer, keys: ks, opts: []authorizetoken.Option{authorizetoken.WithSkew(-time.Second)}},
		{name: "skew above the cap", iss: testIssuer, keys: ks, opts: []authorizetoken.Option{authorizetoken.WithSkew(claims.MaxSkew + time.Second)}},
		{name: "HS256 allowed", iss: testIssuer, keys: ks, opts: []authorizetoken.Option{authorizetoken.WithAlgorithms("HS256")}},
		{name: "none allowed", iss: testIssuer, keys: ks, opts: []authorizetoken.Option{authorizetoken.WithAlgorithms("none")}},
		{name: "empty allowlist", iss: testIssuer, keys: ks, opts: []authorizetoken.Option{authorizetoken.WithAlgorithms()}},
		{name: "nil clock", iss: testIssuer, keys: ks, opts: []authorizetoken.Option{authorizetoken.WithClock(nil)}},
		{name: "zero act depth", iss: testIssuer, keys: ks, opts: []authorizetoken.Option{authorizetoken.WithMaxActDepth(0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := authorizetoken.NewIssuer(tc.iss, tc.keys, tc.opts...)
			assert.Error(t, err)
		})
	}
}

// TestMintRefusesLifetimesAboveTheCap: a lifetime above its cap is an
// error, never silently shortened; at the cap it is minted as asked.
func TestMintRefusesLifetimesAboveTheCap(t *testing.T) {
	t.Parallel()
	iss, clk, _ := newTestIssuer(t)
	ctx := context.Background()
	tok, c, err := iss.Mint(ctx, authorizetoken.Params{Subject: "bob", ClientID: "app", Actor: "alice", TTL: authorizetoken.DefaultMaxTTL + time.Second})
	require.ErrorIs(t, err, authorizetoken.ErrLifetime)
	assert.Empty(t, tok)
	assert.Nil(t, c)
	tok, _, err = iss.Mint(ctx, authorizetoken.Params{Subject: "bob", ClientID: "app", Actor: "alice", TTL: authorizetoken.DefaultMaxTTL})
	require.NoError(t, err)
	_, p := segments(t, tok)
	assert.Equal(t, float64(clk.Now().Add(authorizetoken.DefaultMaxTTL).Unix()), p["exp"])

	id, _, err := iss.MintIDToken(ctx, authorizetoken.IDTokenParams{Subject: "alice", ClientID: "app", TTL: authorizetoken.DefaultMaxIDTokenTTL + time.Second})
	require.ErrorIs(t, err, authorizetoken.ErrLifetime)
	assert.Empty(t, id)
	id, _, err = iss.MintIDToken(ctx, authorizetoken.IDTokenParams{Subject: "alice", ClientID: "app", TTL: authorizetoken.DefaultMaxIDTokenTTL})
	require.NoError(t, err)
	_, p = segments(t, id)
	assert.Equal(t, float64(clk.Now().Add(authorizetoken.DefaultMaxIDTokenTTL).Unix()), p["exp"])
}

// TestCapsRaised: with WithCaps a host allows the flow's reference
// document's 5-hour subject token; its own verifier accepts it, a verifier
// with the default caps refuses it as longer-lived than this issuer makes.
func TestCapsRaised(t *testing.T) {
	t.Parallel()
	iss, clk, ks := newTestIssuer(t, authorizetoken.WithCaps(5*time.Hour, 2*time.Hour))
	ctx := context.Background()
	tok, _, err := iss.Mint(ctx, authorizetoken.Params{Subject: "bob", ClientID: "app", Actor: "alice", TTL: 5 * time.Hour})
	require.NoError(t, err)
	_, err = iss.Verify(ctx, tok, "app")
	require.NoError(t, err)
	strict, err := authorizetoken.NewVerifier(testIssuer, ks, authorizetoken.WithClock(clk.Now))
	require.NoError(t, err)
	_, err = strict.Verify(ctx, tok, "app")
	assert.ErrorIs(t, err, authorizetoken.ErrLifetime)

	id, _, err := iss.MintIDToken(ctx, authorizetoken.IDTokenParams{Subject: "alice", ClientID: "app", TTL: 2 * time.Hour})
	require.NoError(t, err)
	_, err = iss.VerifyIDToken(ctx, id, "app")
	require.NoError(t, err)
}

func TestWithCapsRefusesBadCaps(t *testing.T) {
	t.Parallel()
	ks, err := memory.GenerateKeySet(store.ES256)
	require.NoError(t, err)
	for _, caps := range [][2]time.Duration{
		{0, time.Hour}, {time.Minute, 0}, {-time.Minute, time.Hour},
		{authorizetoken.CeilingTTL + time.Second, time.Hour}, {time.Minute, authorizetoken.CeilingTTL + time.Second},
	} {
		_, err := authorizetoken.NewIssuer(testIssuer, ks, authorizetoken.WithCaps(caps[0], caps[1]))
		assert.Error(t, err, "%v", caps)
	}
}

// publicOnly exposes only the verification half of a key store, as a
// relying party holding the issuer's JWKS has.
type publicOnly struct{ ks store.KeySet }

func (p publicOnly) PublicKey(ctx context.Context, kid string) (store.PublicKey, error) {
	return p.ks.PublicKey(ctx, kid)
}

func (p publicOnly) PublicKeys(ctx context.Context) ([]store.PublicKey, error) {
	return p.ks.PublicKeys(ctx)
}

func TestNewVerifierWithPublicKeysOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	iss, clk, ks := newTestIssuer(t)
	v, err := authorizetoken.NewVerifier(testIssuer, publicOnly{ks}, authorizetoken.WithClock(clk.Now))
	require.NoError(t, err)

	id, _, err := iss.MintIDToken(ctx, authorizetoken.IDTokenParams{Subject: "alice", ClientID: "app", Nonce: "n-1"})
	require.NoError(t, err)
	c, err := v.VerifyIDToken(ctx, id, "app")
	require.NoError(t, err)
	assert.Equal(t, "n-1", c.Nonce)

	_, err = v.VerifyIDToken(ctx, id, "other")
	assert.ErrorIs(t, err, authorizetoken.ErrAudience)

	other, _, _ := newTestIssuer(t)
	forged, _, err := other.MintIDToken(ctx, authorizetoken.IDTokenParams{Subject: "alice", ClientID: "app", Nonce: "n-1"})
	require.NoError(t, err)
	_, err = v.VerifyIDToken(ctx, forged, "app")
	assert.ErrorIs(t, err, authorizetoken.ErrUnknownKey, "signed by another issuer's key")

	_, err = authorizetoken.NewVerifier(testIssuer, nil)
	assert.Error(t, err)
}
