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
		{name: "jwk_header_carrying_the_signing_attacker_key", forge: attackerSigned(func(t *testing.T, _ *env, k store.PrivateKey, h map[string]any) {
			h["jwk"] = attackerJWK(t, k)
		}), reason: whyKey},
		{name: "another_issuers_key_claiming_the_issuers_kid", forge: attackerSigned(func(t *testing.T, e *env, _ store.PrivateKey, h map[string]any) {
			h["kid"] = e.signingKey(t).ID
		}), reason: whySignature},
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
		{name: "act_nested_to_DefaultMaxActDepth", forge: subjectClaim(set("act", actChain(5))), reason: whyDeep},
		{name: "duplicate_sub", forge: subjectPayload(func(e *env) string { return withMember(e, `"sub":"carol"`) }), reason: whyDuplicate},
		{
			name: "duplicate_sub_differing_in_case", forge: subjectPayload(func(e *env) string { return withMember(e, `"SUB":"carol"`) }), reason: whyDuplicate,
		},
		{name: "typ_JWT_on_a_subject_token", forge: subjectWithTyp(typID), reason: whyTyp},
		{name: "actor_alg_none", at: actor, forge: actorForgery(set("alg", "none"), noSig), reason: whyMalformed},
		{name: "actor_aud_of_another_client", at: actor, forge: actorClaim(func(m map[string]any) { m["aud"], m["azp"] = app2ID, app2ID }), reason: whyAudience},
		{name: "actor_typ_subject+jwt", at: actor, forge: func(t *testing.T, e *env) string { return e.signClaims(t, typSubject, e.idClaims("alice", appID)) }, reason: whyTyp},
		{name: "actor_is_the_subject", at: actor, forge: func(t *testing.T, e *env) string { return e.signClaims(t, typID, e.idClaims("bob", appID)) }, reason: "sub is not may_act.sub"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.vuln != "" && skipVulns() {
				t.Skip("VULN: " + tc.vuln)
			}
			e := newEnv(t)
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
			for _, s := range append(segments(st), segments(idt)...) {
				assert.NotContains(t, te.Description, s)
			}
			for _, m := range internalMarkers {
				assert.NotContains(t, te.Description, m, "the wire description leaks internal text")
			}
			events := e.db.Events()[mark:]
			require.Len(t, events, 1, describe(events))
			assert.Equal(t, store.EventTokenExchangeDenied, events[0].Type)
			assert.Equal(t, store.OutcomeDenied, events[0].Outcome)
			assert.True(t, strings.HasPrefix(events[0].Reason, prefix), events[0].Reason)
			assert.Contains(t, events[0].Reason, tc.reason)
			assertAuditHoldsNoToken(t, events, []string{st, idt})
		})
	}
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
		{name: "jwk_header_carrying_the_signing_attacker_key", forge: func(t *testing.T, e *env) string {
			k := attackerKey(t)
			h := map[string]any{"alg": "ES256", "kid": k.ID, "typ": typAccess, "jwk": attackerJWK(t, k)}
			return forgeWith(t, h, e.accessClaims(), func(in string) []byte { return jwsSign(t, "ES256", k.Key, in) })
		}},
		{name: "crit_header", forge: accessForgery(set("crit", []string{"exp"}), genuineSig)},
		{name: "subject_token_as_access_token", forge: func(t *testing.T, e *env) string {
			st, _ := e.genuineDirect(t, appID, "alice", "bob")
			return st
		}},
		{name: "ID_token_as_access_token", forge: func(t *testing.T, e *env) string {
			_, idt := e.genuineDirect(t, appID, "alice", "bob")
			return idt
		}},
		{name: "aud_of_the_client_not_the_API", forge: func(t *testing.T, e *env) string {
			return e.signClaims(t, typAccess, changed(e.accessClaims(), set("aud", appID)))
		}},
		{name: "iss_with_trailing_slash", forge: func(t *testing.T, e *env) string {
			return e.signClaims(t, typAccess, changed(e.accessClaims(), set("iss", issuer+"/")))
		}},
		{name: "expired_beyond_skew", forge: func(t *testing.T, e *env) string {
			return e.signClaims(t, typAccess, changed(e.accessClaims(), set("exp", e.clock.Now().Add(-31*time.Second).Unix())))
		}},
		{name: "act_deeper_than_DefaultMaxActDepth", forge: func(t *testing.T, e *env) string {
			return e.signClaims(t, typAccess, changed(e.accessClaims(), set("act", actChain(6))))
		}},
		{name: "client_id_missing", forge: func(t *testing.T, e *env) string {
			return e.signClaims(t, typAccess, changed(e.accessClaims(), del("client_id")))
		}},
		{name: "duplicate_sub", forge: func(t *testing.T, e *env) string {
			b := string(mustJSON(t, e.accessClaims()))
			return e.forgeRaw(t, mustJSON(t, e.header(t, typAccess)), []byte(strings.TrimSuffix(b, "}")+`,"sub":"carol"}`))
		}},
		{name: "duplicate_act_sub_differing_in_case", forge: func(t *testing.T, e *env) string {
			b := string(mustJSON(t, e.accessClaims()))
			b = strings.Replace(b, `"act":{"sub":"alice"}`, `"act":{"sub":"alice","SUB":"eve"}`, 1)
			return e.forgeRaw(t, mustJSON(t, e.header(t, typAccess)), []byte(b))
		}},
		{name: "revoked", revoked: true, forge: func(t *testing.T, e *env) string {
			return e.accessToken(t)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.vuln != "" && skipVulns() {
				t.Skip("VULN: " + tc.vuln)
			}
			e := newEnv(t)
			tok := tc.forge(t, e)
			v, err := resource.NewVerifier(issuer, apiAudience, e.keys,
				resource.WithClock(e.clock.Now), resource.WithRevocation(e.db))
			require.NoError(t, err)
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
			for _, s := range segments(tok) {
				assert.NotContains(t, err.Error(), s, "the error holds the token")
			}
		})
	}
}
