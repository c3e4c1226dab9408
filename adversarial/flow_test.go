package adversarial_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
)

// policyWith is an exchange refused because the policy, checked again at
// the token endpoint, no longer permits it.
func policyWith(reason string) refusal {
	return refusal{status: 400, code: "invalid_request", event: store.EventTokenExchangeDenied, reasonPrefix: "policy: ", reason: reason}
}

// deniedAt is an authorize request refused by the policy: access_denied
// redirected to the client, impersonation.denied with the rule.
func deniedAt(reason string) refusal {
	return refusal{status: http.StatusFound, code: "access_denied", event: store.EventImpersonationDenied, reason: reason}
}

// replayed is a second presentation of a consumed subject token.
var replayed = refusal{status: 400, code: "invalid_request", event: store.EventReplayDetected, reason: "subject token already used"}

// authorizeAs runs an authorize request of clientID for subject as the
// logged-in user.
func authorizeAs(user, clientID, subject string) func(*testing.T, *env) response {
	return func(t *testing.T, e *env) response {
		return e.authorize(t, user, authorizeValues(clientID, subject).Encode()).hiding(subject)
	}
}

// betweenSteps obtains a genuine pair (alice as bob through app), applies
// change to the world, then exchanges the pair.
func betweenSteps(change func(t *testing.T, e *env)) func(*testing.T, *env) response {
	return func(t *testing.T, e *env) response {
		st, idt := e.genuine(t, appID, "alice", "bob")
		change(t, e)
		return e.token(t, appID, exchangeForm(st, idt)).presenting(st, idt).hiding("bob", "alice")
	}
}

// exchangeAsking exchanges a genuine pair with extra parameters.
func exchangeAsking(params url.Values) func(*testing.T, *env) response {
	return func(t *testing.T, e *env) response {
		st, idt := e.genuine(t, appID, "alice", "bob")
		form := exchangeForm(st, idt)
		for k, vs := range params {
			form[k] = vs
		}
		return e.token(t, appID, form).presenting(st, idt).hiding("bob", "alice")
	}
}

// replay exchanges a genuine pair once successfully, then presents again
// what again returns for the consumed subject token.
func replay(again func(t testing.TB, st string) string) func(*testing.T, *env) response {
	return func(t *testing.T, e *env) response {
		st, idt := e.genuine(t, appID, "alice", "bob")
		first := e.token(t, appID, exchangeForm(st, idt))
		require.Equal(t, http.StatusOK, first.status, first.body)
		st2 := again(t, st)
		return e.token(t, appID, exchangeForm(st2, idt)).presenting(st, st2, idt).hiding("bob", "alice")
	}
}

func TestFlow(t *testing.T) {
	t.Parallel()
	cases := []attack{
		// Wrong client, wrong actor.
		{name: "subject_token_of_client_A_with_client_B_credentials", check: func(t *testing.T, e *env) {
			st, idt := e.genuine(t, appID, "alice", "bob")
			r := e.token(t, app2ID, exchangeForm(st, idt)).presenting(st, idt).hiding("bob", "alice")
			assertRefused(t, e, r, subjectWith(whyAudience))
			ok := e.token(t, appID, exchangeForm(st, idt))
			assert.Equal(t, http.StatusOK, ok.status, "another client's refused attempt burned the token: %s", ok.body)
		}},
		{name: "actor_is_the_subject_bobs_ID_token", run: func(t *testing.T, e *env) response {
			st, _ := e.genuine(t, appID, "alice", "bob")
			bobID := e.signClaims(t, typID, e.idClaims("bob", appID))
			return e.token(t, appID, exchangeForm(st, bobID)).presenting(st, bobID).hiding("bob", "alice")
		}, want: actorWith("sub is not may_act.sub")},
		{name: "actor_is_another_impersonator", run: func(t *testing.T, e *env) response {
			st, _ := e.genuine(t, appID, "alice", "bob")
			_, eveID := e.genuine(t, appID, "eve", "bob")
			return e.token(t, appID, exchangeForm(st, eveID)).presenting(st, eveID).hiding("bob", "alice", "eve")
		}, want: actorWith("sub is not may_act.sub")},
		{name: "ID_token_of_another_client_as_actor", run: func(t *testing.T, e *env) response {
			st, _ := e.genuine(t, appID, "alice", "bob")
			_, idt2 := e.genuine(t, app2ID, "alice", "bob")
			return e.token(t, appID, exchangeForm(st, idt2)).presenting(st, idt2).hiding("bob", "alice")
		}, want: actorWith(whyAudience)},
		{name: "may_act_iss_not_the_actor_tokens_issuer", run: asSubject(subjectClaim(set("may_act", map[string]any{"sub": "alice", "iss": "https://other-idp.example"}))),
			want: actorWith("iss is not may_act.iss")},

		// Replay.
		{name: "replay_sequential", run: replay(func(_ testing.TB, st string) string { return st }), want: replayed},
		{name: "replay_with_malleated_ECDSA_signature", run: replay(malleate), want: replayed},
		{name: "replay_with_line_break_in_signature_segment", run: replay(func(_ testing.TB, st string) string {
			i := strings.LastIndexByte(st, '.') + 10
			return st[:i] + "\n" + st[i:]
		}), want: replayed},
		{name: "replay_after_the_access_token_was_revoked", run: func(t *testing.T, e *env) response {
			st, idt := e.genuine(t, appID, "alice", "bob")
			at := accessTokenOf(t, e.token(t, appID, exchangeForm(st, idt)))
			require.Equal(t, http.StatusOK, e.revoke(t, appID, at).status)
			return e.token(t, appID, exchangeForm(st, idt)).presenting(st, idt, at).hiding("bob", "alice")
		}, want: replayed},
		{name: "exchange_after_the_subject_token_was_revoked", run: func(t *testing.T, e *env) response {
			st, idt := e.genuine(t, appID, "alice", "bob")
			rv := e.revoke(t, appID, st)
			require.Equal(t, http.StatusOK, rv.status, rv.body)
			return e.token(t, appID, exchangeForm(st, idt)).presenting(st, idt).hiding("bob", "alice")
		}, want: replayed},
		{name: "replay_50_concurrent_over_HTTP", check: concurrentReplay},

		// The world changes between authorize and exchange.
		{name: "role_revoked_between_steps", run: betweenSteps(func(t *testing.T, e *env) {
			require.NoError(t, e.db.Unassign(appID, "impersonator", "alice"))
		}), want: policyWith("impersonator_lacks_role")},
		{name: "impersonator_disabled_between_steps", run: betweenSteps(func(t *testing.T, e *env) {
			e.updateUser(t, "alice", func(u *store.User) { u.Disabled = true })
		}), want: policyWith("impersonator_disabled")},
		{name: "subject_disabled_between_steps", run: betweenSteps(func(t *testing.T, e *env) {
			e.updateUser(t, "bob", func(u *store.User) { u.Disabled = true })
		}), want: policyWith("subject_disabled")},
		{name: "subject_moved_to_another_root_between_steps", run: betweenSteps(func(t *testing.T, e *env) {
			e.updateUser(t, "bob", func(u *store.User) { u.Org = "globex" })
		}), want: policyWith("subject_outside_organization")},
		{name: "subject_became_protected_between_steps", run: betweenSteps(func(t *testing.T, e *env) {
			require.NoError(t, e.db.Assign(appID, "impersonator", "bob"))
		}), want: policyWith("subject_protected")},
		{name: "client_impersonation_turned_off_between_steps", run: betweenSteps(func(t *testing.T, e *env) {
			e.updateClient(t, appID, func(c *store.Client) { c.Impersonation = false })
		}), want: exchangeDenied("unauthorized_client", "client_impersonation_disabled")},
		{name: "client_grant_type_removed_between_steps", run: betweenSteps(func(t *testing.T, e *env) {
			e.updateClient(t, appID, func(c *store.Client) { c.GrantTypes = nil })
		}), want: exchangeDenied("unauthorized_client", "grant type not allowed")},
		{name: "disabled_client_at_exchange", run: betweenSteps(func(t *testing.T, e *env) {
			e.updateClient(t, appID, func(c *store.Client) { c.Disabled = true })
		}), want: requestRefused(401, "invalid_client", "client authentication failed")},
		{name: "subject_token_expired_between_steps", run: betweenSteps(func(_ *testing.T, e *env) {
			e.clock.Advance(180*time.Second + 30*time.Second)
		}), want: subjectWith(whyExpired)},
		{name: "signing_key_retired_between_steps", run: betweenSteps(func(t *testing.T, e *env) {
			next, err := store.GenerateKey(store.ES256)
			require.NoError(t, err)
			require.NoError(t, e.keys.Rotate(next, e.clock.Now()))
		}), want: subjectWith(whyKey)},

		// Organisation boundaries and the other policy rules at authorize.
		{name: "impersonating_upward", run: authorizeAs("eve", appID, "frank"), want: deniedAt("subject_outside_organization")},
		{name: "impersonating_sideways", run: authorizeAs("eve", appID, "carol"), want: deniedAt("subject_outside_organization")},
		{name: "impersonating_across_roots", run: authorizeAs("alice", appID, "mallory"), want: deniedAt("subject_outside_organization")},
		{name: "impersonating_upward_the_parent_admin", run: authorizeAs("eve", appID, "alice"), want: deniedAt("subject_outside_organization")},
		{name: "self_impersonation", run: authorizeAs("alice", appID, "alice"), want: deniedAt("self_impersonation")},
		{name: "disabled_user", run: authorizeAs("alice", appID, "erin"), want: deniedAt("subject_disabled")},
		{name: "protected_user", run: authorizeAs("alice", appID, "dave"), want: deniedAt("subject_protected")},
		{name: "one_impersonator_as_another_in_the_same_org", run: authorizeAs("eve", appID, "dave"), want: deniedAt("subject_protected")},
		{name: "unknown_user", run: authorizeAs("alice", appID, "nobody-7f3a"), want: deniedAt("subject_unknown")},
		{name: "impersonator_without_the_role", run: authorizeAs("bob", appID, "carol"), want: deniedAt("impersonator_lacks_role")},
		{name: "impersonator_with_the_role_for_another_client_only", run: authorizeAs("eve", app2ID, "bob"), want: deniedAt("impersonator_lacks_role")},
		{name: "disabled_impersonator", run: func(t *testing.T, e *env) response {
			e.updateUser(t, "alice", func(u *store.User) { u.Disabled = true })
			return authorizeAs("alice", appID, "bob")(t, e)
		}, want: deniedAt("impersonator_disabled")},
		{name: "unknown_impersonator", run: authorizeAs("ghost-admin", appID, "bob"), want: deniedAt("impersonator_unknown")},
		{name: "disabled_client_at_authorize", run: authorizeAs("alice", disabledID, "bob"), want: deniedAt("client_disabled")},

		// Escalation at the token endpoint.
		{name: "scope_escalation", run: exchangeAsking(url.Values{"scope": {"openid " + scopeWrite}}), want: exchangeDenied("invalid_scope", "scope escalation")},
		{name: "scope_escalation_to_the_impersonate_scope", run: exchangeAsking(url.Values{"scope": {scopeImpersonate}}), want: exchangeDenied("invalid_scope", "scope escalation")},
		{name: "scope_escalation_to_an_unknown_scope", run: exchangeAsking(url.Values{"scope": {"admin"}}), want: exchangeDenied("invalid_scope", "scope escalation")},
		{name: "audience_escalation_to_another_client", run: exchangeAsking(url.Values{"audience": {app2ID}}), want: exchangeDenied("invalid_target", "audience not allowed")},
		{name: "audience_escalation_to_an_unregistered_API", run: exchangeAsking(url.Values{"audience": {"https://payments.example"}}), want: exchangeDenied("invalid_target", "audience not allowed")},
		{name: "audience_escalation_by_case", run: exchangeAsking(url.Values{"audience": {strings.ToUpper(apiAudience)}}), want: exchangeDenied("invalid_target", "audience not allowed")},
		{name: "resource_escalation", run: exchangeAsking(url.Values{"resource": {"https://evil.example/"}}), want: exchangeDenied("invalid_target", "audience not allowed")},
		{name: "resource_escalation_next_to_an_allowed_audience", run: exchangeAsking(url.Values{"audience": {apiAudience}, "resource": {"https://payments.example/"}}), want: exchangeDenied("invalid_target", "audience not allowed")},
		{name: "resource_escalation_with_trailing_slash", run: exchangeAsking(url.Values{"resource": {apiAudience + "/"}}), want: exchangeDenied("invalid_target", "audience not allowed")},

		// Revoked and foreign access tokens.
		{name: "revoked_access_token_at_API", run: withAccessToken(func(t *testing.T, e *env, at string) response {
			rv := e.revoke(t, appID, at)
			require.Equal(t, http.StatusOK, rv.status, rv.body)
			return e.api(t, http.MethodGet, "/api/me", at)
		}), want: badBearer},
		{name: "revoked_access_token_on_state_changing_route", run: withAccessToken(func(t *testing.T, e *env, at string) response {
			require.Equal(t, http.StatusOK, e.revoke(t, appID, at).status)
			return e.api(t, http.MethodPost, "/api/orders", at)
		}), want: badBearer},
		{name: "revoked_access_token_introspected", run: withAccessToken(func(t *testing.T, e *env, at string) response {
			require.Equal(t, http.StatusOK, e.revoke(t, appID, at).status)
			return e.introspect(t, appID, at)
		}), want: inactive},
		{name: "client_introspecting_another_clients_access_token", run: withAccessToken(func(t *testing.T, e *env, at string) response {
			return e.introspect(t, app2ID, at)
		}), want: inactive},
		{name: "expired_access_token_introspected", run: withAccessToken(func(t *testing.T, e *env, at string) response {
			e.clock.Advance(time.Hour + 30*time.Second)
			return e.introspect(t, appID, at)
		}), want: inactive},
		{name: "client_revoking_another_clients_access_token", check: func(t *testing.T, e *env) {
			at := e.accessToken(t)
			r := e.revoke(t, app2ID, at).presenting(at).hiding("bob", "alice")
			assertRefused(t, e, r, requestRefused(400, "unauthorized_client", "the token was not issued to this client"))
			still := e.api(t, http.MethodGet, "/api/me", at)
			assert.Equal(t, http.StatusOK, still.status, "another client revoked the token: %s", still.body)
		}},
		{name: "client_revoking_another_clients_subject_token", check: func(t *testing.T, e *env) {
			st, idt := e.genuine(t, appID, "alice", "bob")
			r := e.revoke(t, app2ID, st).presenting(st, idt).hiding("bob", "alice")
			assertRefused(t, e, r, requestRefused(400, "unauthorized_client", "the token was not issued to this client"))
			ok := e.token(t, appID, exchangeForm(st, idt))
			assert.Equal(t, http.StatusOK, ok.status, "another client burned the subject token: %s", ok.body)
		}},
		{
			name: "introspection_of_another_clients_token_leaves_an_audit_event",
			check: func(t *testing.T, e *env) {
				at := e.accessToken(t)
				r := e.introspect(t, app2ID, at)
				assert.Equal(t, http.StatusOK, r.status)
				assert.NotEmpty(t, e.since(r.mark), "no audit event for the refused introspection")
			},
		},

		// Rate limit of impersonation starts.
		{name: "rate_limit_of_impersonation_starts", opts: []envOption{withStartLimit(3)}, check: func(t *testing.T, e *env) {
			for range 3 {
				e.genuine(t, appID, "alice", "bob")
			}
			r := authorizeAs("alice", appID, "bob")(t, e)
			assertRefused(t, e, r, refusal{status: http.StatusFound, code: "temporarily_unavailable", event: store.EventImpersonationDenied, reason: "rate_limited"})
			other := e.authorize(t, "eve", authorizeValues(appID, "bob").Encode())
			assert.Equal(t, http.StatusFound, other.status)
			assert.NotContains(t, other.header.Get("Location"), "error=", "the limit is per impersonator")
			e.clock.Advance(time.Minute)
			e.genuine(t, appID, "alice", "bob") // a new window
		}},
		{name: "rate_limit_counts_refused_probes", opts: []envOption{withStartLimit(3)}, run: func(t *testing.T, e *env) response {
			for _, who := range []string{"carol", "frank", "mallory"} {
				r := e.authorize(t, "eve", authorizeValues(appID, who).Encode())
				require.Equal(t, "access_denied", r.oauthError(t))
			}
			return authorizeAs("eve", appID, "bob")(t, e)
		}, want: refusal{status: http.StatusFound, code: "temporarily_unavailable", event: store.EventImpersonationDenied, reason: "rate_limited"}},

		// The sensitive route.
		{name: "impersonated_token_on_ForbidImpersonation_route", check: func(t *testing.T, e *env) {
			at := e.accessToken(t)
			r := e.api(t, http.MethodPost, "/api/password", at)
			require.Equal(t, http.StatusForbidden, r.status, r.body)
			assert.Equal(t, "access_denied", r.oauthError(t))
			assert.Empty(t, r.header.Get("X-Password-Changed"), "the password handler ran")
			assertAuditHoldsNoToken(t, e.since(r.mark), []string{at})
			// WithRequestAudit records the attempt before the handler runs
			// (documented), and ForbidImpersonation its refusal: the trail
			// shows who tried, by method and path, and that it was refused.
			var trail []store.Event
			for _, ev := range e.since(r.mark) {
				if ev.Type == store.EventImpersonatedRequest && ev.Path == "/api/password" {
					trail = append(trail, ev)
				}
			}
			require.Len(t, trail, 2)
			for i, outcome := range []string{store.OutcomeAttempted, store.OutcomeDenied} {
				assert.Equal(t, outcome, trail[i].Outcome)
				assert.Equal(t, "alice", trail[i].Impersonator)
				assert.Equal(t, "bob", trail[i].Subject)
			}
		}},
	}
	runFamily(t, cases)
}

// concurrentReplay presents one subject token 50 times at once over HTTP:
// exactly one exchange succeeds, 49 are refused as replays and audited.
// The requests are built first, so that only the sending races.
func concurrentReplay(t *testing.T, e *env) {
	const n = 50
	st, idt := e.genuine(t, appID, "alice", "bob")
	mark := len(e.db.Events())
	body := exchangeForm(st, idt).Encode()
	type answer struct {
		status int
		out    map[string]any
		err    error
	}
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = postRaw(t, e, body, formType, basic(appID))
	}
	answers := make([]answer, n)
	testkit.Alternate(n, e, e, func(i int, e *env) {
		resp, err := e.hc.Do(reqs[i])
		if err != nil {
			answers[i].err = err
			return
		}
		defer resp.Body.Close()
		answers[i].status = resp.StatusCode
		_ = json.NewDecoder(resp.Body).Decode(&answers[i].out)
	})

	statuses, codes := map[int]int{}, map[string]int{}
	for _, a := range answers {
		require.NoError(t, a.err)
		statuses[a.status]++
		if c, ok := a.out["error"].(string); ok {
			codes[c]++
			raw, _ := json.Marshal(a.out)
			assertHoldsNoToken(t, string(raw), []string{st})
			assertNoInternalText(t, string(raw))
		}
	}
	assert.Equal(t, map[int]int{200: 1, 400: n - 1}, statuses)
	assert.Equal(t, map[string]int{"invalid_request": n - 1}, codes)
	assert.Equal(t, 1, countSince(e, mark, store.EventTokenExchanged), "exactly one token issued")
	assert.Equal(t, n-1, countSince(e, mark, store.EventReplayDetected), "every replay audited")
	for _, ev := range e.since(mark) {
		if ev.Type == store.EventReplayDetected {
			assert.NotEmpty(t, ev.Reason)
			assert.Equal(t, "bob", ev.Subject)
			assert.Equal(t, "alice", ev.Impersonator)
		}
	}
	assertAuditHoldsNoToken(t, e.since(mark), []string{st, idt})
}
