package adversarial_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/internal/testkit"
)

// Reasons the claim checks give, as they appear in audit events.
const (
	whyIssuer     = "claims: iss is not the expected issuer"
	whyAudience   = "claims: aud does not contain the expected audience"
	whyClient     = "subjecttoken: client_id or azp is not the client"
	whyMissing    = "claims: required claim missing"
	whyExpired    = "claims: token expired"
	whyNotYet     = "claims: token not valid yet (nbf)"
	whyFuture     = "claims: token issued in the future (iat)"
	whyNoMayAct   = "subjecttoken: may_act.sub missing"
	whyDeep       = "claims: act chain too deep"
	whyDuplicate  = "duplicate member name"
	whyBadClaims  = "jose: malformed token: claims"
	whyActWithout = "claims: act without sub"
	// Issue 11, F5.
	whyIssuedAt = "claims: iat out of range"
	whyAudExact = "subjecttoken: aud is not exactly the client"
)

// absurdlyOld is an iat no token of the issuer can carry: 2001-09-09.
const absurdlyOld = 1_000_000_000

// iatAfterExp sets exp 10s from now and iat 20s from now: within the
// skew, so only the order of the two is wrong.
func iatAfterExp(e *env) func(map[string]any) {
	return func(m map[string]any) {
		now := e.clock.Now()
		m["exp"], m["iat"] = now.Add(10*time.Second).Unix(), now.Add(20*time.Second).Unix()
	}
}

// subjectClaim is a subject token signed with the issuer's real key whose
// claims are valid but for change.
func subjectClaim(change func(map[string]any)) forgery {
	return func(t *testing.T, e *env) string {
		return e.signClaims(t, typSubject, changed(e.subjectClaims(), change))
	}
}

// actorClaim is alice's ID token for app, signed with the issuer's real
// key, valid but for change.
func actorClaim(change func(map[string]any)) forgery {
	return func(t *testing.T, e *env) string {
		return e.signClaims(t, typID, changed(e.idClaims("alice", appID), change))
	}
}

// rawPayloadOf is a token of type typ whose payload is exactly the JSON
// that payload writes (so duplicate members survive), signed with the
// issuer's real key.
func rawPayloadOf(typ string, payload func(e *env) string) forgery {
	return func(t *testing.T, e *env) string {
		return e.forgeRaw(t, mustJSON(t, e.header(t, typ)), []byte(payload(e)))
	}
}

// subjectPayload is a subject token whose payload is exactly the JSON
// that payload writes.
func subjectPayload(payload func(e *env) string) forgery { return rawPayloadOf(typSubject, payload) }

// withMemberOf returns claims as JSON with extra member text inserted
// before the closing brace: how duplicate names are made.
func withMemberOf(claims map[string]any, member string) string {
	return strings.TrimSuffix(jsonOf(claims), "}") + "," + member + "}"
}

// jsonOf is claims as JSON (claims of plain values always marshal).
func jsonOf(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	return string(b)
}

// withMember is withMemberOf the valid subject claims.
func withMember(e *env, member string) string { return withMemberOf(e.subjectClaims(), member) }

// subjectWithTyp is a subject token with valid claims under the header
// typ given (empty: no typ at all).
func subjectWithTyp(typ string) forgery {
	hdr := set("typ", typ)
	if typ == "" {
		hdr = del("typ")
	}
	return subjectForgery(hdr, genuineSig)
}

// hugeScope is a subject token (valid otherwise) whose scope holds as
// many distinct values as fit in a token of total length below limit,
// openid and orders:read among them.
func hugeScope(limit int) forgery {
	return func(t *testing.T, e *env) string {
		h := testkit.Segment(t, e.header(t, typSubject))
		base := len(mustJSON(t, e.subjectClaims())) - len("openid "+scopeRead)
		// header . payload . 86-character ES256 signature
		budget := (limit-len(h)-2-86)*3/4 - base - len("openid "+scopeRead)
		var scope strings.Builder
		scope.WriteString("openid " + scopeRead)
		for i := 0; scope.Len()+7 <= len("openid "+scopeRead)+budget; i++ {
			fmt.Fprintf(&scope, " s%05d", i)
		}
		tok := e.signClaims(t, typSubject, changed(e.subjectClaims(), set("scope", scope.String())))
		require.LessOrEqual(t, len(tok), limit)
		require.Greater(t, len(tok), limit-16)
		return tok
	}
}

func TestClaims(t *testing.T) {
	t.Parallel()
	minutes := func(e *env, d time.Duration) int64 { return e.clock.Now().Add(d).Unix() }
	at := func(k string, d time.Duration) forgery {
		return func(t *testing.T, e *env) string {
			return subjectClaim(set(k, minutes(e, d)))(t, e)
		}
	}
	actorAt := func(k string, d time.Duration) forgery {
		return func(t *testing.T, e *env) string {
			return actorClaim(set(k, minutes(e, d)))(t, e)
		}
	}
	cases := []attack{
		// iss.
		{name: "iss_missing", run: asSubject(subjectClaim(del("iss"))), want: subjectWith(whyIssuer)},
		{name: "iss_of_another_issuer", run: asSubject(subjectClaim(set("iss", "https://evil.example"))), want: subjectWith(whyIssuer)},
		{name: "iss_with_trailing_slash", run: asSubject(subjectClaim(set("iss", issuer+"/"))), want: subjectWith(whyIssuer)},
		{name: "iss_upper_case_host", run: asSubject(subjectClaim(set("iss", "https://ID.EXAMPLE"))), want: subjectWith(whyIssuer)},
		{name: "iss_http_scheme", run: asSubject(subjectClaim(set("iss", "http://id.example"))), want: subjectWith(whyIssuer)},
		{name: "iss_with_default_port", run: asSubject(subjectClaim(set("iss", "https://id.example:443"))), want: subjectWith(whyIssuer)},
		{name: "iss_not_a_string", run: asSubject(subjectClaim(set("iss", []string{issuer}))), want: subjectWith(whyBadClaims)},

		// aud, azp, client_id.
		{name: "aud_of_another_client", run: asSubject(subjectClaim(set("aud", app2ID))), want: subjectWith(whyAudience)},
		{name: "aud_missing", run: asSubject(subjectClaim(del("aud"))), want: subjectWith(whyAudience)},
		{name: "aud_array_without_the_client", run: asSubject(subjectClaim(set("aud", []string{app2ID, apiAudience}))), want: subjectWith(whyAudience)},
		{name: "aud_case_changed", run: asSubject(subjectClaim(set("aud", "APP"))), want: subjectWith(whyAudience)},
		{name: "aud_not_a_string", run: asSubject(subjectClaim(set("aud", 7))), want: subjectWith(whyBadClaims)},
		{name: "azp_of_another_client", run: asSubject(subjectClaim(set("azp", app2ID))), want: subjectWith(whyClient)},
		{name: "azp_missing", run: asSubject(subjectClaim(del("azp"))), want: subjectWith(whyClient)},
		{name: "client_id_of_another_client", run: asSubject(subjectClaim(set("client_id", app2ID))), want: subjectWith(whyClient)},
		{name: "client_id_missing", run: asSubject(subjectClaim(del("client_id"))), want: subjectWith(whyClient)},
		// A subject token's aud is exactly the client (issue 11, F5).
		{name: "aud_client_and_another", run: asSubject(subjectClaim(set("aud", []string{appID, app2ID}))), want: subjectWith(whyAudExact)},
		{name: "aud_another_and_the_client", run: asSubject(subjectClaim(set("aud", []string{apiAudience, appID}))), want: subjectWith(whyAudExact)},
		{name: "aud_client_twice", run: asSubject(subjectClaim(set("aud", []string{appID, appID}))), want: subjectWith(whyAudExact)},
		{name: "aud_lists_both_clients_but_client_id_is_the_other", run: asSubject(subjectClaim(func(m map[string]any) {
			m["aud"] = []string{appID, app2ID}
			m["client_id"], m["azp"] = app2ID, app2ID
		})), want: subjectWith(whyClient)},

		// Times.
		{name: "exp_missing", run: asSubject(subjectClaim(del("exp"))), want: subjectWith(whyMissing)},
		{name: "exp_zero", run: asSubject(subjectClaim(set("exp", 0))), want: subjectWith(whyMissing)},
		{name: "exp_expired_beyond_skew", run: asSubject(at("exp", -31*time.Second)), want: subjectWith(whyExpired)},
		{name: "exp_exactly_at_skew", run: asSubject(at("exp", -30*time.Second)), want: subjectWith(whyExpired)},
		{name: "exp_negative", run: asSubject(subjectClaim(set("exp", -1))), want: subjectWith(whyExpired)},
		{name: "exp_as_string", run: asSubject(subjectClaim(set("exp", "9999999999"))), want: subjectWith(whyBadClaims)},
		{name: "exp_overflowing_float", run: asSubject(subjectPayload(func(e *env) string {
			return strings.Replace(withMember(e, `"x":0`), fmt.Sprintf(`"exp":%d`, e.clock.Now().Add(3*time.Minute).Unix()), `"exp":1e400`, 1)
		})), want: subjectWith(whyBadClaims)},
		{name: "nbf_in_the_future_beyond_skew", run: asSubject(at("nbf", 31*time.Second)), want: subjectWith(whyNotYet)},
		{name: "iat_far_in_the_future", run: asSubject(at("iat", time.Hour)), want: subjectWith(whyFuture)},
		{name: "iat_as_string", run: asSubject(subjectClaim(set("iat", "now"))), want: subjectWith(whyBadClaims)},
		// iat sanity (issue 11, F5): the issuer never mints these.
		{name: "iat_negative", run: asSubject(subjectClaim(set("iat", -1))), want: subjectWith(whyIssuedAt)},
		{name: "iat_absurdly_old", run: asSubject(subjectClaim(set("iat", absurdlyOld))), want: subjectWith(whyIssuedAt)},
		{name: "iat_just_beyond_MaxTokenAge", run: asSubject(at("iat", -(claims.MaxTokenAge + 31*time.Second))), want: subjectWith(whyIssuedAt)},
		{name: "iat_after_exp", run: asSubject(func(t *testing.T, e *env) string { return subjectClaim(iatAfterExp(e))(t, e) }), want: subjectWith(whyIssuedAt)},

		// jti.
		{name: "jti_missing", run: asSubject(subjectClaim(del("jti"))), want: subjectWith(whyMissing)},
		{name: "jti_empty", run: asSubject(subjectClaim(set("jti", ""))), want: subjectWith(whyMissing)},
		{name: "jti_not_a_string", run: asSubject(subjectClaim(set("jti", 12345))), want: subjectWith(whyBadClaims)},

		// may_act.
		{name: "may_act_missing", run: asSubject(subjectClaim(del("may_act"))), want: subjectWith(whyNoMayAct)},
		{name: "may_act_null", run: asSubject(subjectClaim(set("may_act", nil))), want: subjectWith(whyNoMayAct)},
		{name: "may_act_a_string", run: asSubject(subjectClaim(set("may_act", "alice"))), want: subjectWith(whyBadClaims)},
		{name: "may_act_an_array", run: asSubject(subjectClaim(set("may_act", []any{map[string]any{"sub": "alice"}}))), want: subjectWith(whyBadClaims)},
		{name: "may_act_sub_a_number", run: asSubject(subjectClaim(set("may_act", map[string]any{"sub": 42}))), want: subjectWith(whyBadClaims)},
		{name: "may_act_sub_empty", run: asSubject(subjectClaim(set("may_act", map[string]any{"sub": ""}))), want: subjectWith(whyNoMayAct)},
		{name: "may_act_without_sub", run: asSubject(subjectClaim(set("may_act", map[string]any{"iss": issuer}))), want: subjectWith(whyNoMayAct)},
		{name: "may_act_sub_an_array", run: asSubject(subjectClaim(set("may_act", map[string]any{"sub": []string{"alice"}}))), want: subjectWith(whyBadClaims)},

		// act.
		{name: "act_nested_to_DefaultMaxActDepth", run: asSubject(subjectClaim(set("act", testkit.ActChain(claims.DefaultMaxActDepth)))), want: subjectWith(whyDeep)},
		{name: "act_nested_30_deep", run: asSubject(subjectClaim(set("act", testkit.ActChain(30)))), want: subjectWith(whyDeep)},
		{name: "act_nested_100_deep", run: asSubject(subjectClaim(set("act", testkit.ActChain(100)))), want: subjectWith(whyBadClaims)},
		{name: "act_without_sub", run: asSubject(subjectClaim(set("act", map[string]any{"act": map[string]any{"sub": "root"}}))), want: subjectWith(whyActWithout)},
		{name: "act_a_string", run: asSubject(subjectClaim(set("act", "alice"))), want: subjectWith(whyBadClaims)},

		// scope.
		{
			name: "scope_huge_just_under_the_token_limit", run: asSubject(hugeScope(jose.MaxTokenBytes)), want: subjectWith("scope"),
		},
		{name: "scope_over_the_token_limit", run: asSubject(hugeScope(jose.MaxTokenBytes + 64)), want: subjectWith(whyMalformed)},
		{name: "scope_an_array", run: asSubject(subjectClaim(set("scope", []string{"openid", scopeWrite}))), want: subjectWith(whyBadClaims)},

		// sub.
		{name: "sub_missing", run: asSubject(subjectClaim(del("sub"))), want: subjectWith(whyMissing)},
		{name: "sub_empty", run: asSubject(subjectClaim(set("sub", ""))), want: subjectWith(whyMissing)},
		{name: "sub_null", run: asSubject(subjectClaim(set("sub", nil))), want: subjectWith(whyMissing)},
		{name: "sub_a_number", run: asSubject(subjectClaim(set("sub", 1001))), want: subjectWith(whyBadClaims)},
		{name: "sub_an_array", run: asSubject(subjectClaim(set("sub", []string{"bob", "carol"}))), want: subjectWith(whyBadClaims)},
		{name: "sub_an_object", run: asSubject(subjectClaim(set("sub", map[string]any{"id": "bob"}))), want: subjectWith(whyBadClaims)},

		// Duplicate member names: a verifier reading the other one would see
		// another user.
		{name: "duplicate_sub", run: asSubject(subjectPayload(func(e *env) string { return withMember(e, `"sub":"carol"`) })), want: subjectWith(whyDuplicate)},
		{name: "duplicate_sub_via_unicode_escape", run: asSubject(subjectPayload(func(e *env) string { return withMember(e, `"s\u0075b":"carol"`) })), want: subjectWith(whyDuplicate)},
		{name: "duplicate_iss", run: asSubject(subjectPayload(func(e *env) string { return withMember(e, `"iss":"https://evil.example"`) })), want: subjectWith(whyDuplicate)},
		{name: "duplicate_may_act_sub_nested", run: asSubject(subjectPayload(func(e *env) string {
			return strings.Replace(withMember(e, `"x":0`), `"may_act":{"sub":"alice"}`, `"may_act":{"sub":"alice","sub":"eve"}`, 1)
		})), want: subjectWith(whyDuplicate)},
		{
			name: "duplicate_sub_differing_in_case", run: asSubject(subjectPayload(func(e *env) string { return withMember(e, `"SUB":"carol"`) })), want: subjectWith(whyDuplicate),
		},
		{
			name: "duplicate_sub_via_unicode_case_folding", run: asSubject(subjectPayload(func(e *env) string { return withMember(e, `"\u017fub":"carol"`) })), want: subjectWith(whyDuplicate),
		},

		// typ.
		{name: "typ_JWT_on_a_subject_token", run: asSubject(subjectWithTyp(typID)), want: subjectWith(whyTyp)},
		{name: "typ_at+jwt_on_a_subject_token", run: asSubject(subjectWithTyp(typAccess)), want: subjectWith(whyTyp)},
		{name: "typ_missing", run: asSubject(subjectWithTyp("")), want: subjectWith(whyTyp)},
		{name: "typ_with_parameters", run: asSubject(subjectWithTyp("subject+jwt; v=1")), want: subjectWith(whyTyp)},
		{name: "typ_with_another_media_type_prefix", run: asSubject(subjectWithTyp("text/subject+jwt")), want: subjectWith(whyTyp)},

		// The actor token's claims.
		{name: "actor_iss_of_another_issuer", run: asActor(actorClaim(set("iss", "https://evil.example"))), want: actorWith(whyIssuer)},
		{name: "actor_aud_of_another_client", run: asActor(actorClaim(func(m map[string]any) { m["aud"], m["azp"] = app2ID, app2ID })), want: actorWith(whyAudience)},
		{name: "actor_azp_of_another_client", run: asActor(actorClaim(set("azp", app2ID))), want: actorWith(whyClient)},
		{name: "actor_exp_missing", run: asActor(actorClaim(del("exp"))), want: actorWith(whyMissing)},
		{name: "actor_expired_beyond_skew", run: asActor(actorAt("exp", -31*time.Second)), want: actorWith(whyExpired)},
		{name: "actor_nbf_in_the_future", run: asActor(actorAt("nbf", 31*time.Second)), want: actorWith(whyNotYet)},
		{name: "actor_iat_far_in_the_future", run: asActor(actorAt("iat", time.Hour)), want: actorWith(whyFuture)},
		{name: "actor_iat_negative", run: asActor(actorClaim(set("iat", -1))), want: actorWith(whyIssuedAt)},
		{name: "actor_iat_absurdly_old", run: asActor(actorClaim(set("iat", absurdlyOld))), want: actorWith(whyIssuedAt)},
		{name: "actor_iat_after_exp", run: asActor(func(t *testing.T, e *env) string { return actorClaim(iatAfterExp(e))(t, e) }), want: actorWith(whyIssuedAt)},
		{name: "actor_sub_missing", run: asActor(actorClaim(del("sub"))), want: actorWith(whyMissing)},
		{name: "actor_sub_a_number", run: asActor(actorClaim(set("sub", 7))), want: actorWith(whyBadClaims)},
		{name: "actor_duplicate_sub", run: asActor(rawPayloadOf(typID, func(e *env) string {
			return withMemberOf(aliceIDClaims(e), `"sub":"eve"`)
		})), want: actorWith(whyDuplicate)},
		{name: "actor_typ_subject+jwt", run: asActor(func(t *testing.T, e *env) string {
			return e.signClaims(t, typSubject, e.idClaims("alice", appID))
		}), want: actorWith(whyTyp)},

		// The access token's iat at the resource API (issue 11, F5).
		{name: "access_token_iat_negative_at_API", run: atAPI(accessWithClaim(set("iat", -1))), want: bearerWith(whyIssuedAt)},
		{name: "access_token_iat_absurdly_old_at_API", run: atAPI(accessWithClaim(set("iat", absurdlyOld))), want: bearerWith(whyIssuedAt)},
		{name: "access_token_iat_after_exp_at_API", run: atAPI(accessClaim(iatAfterExp)), want: bearerWith(whyIssuedAt)},
	}
	runFamily(t, cases)
}

// accessClaim is an access token for the API signed with the issuer's
// real key, valid but for what change(e) does.
func accessClaim(change func(e *env) func(map[string]any)) forgery {
	return func(t *testing.T, e *env) string {
		return e.signClaims(t, typAccess, changed(e.accessClaims(), change(e)))
	}
}

// accessWithClaim is accessClaim with a change that needs no world.
func accessWithClaim(change func(map[string]any)) forgery {
	return accessClaim(func(*env) func(map[string]any) { return change })
}
