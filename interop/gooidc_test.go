package interop_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// github.com/coreos/go-oidc/v3 verifies actas's ID tokens and access
// tokens through the server's discovery document and JWKS, across a key
// rotation, and reads the UserInfo endpoint.

// accessClaims are the access token claims go-oidc leaves to the caller.
type accessClaims struct {
	Act      *struct{ Sub string } `json:"act"`
	Scope    string                `json:"scope"`
	ClientID string                `json:"client_id"`
	Azp      string                `json:"azp"`
	OrgID    string                `json:"org_id"`
}

// goOIDC is a go-oidc provider discovered from the server, and its two
// verifiers, sharing the provider's remote key set.
type goOIDC struct {
	provider *oidc.Provider
	idTokens *oidc.IDTokenVerifier // the client cli's ID tokens
	access   *oidc.IDTokenVerifier // access tokens for the demo API (aud <issuer>/api)
}

func newGoOIDC(t *testing.T, issuer string) goOIDC {
	t.Helper()
	ctx := oidc.ClientContext(t.Context(), &http.Client{Timeout: httpTimeout})
	provider, err := oidc.NewProvider(ctx, issuer)
	require.NoError(t, err)
	require.Equal(t, issuer+"/oauth2/authorize", provider.Endpoint().AuthURL)
	require.Equal(t, issuer+"/oauth2/token", provider.Endpoint().TokenURL)
	return goOIDC{
		provider: provider,
		idTokens: provider.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{oidc.ES256}}),
		access:   provider.Verifier(&oidc.Config{ClientID: issuer + "/api", SupportedSigningAlgs: []string{oidc.ES256}}),
	}
}

// checkIDToken verifies alice's ID token with go-oidc.
func (g goOIDC) checkIDToken(t *testing.T, issuer string, tokens fragmentTokens) {
	t.Helper()
	id, err := g.idTokens.Verify(context.Background(), tokens.IDToken)
	require.NoError(t, err, "go-oidc refused the ID token")
	assert.Equal(t, issuer, id.Issuer)
	assert.Equal(t, "alice", id.Subject)
	assert.Equal(t, []string{clientID}, id.Audience)
	assert.Equal(t, tokens.Nonce, id.Nonce, "the nonce the caller must compare")
}

// checkAccessToken verifies the access token with go-oidc and checks the
// claims go-oidc leaves to the caller; it returns the token's kid.
func (g goOIDC) checkAccessToken(t *testing.T, issuer, accessToken string) string {
	t.Helper()
	tok, err := g.access.Verify(context.Background(), accessToken)
	require.NoError(t, err, "go-oidc refused the access token")
	assert.Equal(t, issuer, tok.Issuer)
	assert.Equal(t, "bob", tok.Subject)
	assert.Equal(t, []string{issuer + "/api"}, tok.Audience)
	var c accessClaims
	require.NoError(t, tok.Claims(&c))
	require.NotNil(t, c.Act, "no act claim")
	assert.Equal(t, "alice", c.Act.Sub)
	assert.Equal(t, grantedScope, c.Scope)
	assert.Equal(t, clientID, c.ClientID)
	assert.Equal(t, "acme-eu", c.OrgID)
	// go-oidc does not look at typ: the caller does (RFC 9068 §4).
	typ, kid := joseHeader(t, accessToken)
	assert.Equal(t, "at+jwt", typ)
	return kid
}

// joseHeader returns the typ and kid of a compact JWS, parsed by go-jose.
func joseHeader(t *testing.T, token string) (typ, kid string) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256})
	require.NoError(t, err)
	require.Len(t, jws.Signatures, 1)
	h := jws.Signatures[0].Header
	typ, _ = h.ExtraHeaders[jose.HeaderType].(string)
	return typ, h.KeyID
}

// jwksKeyIDs returns the kids the server's JWKS lists.
func jwksKeyIDs(t *testing.T, issuer string) []string {
	t.Helper()
	resp, err := (&http.Client{Timeout: httpTimeout}).Get(issuer + "/oauth2/jwks")
	require.NoError(t, err)
	var set jose.JSONWebKeySet
	require.NoError(t, json.Unmarshal([]byte(readAll(t, resp)), &set))
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

// TestGoOIDCVerifiesAcrossKeyRotation: one go-oidc provider, discovered
// once, verifies the ID token and the access token signed with key A; the
// server restarts (same issuer) with keys A and B, B signing; the same
// verifiers, whose remote key set refetches the JWKS for the unknown kid,
// verify the new tokens and still the old ones.
func TestGoOIDCVerifiesAcrossKeyRotation(t *testing.T) {
	keys := t.TempDir()
	writeKey(t, keys, "key-1-a.pem")
	port := freePort(t)

	srv := startServer(t, port, keys)
	issuer := srv.Issuer
	g := newGoOIDC(t, issuer)

	oldTokens := authorize(t, signIn(t, issuer), issuer)
	oldAccess := exchangeForm(t, issuer, oldTokens)
	assert.Equal(t, grantedScope, oldAccess.Scope)
	g.checkIDToken(t, issuer, oldTokens)
	kidA := g.checkAccessToken(t, issuer, oldAccess.AccessToken)
	assert.Equal(t, []string{kidA}, jwksKeyIDs(t, issuer))
	srv.stop(t)

	// Rotate: B sorts after A, so B signs and A only verifies.
	writeKey(t, keys, "key-2-b.pem")
	srv = startServer(t, port, keys)
	require.Equal(t, issuer, srv.Issuer)
	newTokens := authorize(t, signIn(t, issuer), issuer)
	newAccess := exchangeForm(t, issuer, newTokens)
	_, idKid := joseHeader(t, newTokens.IDToken)
	require.NotEqual(t, kidA, idKid, "the restarted server still signs with key A")

	g.checkIDToken(t, issuer, newTokens)
	kidB := g.checkAccessToken(t, issuer, newAccess.AccessToken)
	assert.Equal(t, idKid, kidB)
	assert.ElementsMatch(t, []string{kidA, kidB}, jwksKeyIDs(t, issuer))

	// The old tokens, signed with A, still verify after the refetch.
	g.checkIDToken(t, issuer, oldTokens)
	g.checkAccessToken(t, issuer, oldAccess.AccessToken)

	// A provider discovered only now verifies both generations too.
	fresh := newGoOIDC(t, issuer)
	fresh.checkIDToken(t, issuer, oldTokens)
	fresh.checkAccessToken(t, issuer, oldAccess.AccessToken)
	fresh.checkAccessToken(t, issuer, newAccess.AccessToken)
	srv.stop(t)
}

// TestGoOIDCTokenConfusion presents each token where another is expected.
// go-oidc checks signature, issuer, audience, expiry and algorithm, not
// typ; actas gives its access tokens the API's audience, so audience
// keeps them apart from ID tokens. The subject token, however, has the
// same issuer and audience as the ID token (aud = the client, as RFC 8693
// subject tokens in this flow do) and differs only in typ (subject+jwt)
// and in having no nonce: go-oidc's ID token verifier accepts it, and a
// relying party that uses go-oidc must compare the nonce (as OpenID
// Connect requires for response types with id_token) or check typ.
func TestGoOIDCTokenConfusion(t *testing.T) {
	srv := startServer(t, freePort(t), "")
	issuer := srv.Issuer
	g := newGoOIDC(t, issuer)
	tokens := authorize(t, signIn(t, issuer), issuer)
	access := exchangeForm(t, issuer, tokens)

	t.Run("subject token as an ID token: go-oidc accepts it, with no nonce", func(t *testing.T) {
		typ, _ := joseHeader(t, tokens.SubjectToken)
		assert.Equal(t, "subject+jwt", typ)
		tok, err := g.idTokens.Verify(context.Background(), tokens.SubjectToken)
		require.NoError(t, err, "go-oidc started checking typ: update this test and docs/interop.md")
		assert.Equal(t, "bob", tok.Subject)
		assert.Empty(t, tok.Nonce, "the subject token has no nonce, so the nonce comparison refuses it")
		assert.NotEqual(t, tokens.Nonce, tok.Nonce)
	})
	t.Run("access token as an ID token: refused (audience)", func(t *testing.T) {
		_, err := g.idTokens.Verify(context.Background(), access.AccessToken)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "expected audience")
	})
	t.Run("ID token as an access token: refused (audience)", func(t *testing.T) {
		_, err := g.access.Verify(context.Background(), tokens.IDToken)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "expected audience")
	})
	t.Run("subject token as an access token: refused (audience)", func(t *testing.T) {
		_, err := g.access.Verify(context.Background(), tokens.SubjectToken)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "expected audience")
	})
	t.Run("another algorithm only: refused", func(t *testing.T) {
		rs := g.provider.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{oidc.RS256}})
		_, err := rs.Verify(context.Background(), tokens.IDToken)
		require.Error(t, err)
	})
	srv.stop(t)
}

// TestGoOIDCUserInfo: go-oidc's Provider.UserInfo, at the endpoint the
// discovery document names, reads the impersonated user's claims with
// the exchanged access token: sub bob (go-oidc leaves comparing it with
// the ID token's sub to the caller, OpenID Connect Core §5.3.2), and act,
// org_id and org_name through Claims. Once the token is revoked, the
// endpoint refuses it.
func TestGoOIDCUserInfo(t *testing.T) {
	srv := startServer(t, freePort(t), "")
	issuer := srv.Issuer
	g := newGoOIDC(t, issuer)
	require.Equal(t, issuer+"/oauth2/userinfo", g.provider.UserInfoEndpoint())
	access := exchangeForm(t, issuer, authorize(t, signIn(t, issuer), issuer))
	ctx := oidc.ClientContext(t.Context(), &http.Client{Timeout: httpTimeout})
	src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access.AccessToken, TokenType: "Bearer"})

	info, err := g.provider.UserInfo(ctx, src)
	require.NoError(t, err)
	assert.Equal(t, "bob", info.Subject)
	assert.Empty(t, info.Email, "no email scope")
	var c struct {
		Act     *struct{ Sub string } `json:"act"`
		OrgID   string                `json:"org_id"`
		OrgName string                `json:"org_name"`
	}
	require.NoError(t, info.Claims(&c))
	require.NotNil(t, c.Act, "no act claim")
	assert.Equal(t, "alice", c.Act.Sub)
	assert.Equal(t, "acme-eu", c.OrgID)
	assert.Equal(t, "ACME Europe", c.OrgName)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, issuer+"/oauth2/revoke",
		strings.NewReader(url.Values{"token": {access.AccessToken}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	resp, err := (&http.Client{Timeout: httpTimeout}).Do(req)
	require.NoError(t, err)
	readAll(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	_, err = g.provider.UserInfo(ctx, src)
	require.Error(t, err, "the revoked token still reads the user's claims")
	assert.Contains(t, err.Error(), "401")
	srv.stop(t)
}
