package impersonation_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

// Access the impersonated user gives: a client with RequireSubjectGrant
// may impersonate bob only under a live grant of bob's.

// grantFixture is a session fixture whose app requires subject grants.
func grantFixture(t *testing.T, opts ...sessOption) *fixture {
	t.Helper()
	f := newSessionFixture(t, opts...)
	f.updateClient(t, appID, func(c *store.Client) { c.RequireSubjectGrant = true })
	return f
}

// give has bob give app's impersonators (impersonator, when set) access
// for d.
func (f *fixture) give(t *testing.T, impersonator string, d time.Duration) *store.SubjectGrant {
	t.Helper()
	g, err := f.grants.Give(context.Background(), "bob", appID, impersonator, d)
	require.NoError(t, err)
	return g
}

// authorizeAs runs alice's authorize step for bob through app.
func (f *fixture) authorizeAs(t *testing.T) (*subjecttoken.AuthorizeResponse, error) {
	t.Helper()
	return f.svc.Authorize(context.Background(), f.parseAuthorize(t, authorizeValues(appID, "bob")), impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
}

func TestGrants_PolicyRefusesWithoutALiveGrant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(t *testing.T, f *fixture)
		want    impersonation.Reason
	}{
		{name: "no grant", want: impersonation.ReasonSubjectGrantMissing},
		{name: "a grant for another client", want: impersonation.ReasonSubjectGrantMissing, prepare: func(t *testing.T, f *fixture) {
			_, err := f.grants.Give(context.Background(), "bob", app2ID, "", time.Hour)
			require.NoError(t, err)
		}},
		{name: "a grant for another impersonator", want: impersonation.ReasonSubjectGrantMissing, prepare: func(t *testing.T, f *fixture) {
			f.give(t, "dave", time.Hour)
		}},
		{name: "a grant of another user", want: impersonation.ReasonSubjectGrantMissing, prepare: func(t *testing.T, f *fixture) {
			_, err := f.grants.Give(context.Background(), "carol", appID, "", time.Hour)
			require.NoError(t, err)
		}},
		{name: "an expired grant", want: impersonation.ReasonSubjectGrantExpired, prepare: func(t *testing.T, f *fixture) {
			f.give(t, "", time.Hour)
			f.clock.Advance(time.Hour)
		}},
		{name: "a revoked grant", want: impersonation.ReasonSubjectGrantRevoked, prepare: func(t *testing.T, f *fixture) {
			g := f.give(t, "alice", time.Hour)
			require.NoError(t, f.grants.Revoke(context.Background(), "bob", g.ID))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := grantFixture(t)
			if tc.prepare != nil {
				tc.prepare(t, f)
			}
			n := len(f.db.Events())

			resp, err := f.authorizeAs(t)

			assert.Nil(t, resp, "nothing issued")
			var se *subjecttoken.Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, subjecttoken.ErrAccessDenied.Code, se.Code)
			var denied *impersonation.DeniedError
			require.ErrorAs(t, err, &denied)
			assert.Equal(t, tc.want, denied.Reason)
			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonationDenied, store.OutcomeDenied, string(tc.want))
			assert.Equal(t, "bob", e.Subject)
			assert.Empty(t, e.JTI)
		})
	}
}

func TestGrants_ImpersonationUnderAGrant(t *testing.T) {
	t.Parallel()
	for _, impersonator := range []string{"", "alice"} {
		t.Run("impersonator "+impersonator, func(t *testing.T) {
			t.Parallel()
			f := grantFixture(t)
			g := f.give(t, impersonator, 10*time.Minute)
			f.clock.Advance(time.Minute)

			resp, err := f.authorizeAs(t)
			require.NoError(t, err)
			st := testkit.DecodeJWT(t, resp.SubjectToken)
			assert.LessOrEqual(t, st.Num(t, "exp"), g.Expires.Unix())

			out := f.exchangeVia(t, viaHTTP, appID, exchangeRequest(resp.SubjectToken, resp.IDToken))
			require.Equal(t, 200, out.status, out.body)
			at := testkit.DecodeJWT(t, out.resp.AccessToken)
			assert.Equal(t, g.ID, at.Str(t, impersonation.ClaimSubjectGrant))
			assert.Equal(t, g.Expires.Unix(), at.Num(t, "exp"), "the access token ends with the grant, not after 3600 s")
			assert.Equal(t, int64(9*60), out.resp.ExpiresIn)
			assert.LessOrEqual(t, testkit.DecodeJWT(t, out.resp.IDToken).Num(t, "exp"), g.Expires.Unix())
		})
	}
}

// TestGrants_RevokeEndsTheImpersonationsThatReliedOnIt: the exchanged
// token is revoked at once; the session started with it ends at its next
// use, recorded with the rule; no further token is issued.
func TestGrants_RevokeEndsTheImpersonationsThatReliedOnIt(t *testing.T) {
	t.Parallel()
	f := grantFixture(t)
	g := f.give(t, "alice", time.Hour)
	sess, exchanged := f.startSession(t, sessReason)
	require.True(t, f.isActive(t, appID, exchanged))
	tok := f.issueTokens(t, appID, sessLogin)
	n := len(f.db.Events())

	require.NoError(t, f.grants.Revoke(context.Background(), "bob", g.ID))

	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventSubjectGrantRevoked, store.OutcomeGranted, "")
	assert.Equal(t, g.ID, e.JTI)
	assert.Equal(t, "bob", e.Subject)
	assert.Equal(t, appID, e.ClientID)
	assert.False(t, f.isActive(t, appID, exchanged), "the exchanged token is revoked")
	assert.False(t, f.isActive(t, appID, tok.AccessToken), "so is a token issued under the session")
	_, err := f.verifyAt(t, appID, tok.AccessToken)
	assert.Error(t, err, "a resource server with the revocation store refuses it")

	n = len(f.db.Events())
	assert.Nil(t, f.activeSession(t), "the session ends at its next use")
	ended := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonationEnded, store.OutcomeGranted, "policy: subject_grant_revoked")
	assert.Equal(t, sess.ID, ended.JTI)

	n = len(f.db.Events())
	require.NoError(t, f.grants.Revoke(context.Background(), "bob", g.ID), "revoking again is no error")
	assert.Empty(t, testkit.EventsSince(f.db.Events(), n), "and records nothing")
}

func TestGrants_RevokeOnlyOwnGrants(t *testing.T) {
	t.Parallel()
	f := grantFixture(t)
	g := f.give(t, "", time.Hour)
	n := len(f.db.Events())
	for _, tc := range []struct{ subject, id string }{{"carol", g.ID}, {"bob", "no-such-grant"}, {"alice", g.ID}} {
		err := f.grants.Revoke(context.Background(), tc.subject, tc.id)
		assert.ErrorIs(t, err, store.ErrNotFound, "%+v", tc)
	}
	assert.Empty(t, testkit.EventsSince(f.db.Events(), n))
	resp, err := f.authorizeAs(t)
	require.NoError(t, err, "bob's grant still holds")
	assert.NotEmpty(t, resp.SubjectToken)
}

func TestGrants_GiveRefusesBadGrants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                          string
		subject, client, impersonator string
		d                             time.Duration
		want                          string
	}{
		{name: "no duration", subject: "bob", client: appID, want: "at most"},
		{name: "longer than the maximum", subject: "bob", client: appID, d: impersonation.DefaultGrantMaxDuration + time.Second, want: "at most 168h0m0s"},
		{name: "unknown subject", subject: "nobody", client: appID, d: time.Hour, want: `unknown user "nobody"`},
		{name: "disabled subject", subject: "erin", client: appID, d: time.Hour, want: `user "erin" is disabled`},
		{name: "unknown impersonator", subject: "bob", client: appID, impersonator: "ghost", d: time.Hour, want: `unknown user "ghost"`},
		{name: "to themselves", subject: "bob", client: appID, impersonator: "bob", d: time.Hour, want: "to themselves"},
		{name: "unknown client", subject: "bob", client: "ghost-app", d: time.Hour, want: `unknown client "ghost-app"`},
		{name: "client without impersonation", subject: "bob", client: noImpID, d: time.Hour, want: "does not impersonate"},
		{name: "disabled client", subject: "bob", client: disabledID, d: time.Hour, want: "does not impersonate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := grantFixture(t)
			n := len(f.db.Events())
			g, err := f.grants.Give(context.Background(), tc.subject, tc.client, tc.impersonator, tc.d)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Nil(t, g)
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n), "nothing recorded")
			all, err := f.grants.Of(context.Background(), tc.subject)
			require.NoError(t, err)
			assert.Empty(t, all, "nothing stored")
		})
	}
}

func TestGrants_GiveIsRecordedAndListed(t *testing.T) {
	t.Parallel()
	f := grantFixture(t)
	n := len(f.db.Events())
	g := f.give(t, "alice", 24*time.Hour)
	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventSubjectGrantCreated, store.OutcomeGranted, "until ")
	assert.Equal(t, g.ID, e.JTI)
	assert.Equal(t, "bob", e.Subject)
	assert.Equal(t, "alice", e.Impersonator)
	assert.Equal(t, "acme-eu", e.Org)
	assert.Equal(t, f.clock.Now().Add(24*time.Hour).Unix(), g.Expires.Unix())

	all, err := f.grants.Of(context.Background(), "bob")
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.Equal(t, g.ID, all[0].ID)
}

// TestGrants_GiveWhoseRecordFailsIsRevoked: nothing is given that was not
// recorded.
func TestGrants_GiveWhoseRecordFailsIsRevoked(t *testing.T) {
	t.Parallel()
	f := grantFixture(t)
	f.auditor.Fail.Store(true)
	g, err := f.grants.Give(context.Background(), "bob", appID, "", time.Hour)
	require.Error(t, err)
	assert.Nil(t, g)
	f.auditor.Fail.Store(false)
	_, err = f.authorizeAs(t)
	var denied *impersonation.DeniedError
	require.ErrorAs(t, err, &denied)
	assert.Equal(t, impersonation.ReasonSubjectGrantRevoked, denied.Reason)
}

// blockingGrants passes to next, but the first SubjectGrantsOf after arm
// signals read and waits for release: the policy has read a live grant
// and not yet issued.
type blockingGrants struct {
	store.SubjectGrants
	mu      sync.Mutex
	armed   bool
	read    chan struct{}
	release chan struct{}
}

func (b *blockingGrants) SubjectGrantsOf(ctx context.Context, subject string, since time.Time) ([]store.SubjectGrant, error) {
	out, err := b.SubjectGrants.SubjectGrantsOf(ctx, subject, since)
	b.mu.Lock()
	armed := b.armed
	b.armed = false
	b.mu.Unlock()
	if armed {
		close(b.read)
		<-b.release
	}
	return out, err
}

// TestGrants_RevocationRacingAnExchange: a revocation that returns while
// an exchange is between the policy's read of the grant and issuing never
// lets that exchange through.
func TestGrants_RevocationRacingAnExchange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	blocking := &blockingGrants{SubjectGrants: f.db, read: make(chan struct{}), release: make(chan struct{})}
	grants, err := impersonation.NewGrants(blocking, impersonation.GrantConfig{})
	require.NoError(t, err)
	f.grants = grants
	svc, err := impersonation.New(testIssuer, impersonation.Stores{
		Clients: f.db, Users: f.db, Organizations: f.db, Grants: f.db, OneTimeUse: f.db, Keys: f.keys,
	}, impersonation.WithClock(f.clock.Now), impersonation.WithAuditor(f.db),
		impersonation.WithRevocationStore(f.db), impersonation.WithSubjectGrants(grants))
	require.NoError(t, err)
	f.svc = svc
	f.updateClient(t, appID, func(c *store.Client) { c.RequireSubjectGrant = true })
	g := f.give(t, "", time.Hour)
	resp, err := f.authorizeAs(t)
	require.NoError(t, err)
	n := len(f.db.Events())

	blocking.mu.Lock()
	blocking.armed = true
	blocking.mu.Unlock()
	type result struct {
		resp *tokenexchange.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		r, err := svc.Exchange(context.Background(), clientApp(), exchangeRequest(resp.SubjectToken, resp.IDToken))
		done <- result{r, err}
	}()
	<-blocking.read // the exchange's policy has seen the live grant
	require.NoError(t, grants.Revoke(context.Background(), "bob", g.ID))
	close(blocking.release)
	r := <-done

	require.Error(t, r.err, "the exchange went through after the revocation returned")
	assert.Nil(t, r.resp)
	var te *tokenexchange.Error
	require.ErrorAs(t, r.err, &te)
	assert.Equal(t, tokenexchange.ErrInvalidRequest.Code, te.Code)
	events := testkit.EventsSince(f.db.Events(), n)
	assert.Equal(t, 0, testkit.CountEvents(events, store.EventTokenExchanged), "nothing recorded as issued: %+v", events)
	assert.Equal(t, 1, testkit.CountEvents(events, store.EventTokenExchangeDenied))
}

func TestGrants_Configuration(t *testing.T) {
	t.Parallel()
	db := memory.New()
	keys, err := memory.GenerateKeySet(store.ES256)
	require.NoError(t, err)
	stores := impersonation.Stores{Clients: db, Users: db, Organizations: db, Grants: db, OneTimeUse: db, Keys: keys}
	for name, cfg := range map[string]impersonation.GrantConfig{
		"a negative maximum":    {MaxDuration: -time.Hour},
		"a maximum over a year": {MaxDuration: 400 * 24 * time.Hour},
	} {
		g, err := impersonation.NewGrants(db, cfg)
		assert.Error(t, err, name)
		assert.Nil(t, g, name)
	}
	g, err := impersonation.NewGrants(nil, impersonation.GrantConfig{})
	assert.Error(t, err, "without a store")
	assert.Nil(t, g)

	newGrants := func() *impersonation.Grants {
		g, err := impersonation.NewGrants(db, impersonation.GrantConfig{})
		require.NoError(t, err)
		return g
	}
	for name, opts := range map[string][]impersonation.Option{
		"without a revocation store": {impersonation.WithSubjectGrants(newGrants())},
		"nil grants":                 {impersonation.WithRevocationStore(db), impersonation.WithSubjectGrants(nil)},
	} {
		svc, err := impersonation.New(testIssuer, stores, opts...)
		assert.Error(t, err, name)
		assert.Nil(t, svc, name)
	}
	unbound := newGrants()
	_, err = unbound.Give(context.Background(), "bob", appID, "", time.Hour)
	assert.Error(t, err, "grants no Service uses refuse")
	svc, err := impersonation.New(testIssuer, stores, impersonation.WithRevocationStore(db), impersonation.WithSubjectGrants(unbound))
	require.NoError(t, err)
	require.NotNil(t, svc)
	_, err = impersonation.New(testIssuer, stores, impersonation.WithRevocationStore(db), impersonation.WithSubjectGrants(unbound))
	assert.Error(t, err, "one Grants serves one Service")

	// A client that requires grants on a Service without them is a
	// configuration error, answered server_error and recorded.
	f := newFixture(t)
	f.updateClient(t, appID, func(c *store.Client) { c.RequireSubjectGrant = true })
	resp, err := f.authorizeAs(t)
	assert.Nil(t, resp)
	require.ErrorIs(t, err, impersonation.ErrConfiguration)
	var se *subjecttoken.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, subjecttoken.ErrServerError.Code, se.Code)
	testkit.RequireOneEvent(t, f.db.Events(), store.EventImpersonationDenied, store.OutcomeFailed, "requires subject grants")
	var none *impersonation.Grants
	_, err = none.Give(context.Background(), "bob", appID, "", time.Hour)
	assert.Error(t, err, "a nil *Grants refuses")
}
