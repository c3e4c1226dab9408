package adversarial_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/internal/refreshtoken"
	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
)

// Issue 11, F5 (a), for the token kinds that the HTTP families cannot
// pin to the sentinel: tokens signed with the issuer's real key whose iat
// the issuer could never have written, given straight to the library so
// that errors.Is proves the reason. The subject and ID token cases are in
// TestClaims (the audit reason names the check there).

// refreshClaims are valid refresh token claims of bob for app outside an
// impersonation session, as impersonation mints them.
func (e *env) refreshClaims() map[string]any {
	now := e.clock.Now()
	return map[string]any{
		"iss": issuer, "sub": "bob", "aud": issuer, "client_id": appID, "scope": "openid " + scopeRead,
		"iat": now.Unix(), "exp": now.Add(impersonation.DefaultRefreshTokenTTL).Unix(), "jti": jose.NewID(),
	}
}

// refreshForm is a refresh_token grant request.
func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {tokenexchange.GrantTypeRefreshToken}, "refresh_token": {rt}}
}

// iatChanges are the iat values no token of the issuer carries, each a
// change of a token's claims at the world's time.
var iatChanges = []struct {
	name   string
	change func(e *env) func(map[string]any)
}{
	{name: "iat_negative", change: func(*env) func(map[string]any) { return set("iat", -1) }},
	{name: "iat_absurdly_old", change: func(*env) func(map[string]any) { return set("iat", absurdlyOld) }},
	{name: "iat_beyond_MaxTokenAge", change: func(e *env) func(map[string]any) {
		return set("iat", e.clock.Now().Add(-claims.MaxTokenAge-time.Minute).Unix())
	}},
	{name: "iat_after_exp", change: iatAfterExp},
}

// runIATChanges runs check once per iatChanges entry, in a world of its
// own, as the case prefix+name.
func runIATChanges(t *testing.T, prefix string, check func(t *testing.T, e *env, change func(map[string]any))) {
	t.Helper()
	var cases []attack
	for _, ic := range iatChanges {
		cases = append(cases, attack{name: prefix + ic.name, check: func(t *testing.T, e *env) { check(t, e, ic.change(e)) }})
	}
	runFamily(t, cases)
}

func TestOutsideTokens_RefreshTokenIssuedAt(t *testing.T) {
	t.Parallel()
	runIATChanges(t, "refresh_token_", func(t *testing.T, e *env, change func(map[string]any)) {
		e.updateClient(t, appID, func(c *store.Client) { c.RefreshTokens = true })
		rt := e.signClaims(t, refreshtoken.HeaderType, changed(e.refreshClaims(), change))

		// The library names the check...
		tok, err := e.svc.Sessions().Refresh(context.Background(), tokenexchange.Client{ID: appID, AuthMethod: tokenexchange.AuthMethodBasic}, rt, nil)
		assert.Nil(t, tok, "nothing issued with an error")
		require.ErrorIs(t, err, tokenexchange.ErrInvalidGrant)
		require.ErrorIs(t, err, claims.ErrIssuedAt)

		// ...and the endpoint refuses it with nothing issued, audited.
		r := e.token(t, appID, refreshForm(rt)).presenting(rt).hiding("bob")
		assertRefused(t, e, r, requestRefused(400, "invalid_grant", "the refresh token is invalid, expired or used"))
	})
}

func TestOutsideTokens_AccessTokenIssuedAt(t *testing.T) {
	t.Parallel()
	runIATChanges(t, "access_token_", func(t *testing.T, e *env, change func(map[string]any)) {
		tok := accessWithClaim(change)(t, e)
		p, err := e.verifier(t).Verify(context.Background(), tok)
		assert.Nil(t, p)
		require.ErrorIs(t, err, resource.ErrInvalidToken)
		require.ErrorIs(t, err, claims.ErrIssuedAt)
	})
}

// TestOutsideTokens_Controls shows that the forging bases of the F5 cases
// are accepted when nothing is wrong, and what stays accepted by design.
func TestOutsideTokens_Controls(t *testing.T) {
	t.Parallel()
	runControls(t, []control{
		{name: "forged_refresh_token_with_the_issuers_key", run: func(t *testing.T, e *env) response {
			e.updateClient(t, appID, func(c *store.Client) { c.RefreshTokens = true })
			return e.token(t, appID, refreshForm(e.signClaims(t, refreshtoken.HeaderType, e.refreshClaims())))
		}},
		{name: "subject_token_aud_as_a_one_element_array", run: asSubject(subjectClaim(set("aud", []string{appID})))},
		{name: "subject_token_iat_absent", run: asSubject(subjectClaim(del("iat")))},
		// Older than any lifetime cap but within the bound: the lifetime
		// caps are on exp, the bound on iat only says "plausible".
		{name: "subject_token_iat_within_MaxTokenAge", run: asSubject(func(t *testing.T, e *env) string {
			return subjectClaim(set("iat", e.clock.Now().Add(-claims.MaxTokenAge).Unix()))(t, e)
		})},
		// OpenID Connect Core §3.1.3.7 allows other audiences next to the
		// client when azp names it: VerifyIDToken keeps that rule.
		{name: "ID_token_with_several_audiences_and_azp_the_client", run: asActor(actorClaim(set("aud", []string{appID, apiAudience})))},
	})
}
