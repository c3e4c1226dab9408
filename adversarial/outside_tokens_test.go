package adversarial_test

import (
	"context"
	"net/http"
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

func TestOutsideTokens_RefreshTokenIssuedAt(t *testing.T) {
	t.Parallel()
	var cases []attack
	for _, ic := range iatChanges {
		cases = append(cases, attack{
			name: "refresh_token_" + ic.name,
			check: func(t *testing.T, e *env) {
				e.updateClient(t, appID, func(c *store.Client) { c.RefreshTokens = true })
				rt := e.signClaims(t, refreshtoken.HeaderType, changed(e.refreshClaims(), ic.change(e)))

				// The library names the check...
				tok, err := e.svc.Sessions().Refresh(context.Background(), tokenexchange.Client{ID: appID, AuthMethod: tokenexchange.AuthMethodBasic}, rt, nil)
				assert.Nil(t, tok, "nothing issued with an error")
				require.ErrorIs(t, err, tokenexchange.ErrInvalidGrant)
				require.ErrorIs(t, err, claims.ErrIssuedAt)

				// ...and the endpoint refuses it with nothing issued, audited.
				r := e.token(t, appID, refreshForm(rt)).presenting(rt).hiding("bob")
				assertRefused(t, e, r, requestRefused(400, "invalid_grant", "the refresh token is invalid, expired or used"))
			},
		})
	}
	runFamily(t, cases)
}

func TestOutsideTokens_AccessTokenIssuedAt(t *testing.T) {
	t.Parallel()
	for _, ic := range iatChanges {
		t.Run("access_token_"+ic.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			tok := accessClaim(ic.change)(t, e)
			v, err := resource.NewVerifier(issuer, apiAudience, e.keys, resource.WithClock(e.clock.Now))
			require.NoError(t, err)
			p, err := v.Verify(context.Background(), tok)
			assert.Nil(t, p)
			require.ErrorIs(t, err, resource.ErrInvalidToken)
			require.ErrorIs(t, err, claims.ErrIssuedAt)
		})
	}
}

// TestOutsideTokens_Controls shows that the forging bases of the F5 cases
// are accepted when nothing is wrong, and what stays accepted by design.
func TestOutsideTokens_Controls(t *testing.T) {
	t.Parallel()
	ok := func(t *testing.T, r response) {
		t.Helper()
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.Contains(t, r.body, `"access_token"`)
	}
	t.Run("forged_refresh_token_with_the_issuers_key", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.updateClient(t, appID, func(c *store.Client) { c.RefreshTokens = true })
		ok(t, e.token(t, appID, refreshForm(e.signClaims(t, refreshtoken.HeaderType, e.refreshClaims()))))
	})
	t.Run("subject_token_aud_as_a_one_element_array", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		ok(t, asSubject(subjectClaim(set("aud", []string{appID})))(t, e))
	})
	t.Run("subject_token_iat_absent", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		ok(t, asSubject(subjectClaim(del("iat")))(t, e))
	})
	t.Run("subject_token_iat_within_MaxTokenAge", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		// Older than any lifetime cap but within the bound: the lifetime
		// caps are on exp, the bound on iat only says "plausible".
		ok(t, asSubject(subjectClaim(set("iat", e.clock.Now().Add(-claims.MaxTokenAge).Unix())))(t, e))
	})
	t.Run("ID_token_with_several_audiences_and_azp_the_client", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		// OpenID Connect Core §3.1.3.7 allows other audiences next to the
		// client when azp names it: VerifyIDToken keeps that rule.
		ok(t, asActor(actorClaim(set("aud", []string{appID, apiAudience})))(t, e))
	})
}
