package adversarial_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// The key token-level attacks again, straight at the library: the same
// forgeries given to Service.Exchange and Verifier.Verify without HTTP, so
// that a failure here points at the decision layer and a failure only in
// the HTTP families points at the wiring.

// genuineDirect runs the authorize step through the library (parse and
// Service.Authorize) and returns the subject token and the ID token.
func (e *env) genuineDirect(t testing.TB, clientID, impersonator, subject string) (string, string) {
	t.Helper()
	ctx := context.Background()
	req, _, err := subjecttoken.ParseAuthorizeValues(ctx, authorizeValues(clientID, subject), e.db)
	require.NoError(t, err)
	resp, err := e.svc.Authorize(ctx, req, impersonation.Login{UserID: impersonator, AuthTime: e.clock.Now()})
	require.NoError(t, err)
	return resp.SubjectToken, resp.IDToken
}

func TestLibrary_ExchangeRefuses(t *testing.T) {
	t.Parallel()
	type position int
	const (
		subject position = iota
		actor
	)
	cases := []struct {
		name   string
		at     position
		forge  forgery
		reason string
		vuln   string
	}{
		{name: "alg_none", forge: subjectForgery(set("alg", "none"), noSig), reason: whyMalformed},
		{name: "alg_none_with_signature", forge: subjectForgery(set("alg", "none"), genuineSig), reason: whyAlg},
		{name: "HS256_keyed_with_PEM_public_key", forge: subjectForgery(set("alg", "HS256"), macSig(sha256.New, pkixPEM)), reason: whyAlg},
		{name: "kid_unknown", forge: subjectForgery(set("kid", "no-such-key"), genuineSig), reason: whyKey},
		{name: "jwk_header_carrying_the_signing_attacker_key", forge: attackerSigned(carryingJWK), reason: whyKey},
		{name: "another_issuers_key_claiming_the_issuers_kid", forge: attackerSigned(issuersKid), reason: whySignature},
		{name: "crit_header", forge: subjectForgery(set("crit", []string{"exp"}), genuineSig), reason: whyCrit},
		{name: "JWS_JSON_serialization_with_two_signatures", forge: jsonSerialization(true), reason: whyMalformed},
		{name: "JWE_five_segments", forge: jwe(false), reason: whyMalformed},
		{name: "trailing_data_after_payload_JSON", forge: rawPayload("garbage"), reason: whyMalformed},
		{name: "iss_with_trailing_slash", forge: subjectClaim(set("iss", issuer+"/")), reason: whyIssuer},
		{name: "aud_of_another_client", forge: subjectClaim(set("aud", app2ID)), reason: whyAudience},
		{name: "azp_of_another_client", forge: subjectClaim(set("azp", app2ID)), reason: whyClient},
		{name: "exp_missing", forge: subjectClaim(del("exp")), reason: whyMissing},
		{name: "may_act_missing", forge: subjectClaim(del("may_act")), reason: whyNoMayAct},
		{name: "may_act_a_string", forge: subjectClaim(set("may_act", "alice")), reason: whyBadClaims},
		{name: "act_nested_to_DefaultMaxActDepth", forge: subjectClaim(set("act", testkit.ActChain(5))), reason: whyDeep},
		{name: "duplicate_sub", forge: subjectPayload(func(e *env) string { return withMember(e, `"sub":"carol"`) }), reason: whyDuplicate},
		{name: "duplicate_sub_differing_in_case", forge: subjectPayload(func(e *env) string { return withMember(e, `"SUB":"carol"`) }), reason: whyDuplicate},
		{name: "typ_JWT_on_a_subject_token", forge: subjectWithTyp(typID), reason: whyTyp},
		{name: "actor_alg_none", at: actor, forge: actorForgery(set("alg", "none"), noSig), reason: whyMalformed},
		{name: "actor_aud_of_another_client", at: actor, forge: actorClaim(func(m map[string]any) { m["aud"], m["azp"] = app2ID, app2ID }), reason: whyAudience},
		{name: "actor_typ_subject+jwt", at: actor, forge: func(t *testing.T, e *env) string { return e.signClaims(t, typSubject, e.idClaims("alice", appID)) }, reason: whyTyp},
		{name: "actor_is_the_subject", at: actor, forge: func(t *testing.T, e *env) string { return e.signClaims(t, typID, e.idClaims("bob", appID)) }, reason: "sub is not may_act.sub"},
	}
	var attacks []attack
	for _, tc := range cases {
		attacks = append(attacks, attack{name: tc.name, vuln: tc.vuln, check: func(t *testing.T, e *env) {
			st, idt := e.genuineDirect(t, appID, "alice", "bob")
			prefix := "subject token: "
			if tc.at == subject {
				st = tc.forge(t, e)
			} else {
				idt = tc.forge(t, e)
				prefix = "actor token: "
			}
			mark := len(e.db.Events())
			resp, err := e.svc.Exchange(context.Background(),
				tokenexchange.Client{ID: appID, AuthMethod: tokenexchange.AuthMethodBasic},
				&tokenexchange.Request{
					GrantType: tokenexchange.GrantType, SubjectToken: st, SubjectTokenType: tokenexchange.TokenTypeJWT,
					ActorToken: idt, ActorTokenType: tokenexchange.TokenTypeIDToken,
				})
			require.Error(t, err)
			assert.Nil(t, resp, "nothing issued with an error")
			require.ErrorIs(t, err, tokenexchange.ErrInvalidRequest)
			var te *tokenexchange.Error
			require.True(t, errors.As(err, &te))
			assertHoldsNoToken(t, te.Description, []string{st, idt})
			assertNoInternalText(t, te.Description, "the wire description leaks internal text")
			events := e.since(mark)
			ev := testkit.RequireOneEvent(t, events, store.EventTokenExchangeDenied, store.OutcomeDenied, tc.reason)
			assert.True(t, strings.HasPrefix(ev.Reason, prefix), ev.Reason)
			assertAuditHoldsNoToken(t, events, []string{st, idt})
		}})
	}
	runFamily(t, attacks)
}

func TestLibrary_VerifierRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		forge   forgery
		revoked bool
		vuln    string
	}{
		{name: "alg_none", forge: accessForgery(set("alg", "none"), noSig)},
		{name: "HS256_keyed_with_PKIX_DER", forge: accessForgery(set("alg", "HS256"), macSig(sha256.New, pkixDER))},
		{name: "kid_unknown", forge: accessForgery(set("kid", "nope"), genuineSig)},
		{name: "jwk_header_carrying_the_signing_attacker_key", forge: attackerSignedAs(typAccess, accessClaimsOf, carryingJWK)},
		{name: "crit_header", forge: accessForgery(set("crit", []string{"exp"}), genuineSig)},
		{name: "subject_token_as_access_token", forge: func(t *testing.T, e *env) string {
			st, _ := e.genuineDirect(t, appID, "alice", "bob")
			return st
		}},
		{name: "ID_token_as_access_token", forge: func(t *testing.T, e *env) string {
			_, idt := e.genuineDirect(t, appID, "alice", "bob")
			return idt
		}},
		{name: "aud_of_the_client_not_the_API", forge: accessWithClaim(set("aud", appID))},
		{name: "iss_with_trailing_slash", forge: accessWithClaim(set("iss", issuer+"/"))},
		{name: "expired_beyond_skew", forge: accessClaim(func(e *env) func(map[string]any) { return set("exp", e.clock.Now().Add(-31*time.Second).Unix()) })},
		{name: "act_deeper_than_DefaultMaxActDepth", forge: accessWithClaim(set("act", testkit.ActChain(6)))},
		{name: "client_id_missing", forge: accessWithClaim(del("client_id"))},
		{name: "duplicate_sub", forge: rawPayloadOf(typAccess, func(e *env) string { return withMemberOf(e.accessClaims(), `"sub":"carol"`) })},
		{name: "duplicate_act_sub_differing_in_case", forge: rawPayloadOf(typAccess, func(e *env) string {
			return strings.Replace(jsonOf(e.accessClaims()), `"act":{"sub":"alice"}`, `"act":{"sub":"alice","SUB":"eve"}`, 1)
		})},
		{name: "revoked", revoked: true, forge: func(t *testing.T, e *env) string {
			return e.accessToken(t)
		}},
	}
	var attacks []attack
	for _, tc := range cases {
		attacks = append(attacks, attack{name: tc.name, vuln: tc.vuln, check: func(t *testing.T, e *env) {
			tok := tc.forge(t, e)
			v := e.verifier(t, resource.WithRevocation(e.db))
			if tc.revoked {
				p, err := v.Verify(context.Background(), tok)
				require.NoError(t, err)
				require.NoError(t, e.db.Revoke(context.Background(), p.TokenID, p.Expiry.Add(time.Minute)))
			}
			p, err := v.Verify(context.Background(), tok)
			assert.Nil(t, p)
			require.ErrorIs(t, err, resource.ErrInvalidToken)
			if tc.revoked {
				assert.ErrorIs(t, err, resource.ErrRevoked)
			}
			assertHoldsNoToken(t, err.Error(), []string{tok}, "the error holds the token")
		}})
	}
	runFamily(t, attacks)
}
