package authorizetoken_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/authorizetoken"
)

// TestVerifyIDTokenHint: an id_token_hint (OpenID Connect RP-Initiated
// Logout 1.0 §2) is an ID token of this issuer, for any client, possibly
// expired; everything else VerifyIDToken checks still holds.
func TestVerifyIDTokenHint(t *testing.T) {
	t.Parallel()
	iss, now, sign := sanityIssuer(t)
	header := `{"alg":"ES256","kid":KID,"typ":"JWT"}`
	hint := func(change func(m map[string]any)) string {
		return sign(header, changedClaims(idClaimsAt(now), change))
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{name: "valid", token: hint(func(map[string]any) {})},
		{name: "expired a second ago", token: hint(func(m map[string]any) {
			m["iat"], m["exp"] = now.Add(-5*time.Minute-time.Second).Unix(), now.Add(-time.Second).Unix()
		})},
		{name: "expired a month ago", token: hint(func(m map[string]any) {
			m["iat"], m["exp"] = now.Add(-30*24*time.Hour).Unix(), now.Add(-30*24*time.Hour+5*time.Minute).Unix()
		})},
		{name: "no azp, one audience", token: hint(func(m map[string]any) { delete(m, "azp") })},
		{name: "several audiences with azp among them", token: hint(func(m map[string]any) {
			m["aud"] = []string{"app", "https://api.example"}
		})},
		{name: "another issuer", token: hint(func(m map[string]any) { m["iss"] = "https://evil.example" }), want: authorizetoken.ErrIssuer},
		{name: "no aud", token: hint(func(m map[string]any) { delete(m, "aud") }), want: authorizetoken.ErrMissingClaim},
		{name: "empty aud", token: hint(func(m map[string]any) { m["aud"] = []string{} }), want: authorizetoken.ErrMissingClaim},
		{name: "azp not an audience", token: hint(func(m map[string]any) { m["azp"] = "app2" }), want: authorizetoken.ErrClientMismatch},
		{name: "no sub", token: hint(func(m map[string]any) { delete(m, "sub") }), want: authorizetoken.ErrMissingClaim},
		{name: "no exp", token: hint(func(m map[string]any) { delete(m, "exp") }), want: authorizetoken.ErrMissingClaim},
		{name: "issued in the future", token: hint(func(m map[string]any) {
			m["iat"], m["exp"] = now.Add(time.Hour).Unix(), now.Add(time.Hour+5*time.Minute).Unix()
		}), want: authorizetoken.ErrIssuedInFuture},
		{name: "expired, and nbf after its exp", token: hint(func(m map[string]any) {
			m["iat"], m["exp"], m["nbf"] = now.Add(-time.Hour).Unix(), now.Add(-50*time.Minute).Unix(), now.Add(-40*time.Minute).Unix()
		}), want: authorizetoken.ErrNotYetValid},
		{name: "expired, and iat after its exp", token: hint(func(m map[string]any) {
			m["iat"], m["exp"] = now.Add(-time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
		}), want: authorizetoken.ErrIssuedInFuture}, // as of its last valid second
		{name: "lives longer than an ID token can", token: hint(func(m map[string]any) {
			m["exp"] = now.Add(authorizetoken.DefaultMaxIDTokenTTL + time.Hour).Unix()
		}), want: authorizetoken.ErrLifetime},
		{name: "a subject token", token: sign("", subjectClaimsAt(now)), want: authorizetoken.ErrTokenType},
		{name: "typ at+jwt", token: sign(`{"alg":"ES256","kid":KID,"typ":"at+jwt"}`, idClaimsAt(now)), want: authorizetoken.ErrTokenType},
		{name: "not a JWT", token: "not-a-token", want: authorizetoken.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := iss.VerifyIDTokenHint(context.Background(), tc.token)
			if tc.want == nil {
				require.NoError(t, err)
				assert.Equal(t, "alice", c.Subject)
				assert.True(t, c.Audience.Contains("app"))
				return
			}
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, c)
		})
	}
}

// TestVerifyIDTokenHint_SignedByAnotherKey: the signature is checked like
// any other token's, expired or not.
func TestVerifyIDTokenHint_SignedByAnotherKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	iss, clk, _ := newTestIssuer(t)
	other, _, _ := newTestIssuer(t)
	tok, _, err := other.MintIDToken(ctx, authorizetoken.IDTokenParams{Subject: "alice", ClientID: "app"})
	require.NoError(t, err)
	_, err = iss.VerifyIDTokenHint(ctx, tok)
	require.ErrorIs(t, err, authorizetoken.ErrUnknownKey, "another issuer's key, under the same issuer name")

	own, _, err := iss.MintIDToken(ctx, authorizetoken.IDTokenParams{Subject: "alice", ClientID: "app"})
	require.NoError(t, err)
	clk.Advance(claims.MaxTokenAge / 2)
	c, err := iss.VerifyIDTokenHint(ctx, own)
	require.NoError(t, err, "its own token, still fine")
	assert.Equal(t, claims.Audience{"app"}, c.Audience)
}
