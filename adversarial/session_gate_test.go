package adversarial_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
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

func TestSessionGate(t *testing.T) {
	var cases []attack
	for name, deny := range gateDenials {
		cases = append(cases,
			attack{
				name: "F1 session sign-in at the authorize step of a client the policy refuses (" + name + ")",
				check: func(t *testing.T, e *env) {
					e.startSession(t)
					deny(t, e)
					mark := len(e.db.Events())
					sess, err := e.svc.Sessions().SignIn(context.Background(), gateLogin, app2ID)
					require.ErrorIs(t, err, impersonation.ErrNotPermitted, "the sign-in must be refused, not the user's nor the impersonator's own")
					assert.NotNil(t, sess)
					assertGateRecorded(t, e, mark, "session sign-in: policy: ")
				},
			},
			attack{
				name: "F1 session sign-in at the token step of a client the policy refuses (" + name + ")",
				check: func(t *testing.T, e *env) {
					e.startSession(t)
					deny(t, e)
					mark := len(e.db.Events())
					tok, err := e.signInUnderSession()
					require.ErrorIs(t, err, impersonation.ErrNotPermitted)
					assert.Nil(t, tok, "nothing issued: neither bob's tokens nor alice's own")
					assertGateRecorded(t, e, mark, "session sign-in: policy: ")
				},
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
					form := url.Values{"grant_type": {tokenexchange.GrantTypeRefreshToken}, "refresh_token": {tok.RefreshToken}}
					return e.token(t, app2ID, form).presenting(tok.RefreshToken)
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
	for _, ev := range e.db.Events()[mark:] {
		assert.NotEqual(t, store.EventSessionTokens, ev.Type, "tokens recorded as issued")
		if ev.Type == store.EventImpersonationDenied && ev.ClientID == app2ID && strings.HasPrefix(ev.Reason, prefix) {
			found = true
		}
	}
	assert.Truef(t, found, "no impersonation.denied event for %s with a reason %q… among %s", app2ID, prefix, describe(e.db.Events()[mark:]))
}
