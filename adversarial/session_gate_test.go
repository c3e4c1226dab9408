package adversarial_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
)

// The impersonation session attacked for its policy gate (issue 11, F1:
// an impersonation session handed the user's tokens to any client). alice
// impersonates bob through app; her login session then signs in to app2,
// for which the policy is denied one way or another.

const gateLogin = "login-of-alice"

// startSession runs the exchange over HTTP and binds gateLogin to it.
func (e *env) startSession(t testing.TB) *store.ImpersonationSession {
	t.Helper()
	sess, err := e.svc.Sessions().Start(context.Background(), gateLogin, e.accessToken(t), "ticket 1")
	require.NoError(t, err)
	return sess
}

// gateDenials deny alice's impersonation of bob for app2.
var gateDenials = map[string]func(t testing.TB, e *env){
	"impersonation off": func(t testing.TB, e *env) {
		e.updateClient(t, app2ID, func(c *store.Client) { c.Impersonation = false })
	},
	"no impersonator role": func(t testing.TB, e *env) {
		require.NoError(t, e.db.Unassign(app2ID, "impersonator", "alice"))
	},
}

// signInUnderSession is alice's code-flow sign-in at app2 through the
// session, as a host's token endpoint calls it.
func (e *env) signInUnderSession() (*impersonation.Tokens, error) {
	return e.svc.Sessions().Issue(context.Background(), impersonation.SignIn{
		LoginSession: gateLogin, User: "alice", ClientID: app2ID,
		Scope: claims.Scope{"openid", scopeRead, scopeWrite},
	})
}

// refusedSignIn starts alice's session, denies the policy with deny, then
// requires attempt's sign-in at app2 to be refused as not permitted and
// recorded.
func refusedSignIn(deny func(testing.TB, *env), attempt func(t *testing.T, e *env) error) func(*testing.T, *env) {
	return func(t *testing.T, e *env) {
		e.startSession(t)
		deny(t, e)
		mark := len(e.db.Events())
		require.ErrorIs(t, attempt(t, e), impersonation.ErrNotPermitted, "the sign-in must be refused, not the user's nor the impersonator's own")
		assertGateRecorded(t, e, mark, "session sign-in: policy: ")
	}
}

func TestSessionGate(t *testing.T) {
	var cases []attack
	for name, deny := range gateDenials {
		cases = append(cases,
			attack{
				name: "F1 session sign-in at the authorize step of a client the policy refuses (" + name + ")",
				check: refusedSignIn(deny, func(t *testing.T, e *env) error {
					sess, err := e.svc.Sessions().SignIn(context.Background(), gateLogin, app2ID)
					assert.NotNil(t, sess)
					return err
				}),
			},
			attack{
				name: "F1 session sign-in at the token step of a client the policy refuses (" + name + ")",
				check: refusedSignIn(deny, func(t *testing.T, e *env) error {
					tok, err := e.signInUnderSession()
					assert.Nil(t, tok, "nothing issued: neither bob's tokens nor alice's own")
					return err
				}),
			},
			attack{
				name: "F1 session refresh at a client the policy refuses (" + name + ")",
				run: func(t *testing.T, e *env) response {
					e.updateClient(t, app2ID, func(c *store.Client) { c.RefreshTokens = true })
					e.startSession(t)
					tok, err := e.signInUnderSession()
					require.NoError(t, err)
					require.NotEmpty(t, tok.RefreshToken)
					deny(t, e)
					return e.token(t, app2ID, refreshForm(tok.RefreshToken)).presenting(tok.RefreshToken)
				},
				want: refusal{status: 400, code: "invalid_grant", event: store.EventImpersonationDenied, reasonPrefix: "session refresh: policy: "},
			},
		)
	}
	runFamily(t, cases)
}

// assertGateRecorded requires an impersonation.denied event for app2 since
// mark whose reason starts with prefix, and no tokens recorded as issued.
func assertGateRecorded(t *testing.T, e *env, mark int, prefix string) {
	t.Helper()
	var found bool
	for _, ev := range e.since(mark) {
		assert.NotEqual(t, store.EventSessionTokens, ev.Type, "tokens recorded as issued")
		if ev.Type == store.EventImpersonationDenied && ev.ClientID == app2ID && strings.HasPrefix(ev.Reason, prefix) {
			found = true
		}
	}
	assert.Truef(t, found, "no impersonation.denied event for %s with a reason %q… among %s", app2ID, prefix, describe(e.since(mark)))
}
