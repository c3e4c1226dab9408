package interop_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/client/rs"
	"github.com/zitadel/oidc/v3/pkg/client/tokenexchange"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// The github.com/zitadel/oidc/v3 client performs the token exchange
// against actas's token endpoint (pkg/client/tokenexchange), reads the
// access token with zitadel's own verifier (op.VerifyAccessToken over
// rp.NewRemoteKeySet) and introspects it with its resource server client
// (pkg/client/rs), and reads the impersonated user's claims at the
// UserInfo endpoint with its relying party (rp.Userinfo). Negative: the
// RFC errors surface as zitadel's *oidc.Error.

// zitadelExchange sends the token exchange with zitadel's client: bob's
// subject token, alice's ID token as the actor token, the demo API's
// audience.
func zitadelExchange(ctx context.Context, te tokenexchange.TokenExchanger, issuer string, tokens fragmentTokens) (*oidc.TokenExchangeResponse, error) {
	return tokenexchange.ExchangeToken(ctx, te,
		tokens.SubjectToken, oidc.JWTTokenType,
		tokens.IDToken, oidc.IDTokenType,
		nil,                       // resource
		[]string{issuer + "/api"}, // audience
		nil,                       // scope: all that was granted
		oidc.AccessTokenType,
	)
}

// newZitadelExchanger discovers the token endpoint with zitadel's client
// and authenticates as cli with secret (client_secret_basic).
func newZitadelExchanger(t *testing.T, issuer, secret string) tokenexchange.TokenExchanger {
	t.Helper()
	te, err := tokenexchange.NewTokenExchangerClientCredentials(t.Context(), issuer, clientID, secret,
		tokenexchange.WithHTTPClient(&http.Client{Timeout: httpTimeout}))
	require.NoError(t, err)
	require.Equal(t, issuer+"/oauth2/token", te.TokenEndpoint())
	return te
}

// requireOIDCError asserts that err is zitadel's *oidc.Error with the
// error code code.
func requireOIDCError(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	var oerr *oidc.Error
	require.True(t, errors.As(err, &oerr), "not an *oidc.Error: %T %v", err, err)
	assert.Equal(t, code, string(oerr.ErrorType), "error_description: %s", oerr.Description)
}

func TestZitadelTokenExchange(t *testing.T) {
	srv := startServer(t, freePort(t), "")
	issuer := srv.Issuer
	hc := &http.Client{Timeout: httpTimeout}
	browser := signIn(t, issuer)

	t.Run("exchange, verify, introspect", func(t *testing.T) {
		tokens := authorize(t, browser, issuer)
		resp, err := zitadelExchange(t.Context(), newZitadelExchanger(t, issuer, clientSecret), issuer, tokens)
		require.NoError(t, err)
		assert.Equal(t, oidc.AccessTokenType, resp.IssuedTokenType)
		assert.Equal(t, oidc.BearerToken, resp.TokenType)
		assert.EqualValues(t, 3600, resp.ExpiresIn)
		assert.Equal(t, []string{"openid", "orders:read"}, []string(resp.Scopes))
		assert.Empty(t, resp.RefreshToken)

		// openid granted: the impersonated user's ID token comes too, and
		// zitadel's relying-party verifier accepts it (issuer, audience,
		// signature, expiry, iat, nonce absent as none was bound).
		keySet := rp.NewRemoteKeySet(hc, issuer+"/oauth2/jwks")
		require.NotEmpty(t, resp.IDToken)
		idClaims, err := rp.VerifyIDToken[*oidc.IDTokenClaims](t.Context(), resp.IDToken,
			rp.NewIDTokenVerifier(issuer, clientID, keySet, rp.WithSupportedSigningAlgorithms("ES256")))
		require.NoError(t, err, "zitadel refused the exchanged ID token")
		assert.Equal(t, "bob", idClaims.Subject)
		require.NotNil(t, idClaims.Actor, "no act claim in the ID token")
		assert.Equal(t, "alice", idClaims.Actor.Subject)
		assert.Equal(t, clientID, idClaims.AuthorizedParty)
		assert.Empty(t, idClaims.Nonce)

		// zitadel's access token verifier: issuer, signature (from the
		// JWKS), expiry. The audience and act are the caller's to read.
		verifier := op.NewAccessTokenVerifier(issuer, keySet, op.WithSupportedAccessTokenSigningAlgorithms("ES256"))
		claims, err := op.VerifyAccessToken[*oidc.AccessTokenClaims](t.Context(), resp.AccessToken, verifier)
		require.NoError(t, err, "zitadel refused the access token")
		assert.Equal(t, "bob", claims.Subject)
		require.NotNil(t, claims.Actor, "no act claim")
		assert.Equal(t, "alice", claims.Actor.Subject)
		assert.Nil(t, claims.Actor.Actor)
		assert.Equal(t, oidc.Audience{issuer + "/api"}, claims.Audience)
		assert.Equal(t, clientID, claims.ClientID)
		assert.Equal(t, []string{"openid", "orders:read"}, []string(claims.Scopes))
		assert.Equal(t, "acme-eu", claims.Claims["org_id"])

		// zitadel's resource server client introspects it.
		server, err := rs.NewResourceServerClientCredentials(t.Context(), issuer, clientID, clientSecret, rs.WithClient(hc))
		require.NoError(t, err)
		intro, err := rs.Introspect[*oidc.IntrospectionResponse](t.Context(), server, resp.AccessToken)
		require.NoError(t, err)
		assert.True(t, intro.Active)
		assert.Equal(t, "bob", intro.Subject)
		require.NotNil(t, intro.Actor)
		assert.Equal(t, "alice", intro.Actor.Subject)
		assert.Equal(t, clientID, intro.ClientID)
		assert.Equal(t, issuer, intro.Issuer)
		assert.Equal(t, []string{"openid", "orders:read"}, []string(intro.Scope))
	})

	t.Run("userinfo with the exchanged token", func(t *testing.T) {
		resp, err := zitadelExchange(t.Context(), newZitadelExchanger(t, issuer, clientSecret), issuer, authorize(t, browser, issuer))
		require.NoError(t, err)
		relying, err := rp.NewRelyingPartyOIDC(t.Context(), issuer, clientID, clientSecret, redirectURI, []string{"openid"}, rp.WithHTTPClient(hc))
		require.NoError(t, err)
		require.Equal(t, issuer+"/oauth2/userinfo", relying.UserinfoEndpoint(), "from discovery")

		// rp.Userinfo compares sub with the subject the caller expects:
		// bob, whom the token speaks for.
		info, err := rp.Userinfo[*oidc.UserInfo](t.Context(), resp.AccessToken, resp.TokenType, "bob", relying)
		require.NoError(t, err)
		assert.Equal(t, "bob", info.Subject)
		assert.Equal(t, map[string]any{"sub": "alice"}, info.Claims["act"], "who is acting, in the claims zitadel leaves to the caller")
		assert.Equal(t, "acme-eu", info.Claims["org_id"])
		assert.Equal(t, "ACME Europe", info.Claims["org_name"])
		assert.Empty(t, info.Email, "no email scope")

		_, err = rp.Userinfo[*oidc.UserInfo](t.Context(), resp.AccessToken, resp.TokenType, "alice", relying)
		require.ErrorIs(t, err, rp.ErrUserInfoSubNotMatching, "the token is not the impersonator's")
	})

	t.Run("negative: a replayed subject token is invalid_request", func(t *testing.T) {
		tokens := authorize(t, browser, issuer)
		te := newZitadelExchanger(t, issuer, clientSecret)
		_, err := zitadelExchange(t.Context(), te, issuer, tokens)
		require.NoError(t, err)
		_, err = zitadelExchange(t.Context(), te, issuer, tokens)
		requireOIDCError(t, err, "invalid_request")
	})

	t.Run("negative: a bad client secret is invalid_client", func(t *testing.T) {
		tokens := authorize(t, browser, issuer)
		_, err := zitadelExchange(t.Context(), newZitadelExchanger(t, issuer, "not-the-secret"), issuer, tokens)
		requireOIDCError(t, err, "invalid_client")
		// The refused attempt did not consume the subject token.
		_, err = zitadelExchange(t.Context(), newZitadelExchanger(t, issuer, clientSecret), issuer, tokens)
		require.NoError(t, err)
	})

	srv.stop(t)
}
