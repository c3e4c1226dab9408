package impersonation_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// The impersonator's reason, end to end: given at the authorize step, it
// is on every later event of the impersonation and, with the reason claim
// on, in its tokens; it can be required for every start.

const testReason = "ticket 4711: refund not shown"

// authorizeWithReason runs alice's authorize step for bob through clientID
// with reason and returns the subject token and ID token.
func (f *fixture) authorizeWithReason(t *testing.T, clientID, reason string) (string, string) {
	t.Helper()
	v := authorizeValues(clientID, "bob")
	v.Set("impersonation_reason", reason)
	resp, err := f.svc.Authorize(context.Background(), f.parseAuthorize(t, v), impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
	require.NoError(t, err)
	return resp.SubjectToken, resp.IDToken
}

func TestReason_FromAuthorizeToTheExchange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fixture   func(t *testing.T) *fixture
		wantClaim bool
	}{
		{name: "reason claim off", fixture: func(t *testing.T) *fixture { return newFixture(t) }},
		{name: "reason claim on (WithReason)", wantClaim: true, fixture: func(t *testing.T) *fixture {
			return newFixture(t, withServiceOptions(impersonation.WithReason(impersonation.ReasonPolicy{Claim: true})))
		}},
		{name: "reason claim on (SessionConfig.ReasonClaim)", wantClaim: true, fixture: func(t *testing.T) *fixture {
			return newSessionFixture(t, sessReasonClaim)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := tc.fixture(t)
			n := len(f.db.Events())
			st, idt := f.authorizeWithReason(t, appID, testReason)
			assert.Equal(t, testReason, testkit.DecodeJWT(t, st).Str(t, "impersonation_reason"), "the subject token carries it to the exchange")

			out := f.exchangeVia(t, viaHTTP, appID, exchangeRequest(st, idt))
			require.Equal(t, http.StatusOK, out.status, out.body)

			events := testkit.EventsSince(f.db.Events(), n)
			require.Len(t, events, 2, "%+v", events)
			for _, e := range events {
				assert.Equal(t, testReason, e.Justification, "%s carries the reason", e.Type)
			}
			at := testkit.DecodeJWT(t, out.resp.AccessToken)
			p, err := f.verifier(t, appID).Verify(context.Background(), out.resp.AccessToken)
			require.NoError(t, err)
			if tc.wantClaim {
				assert.Equal(t, testReason, at.Str(t, impersonation.ClaimReason))
				assert.Equal(t, testReason, p.Reason)
			} else {
				assert.NotContains(t, at.Claims, impersonation.ClaimReason)
				assert.Empty(t, p.Reason)
			}
			assert.NotContains(t, testkit.DecodeJWT(t, out.resp.IDToken).Claims, impersonation.ClaimReason, "the ID token says who, not why")
		})
	}
}

// TestReason_SessionStartTakesTheTokensReason: a session started without
// a reason takes the one the exchanged token carries, and its events and
// tokens carry it.
func TestReason_SessionStartTakesTheTokensReason(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t, sessReasonClaim)
	out := f.exchangeVia(t, viaHTTP, appID, exchangeRequest(f.authorizeWithReason(t, appID, testReason)))
	require.Equal(t, http.StatusOK, out.status, out.body)
	n := len(f.db.Events())

	sess, err := f.svc.Sessions().Start(context.Background(), sessLogin, out.resp.AccessToken, "")
	require.NoError(t, err)
	assert.Equal(t, testReason, sess.Reason)
	tok := f.issueTokens(t, app2ID, sessLogin)
	assert.Equal(t, testReason, testkit.DecodeJWT(t, tok.AccessToken).Str(t, impersonation.ClaimReason))
	require.NoError(t, f.svc.Sessions().End(context.Background(), sessLogin, "done"))

	events := testkit.EventsSince(f.db.Events(), n)
	require.Len(t, events, 3, "started, tokens, ended: %+v", events)
	for _, e := range events {
		assert.Equal(t, testReason, e.Justification, "%s carries the reason", e.Type)
	}
}

func TestReason_Required(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fixture func(t *testing.T) *fixture
	}{
		{name: "by the service (ReasonPolicy.Required)", fixture: func(t *testing.T) *fixture {
			return newFixture(t, withServiceOptions(impersonation.WithReason(impersonation.ReasonPolicy{Required: true})))
		}},
		{name: "by the client (store.Client.ReasonRequired)", fixture: func(t *testing.T) *fixture {
			f := newFixture(t)
			f.updateClient(t, appID, func(c *store.Client) { c.ReasonRequired = true })
			return f
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := tc.fixture(t)
			h := authorizeHandlerOf(t, f.svc, &ahAuthenticator{user: "alice", authTime: f.clock.Now()})

			w := ahServe(h, http.MethodGet, authorizeValues(appID, "bob"))

			require.Equal(t, http.StatusFound, w.Code, "a known client with its registered redirect URI: redirected")
			loc, err := url.Parse(w.Header().Get("Location"))
			require.NoError(t, err)
			frag, err := url.ParseQuery(loc.Fragment)
			require.NoError(t, err)
			assert.Equal(t, subjecttoken.ErrInvalidRequest.Code, frag.Get("error"))
			assert.Contains(t, frag.Get("error_description"), "reason (impersonation_reason) is required")
			assert.Equal(t, testState, frag.Get("state"))
			assert.Empty(t, frag.Get("subject_token"))
			assert.Empty(t, frag.Get("id_token"))
			e := testkit.RequireOneEvent(t, f.db.Events(), store.EventImpersonationDenied, store.OutcomeDenied, string(impersonation.ReasonMissingReason))
			assert.Equal(t, "alice", e.Impersonator)
			assert.Equal(t, "bob", e.Subject)
			assert.Empty(t, e.JTI, "nothing minted")
			assert.Empty(t, f.db.Notices(), "nobody notified")

			// With a reason it goes ahead.
			st, _ := f.authorizeWithReason(t, appID, testReason)
			assert.NotEmpty(t, st)
		})
	}
}

// TestReason_RequiredBySessionClient: a client that requires a reason
// refuses a session start without one, when the token carries none.
func TestReason_RequiredBySessionClient(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	exchanged := f.accessToken(t)
	f.updateClient(t, appID, func(c *store.Client) { c.ReasonRequired = true })
	n := len(f.db.Events())

	sess, err := f.svc.Sessions().Start(context.Background(), sessLogin, exchanged, "")

	require.ErrorIs(t, err, impersonation.ErrReasonRequired)
	assert.Nil(t, sess)
	assert.Nil(t, f.activeSession(t), "no session started")
	assert.Empty(t, testkit.EventsSince(f.db.Events(), n))

	sess, err = f.svc.Sessions().Start(context.Background(), sessLogin, exchanged, testReason)
	require.NoError(t, err)
	assert.Equal(t, testReason, sess.Reason)
}

// TestReason_ExchangeOfASubjectTokenWithoutReason: a subject token minted
// before its client began to require a reason is refused at the exchange
// too, recorded, and not consumed.
func TestReason_ExchangeOfASubjectTokenWithoutReason(t *testing.T) {
	t.Parallel()
	runBothWays(t, "", func(t *testing.T, via string) {
		f := newFixture(t)
		st, idt := f.authorize(t, "alice", "bob")
		f.updateClient(t, appID, func(c *store.Client) { c.ReasonRequired = true })
		n := len(f.db.Events())

		out := f.exchangeVia(t, via, appID, exchangeRequest(st, idt))

		assert.Equal(t, http.StatusBadRequest, out.status)
		assert.Equal(t, tokenexchange.ErrInvalidRequest.Code, out.code)
		assert.Contains(t, out.description, "needs a reason")
		assert.Nil(t, out.resp)
		testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventTokenExchangeDenied, store.OutcomeDenied, string(impersonation.ReasonMissingReason))
		assert.Zero(t, f.db.UsedLen(), "the subject token is not consumed")
		testkit.AssertNoLeak(t, out.body, st, idt)
	})
}
