package logoutconfirm_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/internal/logoutconfirm"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
)

const issuer = "https://id.example"

// TestVerify: a confirmation is the issuer's, for the issuer, of this
// kind, within its times and lifetime cap, with a jti and a login.
func TestVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys, err := memory.GenerateKeySet(store.ES256)
	require.NoError(t, err)
	key, err := keys.SigningKey(ctx)
	require.NoError(t, err)
	now := testkit.Start
	valid := func() logoutconfirm.Claims {
		return logoutconfirm.Claims{
			Registered: claims.Registered{
				Issuer: issuer, Subject: "alice", Audience: claims.Audience{issuer},
				IssuedAt: claims.NewNumericDate(now), Expiry: claims.NewNumericDate(now.Add(logoutconfirm.TTL)), ID: "j1",
			},
			Login: "binding", ClientID: "app", RedirectURI: "https://app.example/bye", State: "s",
		}
	}
	tests := []struct {
		name   string
		change func(c *logoutconfirm.Claims)
		typ    string
		want   error
	}{
		{name: "valid", change: func(*logoutconfirm.Claims) {}},
		{name: "another issuer", change: func(c *logoutconfirm.Claims) { c.Issuer = "https://other.example" }, want: claims.ErrIssuer},
		{name: "for a client", change: func(c *logoutconfirm.Claims) { c.Audience = claims.Audience{"app"} }, want: claims.ErrAudience},
		{name: "no jti", change: func(c *logoutconfirm.Claims) { c.ID = "" }, want: claims.ErrMissingClaim},
		{name: "no login", change: func(c *logoutconfirm.Claims) { c.Login = "" }, want: claims.ErrMissingClaim},
		{name: "no iat", change: func(c *logoutconfirm.Claims) { c.IssuedAt = 0 }, want: logoutconfirm.ErrLifetime},
		{name: "lives longer than TTL", change: func(c *logoutconfirm.Claims) {
			c.Expiry = claims.NewNumericDate(now.Add(logoutconfirm.TTL + time.Second))
		}, want: logoutconfirm.ErrLifetime},
		{name: "expired", change: func(c *logoutconfirm.Claims) {
			c.IssuedAt, c.Expiry = claims.NewNumericDate(now.Add(-time.Hour)), claims.NewNumericDate(now.Add(-time.Hour+logoutconfirm.TTL))
		}, want: claims.ErrExpired},
		{name: "an ID token's typ", change: func(*logoutconfirm.Claims) {}, typ: "JWT", want: jose.ErrTokenType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tc.change(&c)
			var (
				tok string
				err error
			)
			if tc.typ == "" {
				tok, err = logoutconfirm.Mint(key, &c)
			} else {
				tok, err = jose.Sign(key, tc.typ, &c)
			}
			require.NoError(t, err)
			got, err := logoutconfirm.Verify(ctx, tok, keys, logoutconfirm.Expect{Issuer: issuer, Now: now, Skew: claims.DefaultSkew, Algs: jose.DefaultAlgorithms})
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c, *got)
			assert.Equal(t, logoutconfirm.HeaderType, testkit.DecodeJWT(t, tok).Header["typ"])
		})
	}
}
