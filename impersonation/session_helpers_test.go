package impersonation_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/tokenexchange"
)

// Impersonation sessions (issue 8): alice exchanges a subject token for bob
// through app, the host binds alice's login session to that impersonation
// (StartSession), and ordinary sign-ins through the login session, in app
// or in app2 that never saw a subject token, yield tokens for bob with
// act.sub alice until the session ends.

const (
	// sessLogin is alice's login session at the identity server.
	sessLogin = "login-alice-7f3a9c"
	// sessOtherLogin is another login session of alice's, not
	// impersonating.
	sessOtherLogin = "login-alice-2c9d41"
	// sessReason is the reason alice gives.
	sessReason = "TICKET-4711: bob cannot see his orders"
)

// sessScope is what the sign-ins of these tests ask for.
var sessScope = claims.Scope{"openid", scopeOrdersRead, scopeOrdersWrite}

// sessSetup is what newSessionFixture builds the service with.
type sessSetup struct {
	cfg  impersonation.SessionConfig
	opts []impersonation.Option
}

// sessOption changes the setup of newSessionFixture.
type sessOption func(c *sessSetup)

// sessMax sets the sessions' maximum duration.
func sessMax(d time.Duration) sessOption {
	return func(c *sessSetup) { c.cfg.MaxDuration = d }
}

// sessRefreshTTL sets the refresh token lifetime.
func sessRefreshTTL(d time.Duration) sessOption {
	return func(c *sessSetup) { c.cfg.RefreshTokenTTL = d }
}

// sessReasonRequired makes a reason mandatory.
func sessReasonRequired(c *sessSetup) { c.cfg.ReasonRequired = true }

// sessReasonClaim puts the reason into the tokens.
func sessReasonClaim(c *sessSetup) { c.cfg.ReasonClaim = true }

// sessWith adds a plain service option.
func sessWith(o impersonation.Option) sessOption {
	return func(c *sessSetup) { c.opts = append(c.opts, o) }
}

// sessionsOf is WithSessions on the fixture's store, configured by opts
// (service options among them are ignored).
func sessionsOf(f *fixture, opts ...sessOption) impersonation.Option {
	var c sessSetup
	for _, o := range opts {
		o(&c)
	}
	return impersonation.WithSessions(f.db, f.db, c.cfg)
}

// sessStores are the fixture's stores, as newFixture hands them over.
func (f *fixture) sessStores() impersonation.Stores {
	return impersonation.Stores{
		Clients: f.db, Users: f.db, Organizations: f.db, Grants: f.db, OneTimeUse: f.oneTime, Keys: f.keys,
	}
}

// newSessionFixture is newFixture with a service that has impersonation
// sessions in the fixture's store (WithSessions(db, db, cfg): sessions and
// revocation there, cfg from opts), the fixture's clock, auditor and notifier, opts after those, and a
// token endpoint that also serves the refresh_token grant. alice holds
// the impersonation role for app2 too, so that the session signs in there
// (the policy gate passes for app2), and orders:write for app2 (the admin
// role), which bob's impersonated tokens there must not carry; bob holds
// orders:read for app2 (seeded).
func newSessionFixture(t testing.TB, opts ...sessOption) *fixture {
	t.Helper()
	f := newFixture(t)
	svcOpts := []impersonation.Option{
		impersonation.WithClock(f.clock.Now),
		impersonation.WithAuditor(f.auditor),
		impersonation.WithNotifier(f.db),
		sessionsOf(f, opts...),
		impersonation.WithRevocationStore(f.db),
		// Off for every client that does not require them.
		impersonation.WithSubjectGrants(f.newGrants(t)),
	}
	var setup sessSetup
	for _, o := range opts {
		o(&setup)
	}
	svcOpts = append(svcOpts, setup.opts...)
	svc, err := impersonation.New(testIssuer, f.sessStores(), svcOpts...)
	require.NoError(t, err)
	f.svc = svc
	f.handler, err = tokenexchange.NewHandler(svc, svc, tokenexchange.WithGrant(tokenexchange.GrantTypeRefreshToken, svc.Sessions()))
	require.NoError(t, err)
	require.NoError(t, f.db.PutRole(memory.Role{
		Name: roleAdmin, ClientID: app2ID, Scopes: []string{scopeOrdersWrite}, Users: []string{"alice"},
	}))
	require.NoError(t, f.db.Assign(app2ID, roleImpersonator, "alice"))
	return f
}

// newGrants returns subject grants over the fixture's store, kept as
// f.grants.
func (f *fixture) newGrants(t testing.TB) *impersonation.Grants {
	t.Helper()
	g, err := impersonation.NewGrants(f.db, impersonation.GrantConfig{})
	require.NoError(t, err)
	f.grants = g
	return g
}

// startSession runs the exchange (alice as bob through app) and binds
// sessLogin to it with reason. It returns the session and the exchange's
// access token.
func (f *fixture) startSession(t testing.TB, reason string) (*store.ImpersonationSession, string) {
	t.Helper()
	exchanged := f.accessToken(t)
	sess, err := f.svc.Sessions().Start(context.Background(), sessLogin, exchanged, reason)
	require.NoError(t, err)
	require.NotNil(t, sess)
	return sess, exchanged
}

// sessSignIn is alice's authorization-code sign-in at clientID through
// login, asking for sessScope.
func (f *fixture) sessSignIn(clientID, login string) impersonation.SignIn {
	return impersonation.SignIn{
		LoginSession: login,
		User:         "alice",
		ClientID:     clientID,
		Scope:        sessScope,
		Nonce:        testNonce,
		AuthTime:     f.clock.Now().Add(-2 * time.Minute),
	}
}

// issueTokens runs sessSignIn(clientID, login) and requires success.
func (f *fixture) issueTokens(t testing.TB, clientID, login string) *impersonation.Tokens {
	t.Helper()
	tok, err := f.svc.Sessions().Issue(context.Background(), f.sessSignIn(clientID, login))
	require.NoError(t, err)
	require.NotNil(t, tok)
	require.NotEmpty(t, tok.AccessToken)
	return tok
}

// refreshingSession is newSessionFixture(opts) after startRefreshing(login).
func refreshingSession(t testing.TB, login string, opts ...sessOption) (*fixture, *store.ImpersonationSession, *impersonation.Tokens) {
	t.Helper()
	f := newSessionFixture(t, opts...)
	sess, tok := f.startRefreshing(t, login)
	return f, sess, tok
}

// startRefreshing lets app2 receive refresh tokens and has sessLogin
// impersonate bob (sessReason). It returns the session and the tokens of
// alice's sign-in at app2 through login.
func (f *fixture) startRefreshing(t testing.TB, login string) (*store.ImpersonationSession, *impersonation.Tokens) {
	t.Helper()
	f.enableRefresh(t, app2ID)
	sess, _ := f.startSession(t, sessReason)
	return sess, f.issueTokens(t, app2ID, login)
}

// enableRefresh lets clientID receive refresh tokens.
func (f *fixture) enableRefresh(t testing.TB, clientID string) {
	t.Helper()
	f.updateClient(t, clientID, func(c *store.Client) { c.RefreshTokens = true })
}

// sessClient is clientID as the token endpoint hands it over once
// authenticated.
func sessClient(clientID string) tokenexchange.Client {
	return tokenexchange.Client{ID: clientID, AuthMethod: tokenexchange.AuthMethodBasic}
}

// refreshErr runs Refresh, requires it to fail (msgAndArgs saying what a
// success would mean), and returns the wire error.
func (f *fixture) refreshErr(t testing.TB, clientID, refreshToken string, scope claims.Scope, msgAndArgs ...any) *tokenexchange.Error {
	t.Helper()
	tok, err := f.svc.Sessions().Refresh(context.Background(), sessClient(clientID), refreshToken, scope)
	require.Error(t, err, msgAndArgs...)
	assert.Nil(t, tok, "nothing is issued with an error")
	var te *tokenexchange.Error
	require.ErrorAs(t, err, &te)
	return te
}

// refreshOK runs Refresh and requires success.
func (f *fixture) refreshOK(t testing.TB, clientID, refreshToken string, scope claims.Scope) *impersonation.Tokens {
	t.Helper()
	tok, err := f.svc.Sessions().Refresh(context.Background(), sessClient(clientID), refreshToken, scope)
	require.NoError(t, err)
	require.NotNil(t, tok)
	return tok
}

// isActive introspects token as clientID.
func (f *fixture) isActive(t testing.TB, clientID, token string) bool {
	t.Helper()
	in, err := f.svc.Introspect(context.Background(), sessClient(clientID), token, "")
	require.NoError(t, err)
	require.NotNil(t, in)
	return in.Active
}

// verifyAt verifies token as a resource server for audience that checks
// revocation in the fixture's store.
func (f *fixture) verifyAt(t testing.TB, audience, token string) (*resource.Principal, error) {
	t.Helper()
	return f.verifier(t, audience, resource.WithRevocation(f.db)).Verify(context.Background(), token)
}

// requireSessionGone requires that login is no impersonation session any
// more, in the store and for the authorize hook.
func (f *fixture) requireSessionGone(t testing.TB, login string) {
	t.Helper()
	got, err := f.svc.Sessions().Active(context.Background(), login, "")
	require.NoError(t, err)
	assert.Nil(t, got)
	_, err = f.db.SessionFor(context.Background(), login)
	require.ErrorIs(t, err, store.ErrNotFound)
}

// activeSession is the session of sessLogin the authorize hook sees, nil
// when there is none.
func (f *fixture) activeSession(t testing.TB) *store.ImpersonationSession {
	t.Helper()
	got, err := f.svc.Sessions().Active(context.Background(), sessLogin, "")
	require.NoError(t, err)
	return got
}

// requireBackToOwnTokens requires that sessLogin impersonates no more
// (requireSessionGone) and that alice's sign-in through it at app2 gives
// her own tokens again.
func (f *fixture) requireBackToOwnTokens(t testing.TB) {
	t.Helper()
	f.requireSessionGone(t, sessLogin)
	f.requireOwnTokens(t, f.issueTokens(t, app2ID, sessLogin), app2ID)
}

// requireOwnTokens requires tokens that are alice's own at clientID: no
// act, no isid.
func (f *fixture) requireOwnTokens(t testing.TB, tok *impersonation.Tokens, clientID string) {
	t.Helper()
	assert.Nil(t, tok.Session)
	p, err := f.verifyAt(t, clientID, tok.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, "alice", p.Subject)
	assert.Nil(t, p.Actor, "no act in the user's own access token")
	assert.Empty(t, p.SessionID)
	assert.NotContains(t, testkit.DecodeJWT(t, tok.AccessToken).Claims, impersonation.ClaimSessionID)
	if tok.IDToken != "" {
		id, err := f.tokens(t).VerifyIDToken(context.Background(), tok.IDToken, clientID)
		require.NoError(t, err)
		assert.Equal(t, "alice", id.Subject)
		assert.Nil(t, id.Act)
		assert.Empty(t, id.SessionID)
	}
}

// requireSessionTokens requires tokens issued under sess at clientID: sub
// bob, act.sub alice, isid the session.
func (f *fixture) requireSessionTokens(t testing.TB, tok *impersonation.Tokens, clientID string, sess *store.ImpersonationSession) *resource.Principal {
	t.Helper()
	require.NotNil(t, tok.Session)
	assert.Equal(t, sess.ID, tok.Session.ID)
	p, err := f.verifyAt(t, clientID, tok.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, "bob", p.Subject)
	require.NotNil(t, p.Actor)
	assert.Equal(t, &claims.Actor{Subject: "alice"}, p.Actor)
	assert.Equal(t, sess.ID, p.SessionID)
	assert.Equal(t, clientID, p.ClientID)
	assert.Equal(t, claims.Audience{clientID}, p.Audience)
	return p
}

// sessionEventsOf returns the recorded events of type typ.
func sessionEventsOf(db *memory.Store, typ store.EventType) []store.Event {
	var out []store.Event
	for _, e := range db.Events() {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// sessPost sends form to the fixture's token endpoint as clientID with
// client_secret_basic and decodes the JSON body.
func (f *fixture) sessPost(t testing.TB, clientID, secret string, form url.Values) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	w := f.postToken(t, clientID, secret, form)
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), "JSON body: %s", w.Body.String())
	return w, body
}
