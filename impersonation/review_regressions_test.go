package impersonation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/tokenexchange"
)

// TestRevoke_StartTokenEndsTheSessionForGood: revoking (RFC 7009) the
// exchanged access token that started a session ends the session for as
// long as it could have lasted, not only as long as that token.
func TestRevoke_StartTokenEndsTheSessionForGood(t *testing.T) {
	f := newSessionFixture(t) // session max 1h
	f.updateClient(t, appID, func(c *store.Client) { c.AccessTokenTTL = 5 * time.Minute })
	f.enableRefresh(t, app2ID)
	sess, exchanged := f.startSession(t, sessReason)
	tok := f.issueTokens(t, app2ID, sessLogin) // refresh token under the session
	require.NotEmpty(t, tok.RefreshToken)

	require.NoError(t, f.svc.Revoke(context.Background(), sessClient(appID), exchanged, ""))
	// (nobody calls Active in between: alice is not using the browser)
	f.clock.Advance(5*time.Minute + claims.MaxSkew + time.Second)

	// the refresh token of the "ended" session works again
	_, err := f.svc.Sessions().Refresh(context.Background(), sessClient(app2ID), tok.RefreshToken, nil)
	assert.Error(t, err, "refresh under a session ended by revoking its start token succeeded")
	// and so does the login-bound session itself
	got, err := f.svc.Sessions().Active(context.Background(), sessLogin, "")
	require.NoError(t, err)
	assert.Nil(t, got, "the session %s is active again after its start token was revoked", sess.ID)
}

// TestRevoke_SessionTokenEndsTheSessionForGood: the same through an access
// token issued under the session, for a session longer than a day.
func TestRevoke_SessionTokenEndsTheSessionForGood(t *testing.T) {
	f := newSessionFixture(t, sessMax(72*time.Hour), sessRefreshTTL(72*time.Hour))
	f.enableRefresh(t, app2ID)
	f.startSession(t, sessReason)
	tok := f.issueTokens(t, app2ID, sessLogin)
	rt := tok.RefreshToken
	// a second refresh token chain, obtained before revocation
	tok2 := f.refreshOK(t, app2ID, rt, nil)
	require.NoError(t, f.svc.Revoke(context.Background(), sessClient(app2ID), tok2.AccessToken, ""))
	_, err := f.svc.Sessions().Refresh(context.Background(), sessClient(app2ID), tok2.RefreshToken, nil)
	require.Error(t, err, "refused right after")
	f.clock.Advance(26 * time.Hour)
	_, err = f.svc.Sessions().Refresh(context.Background(), sessClient(app2ID), tok2.RefreshToken, nil)
	assert.Error(t, err, "refresh works again 26h after the session was ended")
}

// TestGrants_NoTokenOutlivesTheGrant: under a grant with less than a
// second left, nothing is minted (a token lives whole seconds); with a
// little more, the issued token ends with the grant.
func TestGrants_NoTokenOutlivesTheGrant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		left time.Duration
	}{{"half a second left", 500 * time.Millisecond}, {"a second and a half left", 1500 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := grantFixture(t)
			g := f.give(t, "", 2*time.Minute)
			resp, err := f.authorizeAs(t)
			require.NoError(t, err)
			f.clock.Advance(2*time.Minute - tc.left)
			n := len(f.db.Events())
			req := exchangeRequest(resp.SubjectToken, resp.IDToken)
			req.RequestedTokenType = tokenexchange.TokenTypeIDToken
			out, err := f.svc.Exchange(context.Background(), clientApp(), req)
			if tc.left < time.Second {
				require.Error(t, err)
				assert.Nil(t, out, "nothing issued")
				var te *tokenexchange.Error
				require.ErrorAs(t, err, &te)
				assert.Equal(t, tokenexchange.ErrInvalidRequest.Code, te.Code)
				testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventTokenExchangeDenied, store.OutcomeDenied, "policy: subject_grant_expired")
				return
			}
			require.NoError(t, err)
			assert.LessOrEqual(t, out.ExpiresIn, int64(1))
			assert.LessOrEqual(t, testkit.DecodeJWT(t, out.AccessToken).Num(t, "exp"), g.Expires.Unix())
		})
	}
}

// TestReason_RequiredByTheClientASessionSignsInTo: a session started
// without a reason signs in nowhere a client requires one: refused,
// recorded, nothing issued, and the session stays for the others.
func TestReason_RequiredByTheClientASessionSignsInTo(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.updateClient(t, app2ID, func(c *store.Client) { c.ReasonRequired = true })
	sess, _ := f.startSession(t, "")
	require.Empty(t, sess.Reason)
	n := len(f.db.Events())

	tok, err := f.svc.Sessions().Issue(context.Background(), f.sessSignIn(app2ID, sessLogin))

	assert.Nil(t, tok, "nothing issued")
	var denied *impersonation.DeniedError
	require.ErrorAs(t, err, &denied)
	assert.Equal(t, impersonation.ReasonMissingReason, denied.Reason)
	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonationDenied, store.OutcomeDenied, "session sign-in: policy: reason_missing")
	assert.Equal(t, app2ID, e.ClientID)
	require.NotNil(t, f.activeSession(t), "the session stays")
	f.issueTokens(t, appID, sessLogin) // its own client requires none
}

// TestStartSession_OneSessionPerExchange: an exchanged token whose session
// ran its maximum duration starts no second one.
func TestStartSession_OneSessionPerExchange(t *testing.T) {
	f := newSessionFixture(t, sessMax(time.Hour))
	f.updateClient(t, appID, func(c *store.Client) { c.AccessTokenTTL = 5 * time.Hour })
	_, exchanged := f.startSession(t, sessReason)
	f.clock.Advance(time.Hour + time.Second)
	require.Nil(t, f.activeSession(t), "the first session is over")
	sess2, err := f.svc.Sessions().Start(context.Background(), sessLogin, exchanged, sessReason)
	assert.Error(t, err, "a new session from the same exchange, until %v", func() any {
		if sess2 != nil {
			return sess2.Expires
		}
		return nil
	}())
}

// TestGrants_RevokeReachesSessionTokensOfOtherClients: a session started
// through a client that requires grants relies on the grant for every
// client it signs in to: revoking it revokes their tokens at once.
func TestGrants_RevokeReachesSessionTokensOfOtherClients(t *testing.T) {
	f := grantFixture(t)
	g := f.give(t, "alice", time.Hour)
	f.startSession(t, sessReason)
	tok := f.issueTokens(t, app2ID, sessLogin)
	require.NoError(t, f.grants.Revoke(context.Background(), "bob", g.ID))
	_, err := f.verifyAt(t, app2ID, tok.AccessToken)
	assert.Error(t, err, "bob revoked the grant, alice's app2 token for bob still verifies (with revocation)")
	assert.False(t, f.isActive(t, app2ID, tok.AccessToken), "still active at introspection")
}

// TestRevoke_ExchangedRefreshSessionStaysEnded: a session started by a
// refresh-token exchange (no store record: only the revocation stops it)
// stays ended after one of its access tokens was revoked.
func TestRevoke_ExchangedRefreshSessionStaysEnded(t *testing.T) {
	f := newSessionFixture(t, sessMax(72*time.Hour), sessRefreshTTL(72*time.Hour))
	f.enableRefresh(t, appID)
	st, id := f.authorize(t, "alice", "bob")
	req := exchangeRequest(st, id)
	req.RequestedTokenType = tokenexchange.TokenTypeRefreshToken
	resp, err := f.svc.Exchange(context.Background(), clientApp(), req)
	require.NoError(t, err)
	tok := f.refreshOK(t, appID, resp.AccessToken, nil)
	require.NoError(t, f.svc.Revoke(context.Background(), sessClient(appID), tok.AccessToken, ""), "the client revokes: the impersonation ends")
	_, err = f.svc.Sessions().Refresh(context.Background(), sessClient(appID), tok.RefreshToken, nil)
	require.Error(t, err, "ended right after")
	f.clock.Advance(26 * time.Hour)
	_, err = f.svc.Sessions().Refresh(context.Background(), sessClient(appID), tok.RefreshToken, nil)
	assert.Error(t, err, "the ended exchanged session refreshes again 25h later")
}

// failingRevocation fails Revoke while fail is set.
type failingRevocation struct {
	store.Revocation
	fail bool
}

func (r *failingRevocation) Revoke(ctx context.Context, id string, exp time.Time) error {
	if r.fail {
		return errors.New("revocation store down")
	}
	return r.Revocation.Revoke(ctx, id, exp)
}

// TestGrants_RevokeRetriedAfterAFailureIsRecorded: a revocation whose
// token revocation fails changes nothing and says so; the retry revokes
// the tokens and the grant and records it once.
func TestGrants_RevokeRetriedAfterAFailureIsRecorded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rev := &failingRevocation{Revocation: f.db}
	grants, err := impersonation.NewGrants(f.db, impersonation.GrantConfig{})
	require.NoError(t, err)
	f.grants = grants
	f.svc, err = impersonation.New(testIssuer, impersonation.Stores{
		Clients: f.db, Users: f.db, Organizations: f.db, Grants: f.db, OneTimeUse: f.db, Keys: f.keys,
	}, impersonation.WithClock(f.clock.Now), impersonation.WithAuditor(f.db),
		impersonation.WithRevocationStore(rev), impersonation.WithSubjectGrants(grants))
	require.NoError(t, err)
	f.updateClient(t, appID, func(c *store.Client) { c.RequireSubjectGrant = true })
	g := f.give(t, "", time.Hour)
	n := len(f.db.Events())

	rev.fail = true
	require.Error(t, grants.Revoke(context.Background(), "bob", g.ID))
	all, err := grants.Of(context.Background(), "bob")
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.True(t, all[0].Revoked.IsZero(), "a failed revocation leaves the grant as it was, to revoke again")
	assert.Empty(t, testkit.EventsSince(f.db.Events(), n))

	rev.fail = false
	require.NoError(t, grants.Revoke(context.Background(), "bob", g.ID))
	testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventSubjectGrantRevoked, store.OutcomeGranted, "")
	_, err = f.authorizeAs(t)
	var denied *impersonation.DeniedError
	require.ErrorAs(t, err, &denied)
	assert.Equal(t, impersonation.ReasonSubjectGrantRevoked, denied.Reason)
}
