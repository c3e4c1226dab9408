package adversarial_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/jose"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
)

// exchangeDenied is a refusal the Service decided and recorded as
// token.exchange_denied with reason.
func exchangeDenied(code string, reason string) refusal {
	return refusal{status: 400, code: code, event: store.EventTokenExchangeDenied, reason: reason}
}

// requestRefused is a refusal an endpoint decided before the Service and
// recorded, by the endpoints of Service.Handlers, as request.refused.
func requestRefused(status int, code, reason string) refusal {
	return refusal{status: status, code: code, event: store.EventRequestRefused, reasonPrefix: code, reason: reason}
}

// typed sends a genuine pair with the token type parameters changed by
// change.
func typed(change func(v url.Values) url.Values) func(*testing.T, *env) response {
	return func(t *testing.T, e *env) response {
		st, idt := e.genuine(t, appID, "alice", "bob")
		return e.token(t, appID, change(exchangeForm(st, idt))).presenting(st, idt).hiding("bob", "alice")
	}
}

// typedWith sends a genuine pair with parameter name set to vals (removed
// when none).
func typedWith(name string, vals ...string) func(*testing.T, *env) response {
	return typed(func(v url.Values) url.Values { return with(v, name, vals...) })
}

// exchangedIDToken is the ID token of bob that an exchange of alice's
// impersonation issues (requested_token_type id_token).
func exchangedIDToken(t *testing.T, e *env) string {
	t.Helper()
	st, idt := e.genuine(t, appID, "alice", "bob")
	r := e.token(t, appID, with(exchangeForm(st, idt), "requested_token_type", tokenexchange.TokenTypeIDToken))
	tok := accessTokenOf(t, r)
	require.Equal(t, "bob", testkit.DecodeJWT(t, tok).Str(t, "sub"))
	return tok
}

func TestTokenKindConfusion(t *testing.T) {
	t.Parallel()
	typeURN := func(name string) string { return "urn:ietf:params:oauth:token-type:" + name }
	cases := []attack{
		// A token of one kind where another is expected at the token endpoint.
		{name: "access_token_as_subject_token", run: func(t *testing.T, e *env) response {
			at := e.accessToken(t)
			_, idt := e.genuine(t, appID, "alice", "bob")
			return e.token(t, appID, exchangeForm(at, idt)).presenting(at, idt).hiding("bob")
		}, want: subjectWith(whyTyp)},
		{name: "access_token_as_subject_token_declared_access_token", run: func(t *testing.T, e *env) response {
			at := e.accessToken(t)
			_, idt := e.genuine(t, appID, "alice", "bob")
			form := with(exchangeForm(at, idt), "subject_token_type", tokenexchange.TokenTypeAccessToken)
			return e.token(t, appID, form).presenting(at, idt).hiding("bob")
		}, want: exchangeDenied("invalid_request", "subject_token_type unsupported")},
		{name: "ID_token_as_subject_token", run: func(t *testing.T, e *env) response {
			_, idt := e.genuine(t, appID, "alice", "bob")
			return e.token(t, appID, exchangeForm(idt, idt)).presenting(idt).hiding("alice")
		}, want: subjectWith(whyTyp)},
		{name: "ID_token_as_subject_token_declared_id_token", run: typed(func(v url.Values) url.Values {
			v = with(v, "subject_token", v.Get("actor_token"))
			return with(v, "subject_token_type", tokenexchange.TokenTypeIDToken)
		}), want: exchangeDenied("invalid_request", "subject_token_type unsupported")},
		{name: "subject_token_as_actor_token", run: func(t *testing.T, e *env) response {
			st, _ := e.genuine(t, appID, "alice", "bob")
			other, _ := e.genuine(t, appID, "alice", "carol")
			return e.token(t, appID, exchangeForm(st, other)).presenting(st, other).hiding("bob", "carol")
		}, want: actorWith(whyTyp)},
		{name: "same_subject_token_as_subject_and_actor", run: func(t *testing.T, e *env) response {
			st, _ := e.genuine(t, appID, "alice", "bob")
			return e.token(t, appID, exchangeForm(st, st)).presenting(st).hiding("bob")
		}, want: actorWith(whyTyp)},
		{name: "access_token_as_actor_token", run: func(t *testing.T, e *env) response {
			at := e.accessToken(t)
			st, _ := e.genuine(t, appID, "alice", "bob")
			return e.token(t, appID, exchangeForm(st, at)).presenting(st, at).hiding("bob")
		}, want: actorWith(whyTyp)},
		{name: "ID_token_claims_under_subject_typ", run: asSubject(func(t *testing.T, e *env) string {
			// An ID token's claims (no may_act, no client_id) signed as a
			// subject token: typ alone does not make a subject token.
			return e.signClaims(t, typSubject, e.idClaims("bob", appID))
		}), want: subjectWith(whyClient)},
		{name: "access_token_claims_under_subject_typ", run: asSubject(func(t *testing.T, e *env) string {
			c := changed(e.accessClaims(), set("aud", appID))
			return e.signClaims(t, typSubject, c)
		}), want: subjectWith(whyNoMayAct)},

		// Tokens that are not access tokens as bearer tokens at the API.
		{name: "subject_token_as_bearer_at_API", run: func(t *testing.T, e *env) response {
			st, _ := e.genuine(t, appID, "alice", "bob")
			return e.api(t, http.MethodGet, "/api/me", st).presenting(st).hiding("bob", "alice")
		}, want: badBearer},
		{name: "subject_token_as_bearer_on_state_changing_route", run: func(t *testing.T, e *env) response {
			st, _ := e.genuine(t, appID, "alice", "bob")
			return e.api(t, http.MethodPost, "/api/orders", st).presenting(st).hiding("bob", "alice")
		}, want: badBearer},
		{name: "ID_token_as_bearer_at_API", run: func(t *testing.T, e *env) response {
			_, idt := e.genuine(t, appID, "alice", "bob")
			return e.api(t, http.MethodGet, "/api/me", idt).presenting(idt).hiding("alice")
		}, want: badBearer},
		{name: "ID_token_for_the_API_audience_as_bearer", run: func(t *testing.T, e *env) response {
			idt := e.signClaims(t, typID, e.idClaims("alice", apiAudience))
			return e.api(t, http.MethodGet, "/api/me", idt).presenting(idt).hiding("alice")
		}, want: badBearer},
		{name: "subject_token_claims_for_the_API_audience_as_bearer", run: func(t *testing.T, e *env) response {
			st := e.signClaims(t, typSubject, changed(e.subjectClaims(), set("aud", apiAudience)))
			return e.api(t, http.MethodGet, "/api/me", st).presenting(st).hiding("bob")
		}, want: badBearer},
		{name: "access_token_for_another_audience_at_API", run: func(t *testing.T, e *env) response {
			st, idt := e.genuine(t, appID, "alice", "bob")
			r := e.token(t, appID, exchangeForm(st, idt)) // no audience: for app itself
			at := accessTokenOf(t, r)
			return e.api(t, http.MethodGet, "/api/me", at).presenting(at).hiding("bob")
		}, want: badBearer},
		{name: "access_token_without_client_id_at_API", run: atAPI(accessWithClaim(del("client_id"))), want: badBearer},
		{name: "access_token_without_jti_at_API", run: atAPI(accessWithClaim(del("jti"))), want: badBearer},
		{name: "access_token_act_too_deep_at_API", run: atAPI(accessWithClaim(set("act", testkit.ActChain(6)))), want: badBearer},
		{name: "access_token_typ_JWT_at_API", run: atAPI(func(t *testing.T, e *env) string {
			return e.signClaims(t, typID, e.accessClaims())
		}), want: badBearer},
		{name: "access_token_expired_at_API", run: atAPI(accessClaim(func(e *env) func(map[string]any) { return set("exp", e.clock.Now().Unix()-31) })), want: badBearer},

		// Other kinds at the UserInfo endpoint, which answers only for an
		// access token of this issuer.
		{name: "subject_token_at_userinfo", run: func(t *testing.T, e *env) response {
			st, _ := e.genuine(t, appID, "alice", "bob")
			return e.api(t, http.MethodGet, "/oauth2/userinfo", st).presenting(st).hiding("bob", "alice")
		}, want: badUserInfo},
		{name: "impersonator_ID_token_at_userinfo", run: func(t *testing.T, e *env) response {
			_, idt := e.genuine(t, appID, "alice", "bob")
			return e.api(t, http.MethodGet, "/oauth2/userinfo", idt).presenting(idt).hiding("alice")
		}, want: badUserInfo},
		{name: "exchanged_ID_token_at_userinfo", run: func(t *testing.T, e *env) response {
			idt := exchangedIDToken(t, e)
			return e.api(t, http.MethodGet, "/oauth2/userinfo", idt).presenting(idt).hiding("bob", "alice")
		}, want: badUserInfo},
		{name: "access_token_of_another_issuer_at_userinfo", run: func(t *testing.T, e *env) response {
			at := attackerSignedAs(typAccess, accessClaimsOf, asIs)(t, e)
			return e.api(t, http.MethodGet, "/oauth2/userinfo", at).presenting(at).hiding("bob", "alice")
		}, want: badUserInfo},
		{name: "access_token_typ_JWT_at_userinfo", run: func(t *testing.T, e *env) response {
			at := e.signClaims(t, typID, e.accessClaims())
			return e.api(t, http.MethodGet, "/oauth2/userinfo", at).presenting(at).hiding("bob", "alice")
		}, want: badUserInfo},

		// Other kinds at the introspection endpoint.
		{name: "subject_token_introspected", run: func(t *testing.T, e *env) response {
			st, _ := e.genuine(t, appID, "alice", "bob")
			return e.introspect(t, appID, st).presenting(st).hiding("bob", "alice")
		}, want: inactive},
		{name: "access_token_of_another_issuer_introspected", run: func(t *testing.T, e *env) response {
			at := attackerSignedAs(typAccess, accessClaimsOf, asIs)(t, e)
			return e.introspect(t, appID, at).presenting(at).hiding("bob", "alice")
		}, want: inactive},
		{name: "ID_token_introspected", run: func(t *testing.T, e *env) response {
			_, idt := e.genuine(t, appID, "alice", "bob")
			return e.introspect(t, appID, idt).presenting(idt).hiding("alice")
		}, want: inactive},

		// Token type parameters that do not fit the flow.
		{name: "subject_token_type_refresh_token", run: typedWith("subject_token_type", tokenexchange.TokenTypeRefreshToken), want: exchangeDenied("invalid_request", "subject_token_type unsupported")},
		{name: "subject_token_type_access_token", run: typedWith("subject_token_type", tokenexchange.TokenTypeAccessToken), want: exchangeDenied("invalid_request", "subject_token_type unsupported")},
		{name: "subject_token_type_saml2", run: typedWith("subject_token_type", tokenexchange.TokenTypeSAML2), want: exchangeDenied("invalid_request", "subject_token_type unsupported")},
		{name: "subject_token_type_unknown_URN", run: typedWith("subject_token_type", typeURN("subject_token")), want: exchangeDenied("invalid_request", "subject_token_type unsupported")},
		{name: "subject_token_type_case_changed", run: typedWith("subject_token_type", "URN:IETF:PARAMS:OAUTH:TOKEN-TYPE:JWT"), want: exchangeDenied("invalid_request", "subject_token_type unsupported")},
		{name: "subject_token_type_not_a_URI", run: typedWith("subject_token_type", "jwt"), want: requestRefused(400, "invalid_request", "subject_token_type must be an absolute URI")},
		{name: "subject_token_type_missing", run: typedWith("subject_token_type"), want: requestRefused(400, "invalid_request", "subject_token_type is required")},
		{name: "actor_token_type_jwt", run: typedWith("actor_token_type", tokenexchange.TokenTypeJWT), want: exchangeDenied("invalid_request", "actor_token_type unsupported")},
		{name: "actor_token_type_access_token", run: typedWith("actor_token_type", tokenexchange.TokenTypeAccessToken), want: exchangeDenied("invalid_request", "actor_token_type unsupported")},
		{name: "actor_token_type_refresh_token", run: typedWith("actor_token_type", tokenexchange.TokenTypeRefreshToken), want: exchangeDenied("invalid_request", "actor_token_type unsupported")},
		{name: "actor_token_missing", run: typed(func(v url.Values) url.Values {
			return with(with(v, "actor_token"), "actor_token_type")
		}), want: exchangeDenied("invalid_request", "actor_token missing")},
		{name: "actor_token_type_without_actor_token", run: typedWith("actor_token"), want: requestRefused(400, "invalid_request", "actor_token_type must not be sent without actor_token")},
		{name: "actor_token_without_actor_token_type", run: typedWith("actor_token_type"), want: requestRefused(400, "invalid_request", "actor_token_type is required with actor_token")},
		{name: "requested_token_type_refresh_token_for_a_client_without_refresh_tokens", run: typedWith("requested_token_type", tokenexchange.TokenTypeRefreshToken), want: exchangeDenied("invalid_request", "the client does not receive refresh tokens")},
		{name: "requested_token_type_saml2", run: typedWith("requested_token_type", tokenexchange.TokenTypeSAML2), want: exchangeDenied("invalid_request", "requested_token_type unsupported")},
		{name: "requested_token_type_unknown_URN", run: typedWith("requested_token_type", typeURN("subject_token")), want: exchangeDenied("invalid_request", "requested_token_type unsupported")},
		// The impersonated user's ID token from an exchange speaks for the
		// user: it makes nobody an impersonator, is no bearer token and is
		// no subject token.
		{name: "exchanged_ID_token_as_actor_token", run: func(t *testing.T, e *env) response {
			idt := exchangedIDToken(t, e)
			st, _ := e.genuine(t, appID, "alice", "bob")
			return e.token(t, appID, exchangeForm(st, idt)).presenting(st, idt).hiding("bob", "alice")
		}, want: actorWith("issued under impersonation (act)")},
		{name: "exchanged_ID_token_as_subject_token", run: func(t *testing.T, e *env) response {
			idt := exchangedIDToken(t, e)
			_, actor := e.genuine(t, appID, "alice", "bob")
			return e.token(t, appID, exchangeForm(idt, actor)).presenting(idt, actor).hiding("bob", "alice")
		}, want: subjectWith("typ")},
		{name: "exchanged_ID_token_as_bearer_at_API", run: func(t *testing.T, e *env) response {
			idt := exchangedIDToken(t, e)
			return e.api(t, http.MethodGet, "/api/me", idt).presenting(idt).hiding("bob")
		}, want: badBearer},
		{name: "exchanged_ID_token_introspected", run: func(t *testing.T, e *env) response {
			idt := exchangedIDToken(t, e)
			return e.introspect(t, appID, idt).presenting(idt).hiding("bob", "alice")
		}, want: inactive},
		{name: "opaque_refresh_like_token_as_subject_token", run: func(t *testing.T, e *env) response {
			_, idt := e.genuine(t, appID, "alice", "bob")
			rt := jose.NewID() + jose.NewID()
			form := with(exchangeForm(rt, idt), "subject_token_type", tokenexchange.TokenTypeRefreshToken)
			return e.token(t, appID, form).presenting(rt, idt)
		}, want: exchangeDenied("invalid_request", "subject_token_type unsupported")},
		{name: "opaque_string_as_subject_token", run: func(t *testing.T, e *env) response {
			_, idt := e.genuine(t, appID, "alice", "bob")
			rt := jose.NewID() + jose.NewID()
			return e.token(t, appID, exchangeForm(rt, idt)).presenting(rt, idt)
		}, want: subjectWith(whyMalformed)},

		// The audit gap at the resource server, as a case of its own.
		{
			name: "refused_bearer_token_leaves_an_audit_event",
			check: func(t *testing.T, e *env) {
				st, _ := e.genuine(t, appID, "alice", "bob")
				r := e.api(t, http.MethodPost, "/api/orders", st)
				assert.Equal(t, http.StatusUnauthorized, r.status)
				assert.NotEmpty(t, e.since(r.mark), "no audit event for a refused bearer token")
			},
		},
	}
	runFamily(t, cases)
}
