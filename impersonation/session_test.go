package impersonation_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/claims"
	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/impersonation/resource"
	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/internal/refreshtoken"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/subjecttoken"
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

// refreshErr runs Refresh, requires it to fail, and returns the wire error.
func (f *fixture) refreshErr(t testing.TB, clientID, refreshToken string, scope claims.Scope) *tokenexchange.Error {
	t.Helper()
	tok, err := f.svc.Sessions().Refresh(context.Background(), sessClient(clientID), refreshToken, scope)
	require.Error(t, err)
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

func TestNew_SessionOptions(t *testing.T) {
	t.Parallel()
	other := memory.New()
	tests := []struct {
		name    string
		opt     func(f *fixture) impersonation.Option
		wantErr bool
	}{
		{name: "sessions of the default duration", opt: func(f *fixture) impersonation.Option { return sessionsOf(f, sessMax(0)) }},
		{name: "sessions of 15 minutes", opt: func(f *fixture) impersonation.Option { return sessionsOf(f, sessMax(15*time.Minute)) }},
		{name: "negative session duration", opt: func(f *fixture) impersonation.Option { return sessionsOf(f, sessMax(-time.Minute)) }, wantErr: true},
		{name: "refresh TTL of 2 hours", opt: func(f *fixture) impersonation.Option { return sessionsOf(f, sessRefreshTTL(2*time.Hour)) }},
		{name: "zero refresh TTL is the default", opt: func(f *fixture) impersonation.Option { return sessionsOf(f, sessRefreshTTL(0)) }},
		{name: "negative refresh TTL", opt: func(f *fixture) impersonation.Option { return sessionsOf(f, sessRefreshTTL(-time.Hour)) }, wantErr: true},
		{name: "sessions of MaxTokenAge", opt: func(f *fixture) impersonation.Option { return sessionsOf(f, sessMax(claims.MaxTokenAge)) }},
		{name: "sessions longer than MaxTokenAge", opt: func(f *fixture) impersonation.Option { return sessionsOf(f, sessMax(claims.MaxTokenAge+time.Second)) }, wantErr: true},
		{name: "refresh TTL of MaxTokenAge", opt: func(f *fixture) impersonation.Option { return sessionsOf(f, sessRefreshTTL(claims.MaxTokenAge)) }},
		{name: "refresh TTL longer than MaxTokenAge", opt: func(f *fixture) impersonation.Option {
			return sessionsOf(f, sessRefreshTTL(claims.MaxTokenAge+time.Second))
		}, wantErr: true},
		{name: "no sessions store", opt: func(f *fixture) impersonation.Option {
			return impersonation.WithSessions(nil, f.db, impersonation.SessionConfig{})
		}, wantErr: true},
		{name: "no revocation store", opt: func(f *fixture) impersonation.Option {
			return impersonation.WithSessions(f.db, nil, impersonation.SessionConfig{})
		}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			svc, err := impersonation.New(testIssuer, f.sessStores(), tc.opt(f))
			if tc.wantErr {
				require.Error(t, err)
				assert.Nil(t, svc)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, svc)
			assert.NotNil(t, svc.Sessions())
		})
	}
	t.Run("two different revocation stores", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		svc, err := impersonation.New(testIssuer, f.sessStores(), impersonation.WithRevocationStore(other), sessionsOf(f))
		require.Error(t, err)
		assert.Nil(t, svc)
	})
}

func TestStartSession_FromExchangedAccessToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		opts      []sessOption
		reason    string
		wantLasts time.Duration
	}{
		{name: "default maximum duration", reason: sessReason, wantLasts: impersonation.DefaultSessionMaxDuration},
		{name: "configured maximum duration", opts: []sessOption{sessMax(15 * time.Minute)}, reason: sessReason, wantLasts: 15 * time.Minute},
		{name: "no reason when none is required", wantLasts: time.Hour},
		{name: "reason required and given", opts: []sessOption{sessReasonRequired}, reason: sessReason, wantLasts: time.Hour},
		{name: "printable non-ASCII reason", reason: "Ticket №42 — naïve client, 日本語", wantLasts: time.Hour},
		{name: "256-byte reason", reason: strings.Repeat("r", 256), wantLasts: time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t, tc.opts...)
			exchanged := f.accessToken(t)
			f.clock.Advance(3 * time.Second)
			now := f.clock.Now()
			n := len(f.db.Events())

			sess, err := f.svc.Sessions().Start(context.Background(), sessLogin, exchanged, tc.reason)
			require.NoError(t, err)
			require.NotNil(t, sess)

			testkit.AssertJTI(t, sess.ID)
			assert.Equal(t, sessLogin, sess.LoginSession)
			assert.Equal(t, "alice", sess.Impersonator)
			assert.Equal(t, "bob", sess.Subject)
			assert.Equal(t, appID, sess.ClientID)
			assert.Equal(t, "acme-eu", sess.Org)
			assert.Equal(t, tc.reason, sess.Reason)
			assert.WithinDuration(t, now, sess.Started, 0)
			assert.Equal(t, time.UTC, sess.Started.Location(), "times are UTC")
			assert.WithinDuration(t, now.Add(tc.wantLasts), sess.Expires, 0)
			at := testkit.DecodeJWT(t, exchanged)
			assert.Equal(t, at.Str(t, "jti"), sess.StartTokenID)
			assert.Equal(t, at.Num(t, "exp"), sess.StartTokenExpiry.Unix())

			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventSessionStarted, store.OutcomeGranted, "")
			assert.Equal(t, tc.reason, e.Justification)
			assert.Equal(t, "alice", e.Impersonator)
			assert.Equal(t, "bob", e.Subject)
			assert.Equal(t, appID, e.ClientID)
			assert.Equal(t, "acme-eu", e.Org)
			assert.Equal(t, sess.ID, e.JTI)

			got, err := f.svc.Sessions().Active(context.Background(), sessLogin, "")
			require.NoError(t, err)
			assert.Equal(t, sess, got, "the authorize hook sees the session")
		})
	}
}

func TestStartSession_Refused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   []sessOption
		login  string
		reason string
		// token returns the access token to start from.
		token   func(t *testing.T, f *fixture) string
		wantErr error
	}{
		{
			name:    "garbage",
			token:   func(*testing.T, *fixture) string { return "not.a.token" },
			wantErr: resource.ErrInvalidToken,
		},
		{
			name:    "empty token",
			token:   func(*testing.T, *fixture) string { return "" },
			wantErr: resource.ErrInvalidToken,
		},
		{
			name: "access token of another issuer's keys",
			token: func(t *testing.T, _ *fixture) string {
				return newFixture(t).accessToken(t)
			},
			wantErr: resource.ErrInvalidToken,
		},
		{
			name: "access token naming another issuer",
			token: func(t *testing.T, f *fixture) string {
				key := f.signingKey(t)
				now := f.clock.Now().Unix()
				return testkit.SignRaw(t, key, map[string]any{"alg": key.Algorithm, "kid": key.ID, "typ": "at+jwt"}, map[string]any{
					"iss": "https://evil.example", "sub": "bob", "aud": appID, "client_id": appID, "azp": appID,
					"act": map[string]any{"sub": "alice"}, "iat": now, "nbf": now, "exp": now + 600, "jti": testkit.RandomID(),
				})
			},
			wantErr: resource.ErrInvalidToken,
		},
		{
			name: "subject token",
			token: func(t *testing.T, f *fixture) string {
				st, _ := f.authorize(t, "alice", "bob")
				return st
			},
			wantErr: resource.ErrInvalidToken,
		},
		{
			name: "impersonator's ID token",
			token: func(t *testing.T, f *fixture) string {
				_, id := f.authorize(t, "alice", "bob")
				return id
			},
			wantErr: resource.ErrInvalidToken,
		},
		{
			name: "expired exchange token",
			token: func(t *testing.T, f *fixture) string {
				tok := f.accessToken(t)
				f.clock.Advance(time.Hour + time.Minute)
				return tok
			},
			wantErr: resource.ErrInvalidToken,
		},
		{
			name: "revoked exchange token",
			token: func(t *testing.T, f *fixture) string {
				tok := f.accessToken(t)
				require.NoError(t, f.svc.Revoke(context.Background(), clientApp(), tok, ""))
				return tok
			},
			wantErr: resource.ErrRevoked,
		},
		{
			name: "the user's own access token (not impersonated)",
			token: func(t *testing.T, f *fixture) string {
				return f.issueTokens(t, app2ID, sessOtherLogin).AccessToken
			},
			wantErr: impersonation.ErrNotImpersonated,
		},
		{
			name:    "empty reason when required",
			opts:    []sessOption{sessReasonRequired},
			wantErr: impersonation.ErrReasonRequired,
		},
		{
			name:   "reason with a newline",
			reason: "TICKET-1\nimpersonation.ended alice",
		},
		{
			name:   "reason with a carriage return",
			reason: "TICKET-1\rforged",
		},
		{
			name:   "reason with a NUL",
			reason: "TICKET-1\x00",
		},
		{
			name:   "reason with an escape sequence",
			reason: "TICKET-1 \x1b[2J",
		},
		{
			name:   "reason with a bidi override",
			reason: "TICKET-1 \u202egnp.exe",
		},
		{
			name:   "reason with invalid UTF-8",
			reason: "TICKET-1 \xff",
		},
		{
			name:   "reason over 512 bytes",
			reason: strings.Repeat("r", subjecttoken.MaxReasonBytes+1),
		},
		{
			name:   "empty login session",
			login:  "-",
			reason: sessReason,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t, tc.opts...)
			var tok string
			if tc.token != nil {
				tok = tc.token(t, f)
			} else {
				tok = f.accessToken(t) // the exchanged access token
			}
			login := sessLogin
			if tc.login == "-" {
				login = ""
			}
			n := len(f.db.Events())

			sess, err := f.svc.Sessions().Start(context.Background(), login, tok, tc.reason)
			require.Error(t, err)
			assert.Nil(t, sess)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			assert.Empty(t, sessionEventsOf(f.db, store.EventSessionStarted), "no session started")
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n), "a refused start records nothing")
			f.requireSessionGone(t, sessLogin)
			f.requireOwnTokens(t, f.issueTokens(t, app2ID, sessLogin), app2ID)
		})
	}
}

// TestStartSession_ReasonUpTo512Bytes: StartSession documents reasons of
// at most subjecttoken.MaxReasonBytes (512) bytes of printable text, the
// limit the authorize endpoint applies to impersonation_reason.
func TestStartSession_ReasonUpTo512Bytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		reason string
	}{
		{name: "257 bytes", reason: strings.Repeat("r", 257)},
		{name: "exactly 512 bytes", reason: strings.Repeat("r", subjecttoken.MaxReasonBytes)},
		{name: "512 bytes of 2-byte runes", reason: strings.Repeat("é", subjecttoken.MaxReasonBytes/2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			exchanged := f.accessToken(t)
			sess, err := f.svc.Sessions().Start(context.Background(), sessLogin, exchanged, tc.reason)
			require.NoError(t, err)
			require.NotNil(t, sess)
			assert.Equal(t, tc.reason, sess.Reason)
		})
	}
}

// TestStartSession_WithoutSessions: without WithSessions the Service has
// no sessions; a session without a store to end it with cannot be built
// (TestNew_SessionOptions).
func TestStartSession_WithoutSessions(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]func(f *fixture) []impersonation.Option{
		"no WithSessions": func(f *fixture) []impersonation.Option {
			return []impersonation.Option{impersonation.WithRevocationStore(f.db)}
		},
		"no options at all": func(*fixture) []impersonation.Option { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			svc, err := impersonation.New(testIssuer, f.sessStores(),
				append([]impersonation.Option{impersonation.WithClock(f.clock.Now), impersonation.WithAuditor(f.auditor)}, opts(f)...)...)
			require.NoError(t, err)
			assert.Nil(t, svc.Sessions())
		})
	}
}

// TestStartSession_ReplacesPreviousSession: a login session impersonates
// one user at a time; a new start ends the previous session and revokes
// its tokens.
func TestStartSession_ReplacesPreviousSession(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	first, firstExchange := f.startSession(t, sessReason)
	firstTok := f.issueTokens(t, app2ID, sessLogin)
	require.True(t, f.isActive(t, app2ID, firstTok.AccessToken))
	n := len(f.db.Events())

	second, secondExchange := f.startSession(t, "TICKET-4712")
	assert.NotEqual(t, first.ID, second.ID)

	events := testkit.EventsSince(f.db.Events(), n)
	ended := sessionEventsOf(f.db, store.EventImpersonationEnded)
	require.Len(t, ended, 1, "events: %+v", events)
	assert.Equal(t, first.ID, ended[0].JTI)
	assert.Contains(t, ended[0].Reason, "replaced")
	assert.Equal(t, sessReason, ended[0].Justification)
	assert.Len(t, sessionEventsOf(f.db, store.EventSessionStarted), 2)

	assert.False(t, f.isActive(t, app2ID, firstTok.AccessToken), "tokens of the replaced session are revoked")
	assert.False(t, f.isActive(t, appID, firstExchange), "the exchange token of the replaced session is revoked")
	assert.True(t, f.isActive(t, appID, secondExchange))
	got, err := f.svc.Sessions().Active(context.Background(), sessLogin, "")
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, second.ID, got.ID)
}

// TestStartSession_RefusesTokenIssuedUnderSession: only the access token of
// an exchange starts a session. An access token issued under a session
// (isid) would start another one lasting the full maximum duration again,
// so that chaining sign-ins and starts extends an impersonation past its
// limit without a new exchange.
func TestStartSession_RefusesTokenIssuedUnderSession(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	sess, _ := f.startSession(t, sessReason)
	f.clock.Advance(50 * time.Minute)
	under := f.issueTokens(t, appID, sessLogin)
	require.Equal(t, sess.ID, testkit.DecodeJWT(t, under.AccessToken).Str(t, impersonation.ClaimSessionID))

	again, err := f.svc.Sessions().Start(context.Background(), sessOtherLogin, under.AccessToken, sessReason)
	assert.Nil(t, again)
	require.ErrorIs(t, err, impersonation.ErrNotImpersonated)
}

// TestIssueTokens_UnderSession: a client that never saw a subject token
// (app2) gets tokens for bob with act.sub alice through the session, with
// bob's scopes for app2, not alice's.
func TestIssueTokens_UnderSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		clientID  string
		wantScope claims.Scope
	}{
		{name: "client that never saw a subject token", clientID: app2ID, wantScope: claims.Scope{"openid", scopeOrdersRead}},
		{name: "client the impersonation started through", clientID: appID, wantScope: claims.Scope{"openid", scopeOrdersRead}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			sess, _ := f.startSession(t, sessReason)
			f.clock.Advance(time.Minute)
			now := f.clock.Now()
			in := f.sessSignIn(tc.clientID, sessLogin)
			n := len(f.db.Events())

			tok, err := f.svc.Sessions().Issue(context.Background(), in)
			require.NoError(t, err)
			p := f.requireSessionTokens(t, tok, tc.clientID, sess)
			assert.Equal(t, tc.wantScope, p.Scope, "requested ∩ bob's grants for the client")
			assert.Equal(t, tc.wantScope, tok.Scope)
			assert.NotContains(t, p.Scope, scopeOrdersWrite, "alice's own scopes never reach bob's tokens")
			assert.Empty(t, p.Reason, "no reason claim unless WithReasonClaim")
			assert.WithinDuration(t, now, p.IssuedAt, 0)
			assert.Equal(t, "acme-eu", p.OrgID)
			assert.Empty(t, tok.RefreshToken, "refresh tokens are off by default")
			assert.Equal(t, int64(59*60), tok.ExpiresIn, "the access token ends with the session")

			at := testkit.DecodeJWT(t, tok.AccessToken)
			assert.Equal(t, "at+jwt", at.Header["typ"])
			assert.Equal(t, sess.ID, at.Str(t, impersonation.ClaimSessionID))
			assert.Equal(t, map[string]any{"sub": "alice"}, at.Claims["act"])
			assert.NotContains(t, at.Claims, impersonation.ClaimReason)

			require.NotEmpty(t, tok.IDToken)
			id, err := f.tokens(t).VerifyIDToken(context.Background(), tok.IDToken, tc.clientID)
			require.NoError(t, err)
			assert.Equal(t, "bob", id.Subject)
			assert.Equal(t, &claims.Actor{Subject: "alice"}, id.Act)
			assert.Equal(t, sess.ID, id.SessionID)
			assert.Equal(t, testNonce, id.Nonce)
			assert.Equal(t, claims.Audience{tc.clientID}, id.Audience)
			assert.Equal(t, in.AuthTime.Unix(), int64(id.AuthTime))
			assert.LessOrEqual(t, int64(id.Expiry), sess.Expires.Unix(), "the ID token ends with the session at the latest")

			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventSessionTokens, store.OutcomeGranted, "")
			assert.Equal(t, tc.clientID, e.ClientID)
			assert.Equal(t, "bob", e.Subject)
			assert.Equal(t, "alice", e.Impersonator)
			assert.Equal(t, "acme-eu", e.Org)
			assert.Equal(t, p.TokenID, e.JTI)
			assert.Equal(t, sessReason, e.Justification)
			assert.Equal(t, []string(tc.wantScope), e.Scopes)
		})
	}
}

// TestIssueTokens_WithoutSession: a login session that is not
// impersonating signs alice in as herself.
func TestIssueTokens_WithoutSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		opts  []sessOption
	}{
		{name: "no session anywhere", setup: func(*testing.T, *fixture) {}},
		{name: "another login session impersonates", setup: func(t *testing.T, f *fixture) { f.startSession(t, sessReason) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			tc.setup(t, f)
			n := len(f.db.Events())

			tok := f.issueTokens(t, app2ID, sessOtherLogin)
			f.requireOwnTokens(t, tok, app2ID)
			assert.Equal(t, claims.Scope{"openid", scopeOrdersWrite}, tok.Scope, "alice's own grants for app2")
			assert.Equal(t, int64(3600), tok.ExpiresIn)
			require.NotEmpty(t, tok.IDToken)
			id, err := f.tokens(t).VerifyIDToken(context.Background(), tok.IDToken, app2ID)
			require.NoError(t, err)
			assert.Equal(t, testNonce, id.Nonce)
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n), "a user's own sign-in is no impersonation event")
		})
	}
}

// TestIssueTokens_ReasonClaim: WithReasonClaim carries the session's reason
// as impersonation_reason in the access token; without it, never.
func TestIssueTokens_ReasonClaim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       []sessOption
		reason     string
		wantClaim  bool
		wantReason string
	}{
		{name: "WithReasonClaim", opts: []sessOption{sessReasonClaim}, reason: sessReason, wantClaim: true, wantReason: sessReason},
		{name: "WithReasonClaim, no reason given", opts: []sessOption{sessReasonClaim}},
		{name: "without WithReasonClaim", reason: sessReason},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t, tc.opts...)
			sess, exchanged := f.startSession(t, tc.reason)
			tok := f.issueTokens(t, app2ID, sessLogin)

			at := testkit.DecodeJWT(t, tok.AccessToken)
			if tc.wantClaim {
				assert.Equal(t, tc.wantReason, at.Str(t, impersonation.ClaimReason))
			} else {
				assert.NotContains(t, at.Claims, impersonation.ClaimReason)
			}
			p := f.requireSessionTokens(t, tok, app2ID, sess)
			assert.Equal(t, tc.wantReason, p.Reason)
			assert.Equal(t, "impersonation_reason", impersonation.ClaimReason, "the documented claim name")

			// The exchange's own access token predates the session.
			assert.NotContains(t, testkit.DecodeJWT(t, exchanged).Claims, impersonation.ClaimReason)
		})
	}
}

// TestIssueTokens_NeverOutliveTheSession: access, ID and refresh tokens
// issued under a session expire with it at the latest.
func TestIssueTokens_NeverOutliveTheSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    []sessOption
		advance time.Duration
		// wantTTL is the access token lifetime from issue.
		wantTTL time.Duration
	}{
		{name: "at the start of a 1 h session", wantTTL: time.Hour},
		{name: "40 minutes into a 1 h session", advance: 40 * time.Minute, wantTTL: 20 * time.Minute},
		{name: "a second before the end", advance: time.Hour - 2*time.Second, wantTTL: 2 * time.Second},
		{name: "15-minute session", opts: []sessOption{sessMax(15 * time.Minute)}, advance: 5 * time.Minute, wantTTL: 10 * time.Minute},
		{name: "access token TTL shorter than the session", opts: []sessOption{sessWith(impersonation.WithAccessTokenTTL(5 * time.Minute))}, advance: time.Minute, wantTTL: 5 * time.Minute},
		{name: "ID token TTL shorter than the session", opts: []sessOption{sessWith(impersonation.WithIDTokenTTL(2 * time.Minute))}, wantTTL: time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t, tc.opts...)
			f.enableRefresh(t, app2ID)
			sess, _ := f.startSession(t, sessReason)
			f.clock.Advance(tc.advance)
			now := f.clock.Now()

			tok := f.issueTokens(t, app2ID, sessLogin)
			require.NotNil(t, tok.Session)
			at := testkit.DecodeJWT(t, tok.AccessToken)
			exp := at.Num(t, "exp")
			assert.Equal(t, now.Add(tc.wantTTL).Unix(), exp)
			assert.LessOrEqual(t, exp, sess.Expires.Unix(), "access token exp never beyond the session's end")
			assert.Equal(t, int64(tc.wantTTL/time.Second), tok.ExpiresIn)

			id := testkit.DecodeJWT(t, tok.IDToken)
			assert.LessOrEqual(t, id.Num(t, "exp"), sess.Expires.Unix(), "ID token exp never beyond the session's end")

			require.NotEmpty(t, tok.RefreshToken)
			rt := testkit.DecodeJWT(t, tok.RefreshToken)
			assert.Equal(t, sess.Expires.Unix(), rt.Num(t, "exp"), "the refresh token ends with the session")
		})
	}
}

// TestSession_AuthorizeHook: what the host's authorize endpoint learns.
func TestSession_AuthorizeHook(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		login     string
		requested string
		wantSess  bool
		wantErr   error
	}{
		{name: "impersonating, any subject", login: sessLogin, wantSess: true},
		{name: "impersonating, the session's subject requested", login: sessLogin, requested: "bob", wantSess: true},
		{name: "impersonating, another subject requested", login: sessLogin, requested: "carol", wantSess: true, wantErr: impersonation.ErrOtherSubject},
		{name: "impersonating, the impersonator requested", login: sessLogin, requested: "alice", wantSess: true, wantErr: impersonation.ErrOtherSubject},
		{name: "another login session", login: sessOtherLogin},
		{name: "another login session, a subject requested", login: sessOtherLogin, requested: "carol"},
		{name: "empty login session", login: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			sess, _ := f.startSession(t, sessReason)
			n := len(f.db.Events())

			got, err := f.svc.Sessions().Active(context.Background(), tc.login, tc.requested)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			if tc.wantSess {
				assert.Equal(t, sess, got)
			} else {
				assert.Nil(t, got)
			}
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n), "looking a session up records nothing")

			// Asking for someone else does not end the session.
			again, err := f.svc.Sessions().Active(context.Background(), sessLogin, "")
			require.NoError(t, err)
			assert.Equal(t, sess, again)
		})
	}
}

// TestSession_PolicyRecheckedMidSession: the policy is checked again on
// every authorize call through the session; when it no longer allows the
// impersonation, the session ends with an audit event saying why, its
// tokens are revoked, and the login falls back to alice's own.
func TestSession_PolicyRecheckedMidSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		change     func(t *testing.T, f *fixture)
		wantReason impersonation.Reason
	}{
		{
			name:       "impersonator role removed",
			change:     func(t *testing.T, f *fixture) { require.NoError(t, f.db.Unassign(appID, roleImpersonator, "alice")) },
			wantReason: impersonation.ReasonNoRole,
		},
		{
			name: "impersonator disabled",
			change: func(t *testing.T, f *fixture) {
				require.NoError(t, f.db.PutUser(store.User{ID: "alice", Username: "alice", Org: "acme", Disabled: true}))
			},
			wantReason: impersonation.ReasonImpersonatorDisabled,
		},
		{
			name: "subject disabled",
			change: func(t *testing.T, f *fixture) {
				require.NoError(t, f.db.PutUser(store.User{ID: "bob", Username: "bob", Org: "acme-eu", Disabled: true}))
			},
			wantReason: impersonation.ReasonSubjectDisabled,
		},
		{
			name:       "subject became protected",
			change:     func(t *testing.T, f *fixture) { require.NoError(t, f.db.Assign(appID, roleImpersonator, "bob")) },
			wantReason: impersonation.ReasonProtected,
		},
		{
			name: "impersonation turned off for the client",
			change: func(t *testing.T, f *fixture) {
				f.updateClient(t, appID, func(c *store.Client) { c.Impersonation = false })
			},
			wantReason: impersonation.ReasonImpersonationDisabled,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			sess, exchanged := f.startSession(t, sessReason)
			before := f.issueTokens(t, app2ID, sessLogin)
			f.requireSessionTokens(t, before, app2ID, sess)
			f.clock.Advance(10 * time.Minute)
			tc.change(t, f)
			n := len(f.db.Events())

			got, err := f.svc.Sessions().Active(context.Background(), sessLogin, "")
			require.NoError(t, err)
			assert.Nil(t, got)

			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonationEnded, store.OutcomeGranted, "policy: ")
			assert.Contains(t, e.Reason, string(tc.wantReason))
			assert.Equal(t, sess.ID, e.JTI)
			assert.Equal(t, "alice", e.Impersonator)
			assert.Equal(t, "bob", e.Subject)
			assert.Equal(t, sessReason, e.Justification, "the reason goes into every audit event")

			f.requireSessionGone(t, sessLogin)
			assert.False(t, f.isActive(t, app2ID, before.AccessToken), "tokens issued under the ended session are revoked")
			assert.False(t, f.isActive(t, appID, exchanged), "so is the exchange token that started it")

			if tc.wantReason != impersonation.ReasonImpersonatorDisabled {
				f.requireOwnTokens(t, f.issueTokens(t, app2ID, sessLogin), app2ID)
			}
		})
	}
}

// TestSession_EndsWithItsMaximumDuration: on the injected clock, the
// session ends by itself.
func TestSession_EndsWithItsMaximumDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []sessOption
		max  time.Duration
	}{
		{name: "default 1 h", max: time.Hour},
		{name: "configured 15 min", opts: []sessOption{sessMax(15 * time.Minute)}, max: 15 * time.Minute},
		{name: "configured 3 h", opts: []sessOption{sessMax(3 * time.Hour)}, max: 3 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t, tc.opts...)
			sess, _ := f.startSession(t, sessReason)

			f.clock.Advance(tc.max - time.Second)
			got, err := f.svc.Sessions().Active(context.Background(), sessLogin, "")
			require.NoError(t, err)
			require.NotNil(t, got, "a second before the end")
			last := f.issueTokens(t, app2ID, sessLogin)
			f.requireSessionTokens(t, last, app2ID, sess)
			assert.Equal(t, int64(1), last.ExpiresIn)

			f.clock.Advance(time.Second)
			f.requireSessionGone(t, sessLogin)
			f.requireOwnTokens(t, f.issueTokens(t, app2ID, sessLogin), app2ID)

			f.clock.Advance(claims.DefaultSkew + time.Second)
			_, err = f.verifyAt(t, app2ID, last.AccessToken)
			require.ErrorIs(t, err, resource.ErrInvalidToken, "the session's last token has expired with it")
		})
	}
}

// TestRefresh_UnderSession: a refresh keeps act and isid, rotates the
// refresh token, and never outlives the session.
func TestRefresh_UnderSession(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.enableRefresh(t, app2ID)
	sess, _ := f.startSession(t, sessReason)
	first := f.issueTokens(t, app2ID, sessLogin)
	require.NotEmpty(t, first.RefreshToken, "a client with RefreshTokens gets a refresh token")

	rt := testkit.DecodeJWT(t, first.RefreshToken)
	assert.Equal(t, refreshtoken.HeaderType, rt.Header["typ"])
	assert.Equal(t, "refresh+jwt", rt.Header["typ"])
	assert.Equal(t, "bob", rt.Str(t, "sub"))
	assert.Equal(t, testIssuer, rt.Str(t, "iss"))
	assert.Equal(t, app2ID, rt.Str(t, "client_id"))
	assert.Equal(t, map[string]any{"sub": "alice"}, rt.Claims["act"])
	assert.Equal(t, sess.ID, rt.Str(t, impersonation.ClaimSessionID))
	assert.LessOrEqual(t, rt.Num(t, "exp"), sess.Expires.Unix(), "refresh token exp ≤ session expiry")
	testkit.AssertJTI(t, rt.Str(t, "jti"))

	f.clock.Advance(20 * time.Minute)
	n := len(f.db.Events())
	second := f.refreshOK(t, app2ID, first.RefreshToken, nil)

	p := f.requireSessionTokens(t, second, app2ID, sess)
	assert.Equal(t, claims.Scope{"openid", scopeOrdersRead}, p.Scope)
	assert.Equal(t, claims.Scope{"openid", scopeOrdersRead}, second.Scope)
	assert.Equal(t, int64(40*60), second.ExpiresIn, "the refreshed access token ends with the session")
	assert.LessOrEqual(t, p.Expiry.Unix(), sess.Expires.Unix())

	require.NotEmpty(t, second.IDToken)
	id, err := f.tokens(t).VerifyIDToken(context.Background(), second.IDToken, app2ID)
	require.NoError(t, err)
	assert.Equal(t, "bob", id.Subject)
	assert.Equal(t, &claims.Actor{Subject: "alice"}, id.Act, "the refresh keeps act")
	assert.Equal(t, sess.ID, id.SessionID)
	assert.Empty(t, id.Nonce, "no nonce on refresh (OpenID Connect Core §12.2)")

	require.NotEmpty(t, second.RefreshToken, "a new refresh token comes with the new tokens")
	assert.NotEqual(t, first.RefreshToken, second.RefreshToken)
	rt2 := testkit.DecodeJWT(t, second.RefreshToken)
	assert.NotEqual(t, rt.Str(t, "jti"), rt2.Str(t, "jti"))
	assert.Equal(t, map[string]any{"sub": "alice"}, rt2.Claims["act"])
	assert.Equal(t, sess.ID, rt2.Str(t, impersonation.ClaimSessionID))
	assert.LessOrEqual(t, rt2.Num(t, "exp"), sess.Expires.Unix())

	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventSessionTokens, store.OutcomeGranted, "")
	assert.Equal(t, "alice", e.Impersonator, "a refresh under impersonation is recorded with the impersonator")
	assert.Equal(t, "bob", e.Subject)
	assert.Equal(t, p.TokenID, e.JTI)

	te := f.refreshErr(t, app2ID, first.RefreshToken, nil)
	assert.Equal(t, tokenexchange.CodeInvalidGrant, te.Code, "a refresh token is used once")

	third := f.refreshOK(t, app2ID, second.RefreshToken, nil)
	f.requireSessionTokens(t, third, app2ID, sess)
}

// TestRefresh_OwnTokens: outside a session a refresh token lasts the
// refresh TTL and gives the user's own tokens.
func TestRefresh_OwnTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    []sessOption
		wantTTL time.Duration
	}{
		{name: "default refresh TTL", wantTTL: impersonation.DefaultRefreshTokenTTL},
		{name: "WithRefreshTokenTTL", opts: []sessOption{sessRefreshTTL(2 * time.Hour)}, wantTTL: 2 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t, tc.opts...)
			f.enableRefresh(t, app2ID)
			now := f.clock.Now()
			first := f.issueTokens(t, app2ID, sessOtherLogin)
			f.requireOwnTokens(t, first, app2ID)
			require.NotEmpty(t, first.RefreshToken)
			rt := testkit.DecodeJWT(t, first.RefreshToken)
			assert.Equal(t, now.Add(tc.wantTTL).Unix(), rt.Num(t, "exp"))
			assert.NotContains(t, rt.Claims, "act")
			assert.NotContains(t, rt.Claims, impersonation.ClaimSessionID)

			f.clock.Advance(tc.wantTTL - time.Minute)
			second := f.refreshOK(t, app2ID, first.RefreshToken, nil)
			f.requireOwnTokens(t, second, app2ID)
			assert.Equal(t, claims.Scope{"openid", scopeOrdersWrite}, second.Scope)
		})
	}
}

// TestRefresh_OffByDefault: a client without RefreshTokens gets none.
func TestRefresh_OffByDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		login string
	}{
		{name: "under a session", login: sessLogin},
		{name: "own tokens", login: sessOtherLogin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			f.startSession(t, sessReason)
			tok := f.issueTokens(t, app2ID, tc.login)
			assert.Empty(t, tok.RefreshToken)
			assert.Empty(t, tok.Response().RefreshToken)
		})
	}
}

// TestRefresh_Refused: every refused refresh, with its error code.
func TestRefresh_Refused(t *testing.T) {
	t.Parallel()
	type given struct {
		clientID string
		token    string
		scope    claims.Scope
	}
	tests := []struct {
		name string
		// setup gets the fixture with an impersonation session and
		// app2's first tokens under it (with a refresh token).
		setup    func(t *testing.T, f *fixture, first *impersonation.Tokens) given
		wantCode string
	}{
		{
			name: "used a second time",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				f.refreshOK(t, app2ID, first.RefreshToken, nil)
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "refresh token of another client",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				f.enableRefresh(t, appID)
				return given{clientID: appID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "after EndSession",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				require.NoError(t, f.svc.Sessions().End(context.Background(), sessLogin, "End impersonation"))
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "after the session was replaced",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				f.startSession(t, "TICKET-4712")
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "after a token of the session was revoked",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				require.NoError(t, f.svc.Revoke(context.Background(), sessClient(app2ID), first.AccessToken, ""))
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "after the policy ended the session",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				require.NoError(t, f.db.Unassign(appID, roleImpersonator, "alice"))
				got, err := f.svc.Sessions().Active(context.Background(), sessLogin, "")
				require.NoError(t, err)
				require.Nil(t, got)
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "after the session's end and the skew",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				f.clock.Advance(time.Hour + claims.DefaultSkew + time.Second)
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "scope escalation",
			setup: func(_ *testing.T, _ *fixture, first *impersonation.Tokens) given {
				return given{clientID: app2ID, token: first.RefreshToken, scope: claims.Scope{"openid", scopeOrdersWrite}}
			},
			wantCode: tokenexchange.CodeInvalidScope,
		},
		{
			name: "the client no longer has refresh tokens",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				f.updateClient(t, app2ID, func(c *store.Client) { c.RefreshTokens = false })
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.CodeUnauthorizedClient,
		},
		{
			name: "the client is disabled",
			setup: func(t *testing.T, f *fixture, first *impersonation.Tokens) given {
				f.updateClient(t, app2ID, func(c *store.Client) { c.Disabled = true })
				return given{clientID: app2ID, token: first.RefreshToken}
			},
			wantCode: tokenexchange.CodeUnauthorizedClient,
		},
		{
			name: "garbage",
			setup: func(*testing.T, *fixture, *impersonation.Tokens) given {
				return given{clientID: app2ID, token: "not.a.token"}
			},
			wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "access token as refresh token",
			setup: func(_ *testing.T, _ *fixture, first *impersonation.Tokens) given {
				return given{clientID: app2ID, token: first.AccessToken}
			},
			wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "ID token as refresh token",
			setup: func(_ *testing.T, _ *fixture, first *impersonation.Tokens) given {
				return given{clientID: app2ID, token: first.IDToken}
			},
			wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "tampered signature",
			setup: func(_ *testing.T, _ *fixture, first *impersonation.Tokens) given {
				parts := strings.Split(first.RefreshToken, ".")
				sig := []byte(parts[2])
				sig[5] ^= 0x01
				return given{clientID: app2ID, token: parts[0] + "." + parts[1] + "." + string(sig)}
			},
			wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "act stripped, re-signed with a foreign key",
			setup: func(t *testing.T, _ *fixture, first *impersonation.Tokens) given {
				other := newFixture(t)
				key := other.signingKey(t)
				c := testkit.DecodeJWT(t, first.RefreshToken).Claims
				delete(c, "act")
				delete(c, impersonation.ClaimSessionID)
				return given{clientID: app2ID, token: testkit.SignRaw(t, key, map[string]any{"alg": key.Algorithm, "kid": key.ID, "typ": "refresh+jwt"}, c)}
			},
			wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "own refresh token expired",
			setup: func(t *testing.T, f *fixture, _ *impersonation.Tokens) given {
				own := f.issueTokens(t, app2ID, sessOtherLogin)
				f.clock.Advance(impersonation.DefaultRefreshTokenTTL + claims.DefaultSkew + time.Second)
				return given{clientID: app2ID, token: own.RefreshToken}
			},
			wantCode: tokenexchange.CodeInvalidGrant,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			f.enableRefresh(t, app2ID)
			f.startSession(t, sessReason)
			first := f.issueTokens(t, app2ID, sessLogin)
			require.NotEmpty(t, first.RefreshToken)
			g := tc.setup(t, f, first)
			n := len(sessionEventsOf(f.db, store.EventSessionTokens))

			te := f.refreshErr(t, g.clientID, g.token, g.scope)
			assert.Equal(t, tc.wantCode, te.Code)
			testkit.AssertNoLeak(t, te.Code+" "+te.Description, g.token)
			assert.Len(t, sessionEventsOf(f.db, store.EventSessionTokens), n, "nothing issued, nothing recorded")
		})
	}
}

// TestRefresh_Scope: a refresh may narrow the scope, never widen it; a
// refused escalation does not burn the refresh token.
func TestRefresh_Scope(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.enableRefresh(t, app2ID)
	sess, _ := f.startSession(t, sessReason)
	first := f.issueTokens(t, app2ID, sessLogin)

	te := f.refreshErr(t, app2ID, first.RefreshToken, claims.Scope{"openid", scopeOrdersRead, scopeOrdersWrite})
	assert.Equal(t, tokenexchange.CodeInvalidScope, te.Code)

	narrowed := f.refreshOK(t, app2ID, first.RefreshToken, claims.Scope{scopeOrdersRead})
	p := f.requireSessionTokens(t, narrowed, app2ID, sess)
	assert.Equal(t, claims.Scope{scopeOrdersRead}, p.Scope)
	assert.Empty(t, narrowed.IDToken, "no openid, no ID token")
	rt := testkit.DecodeJWT(t, narrowed.RefreshToken)
	assert.Equal(t, scopeOrdersRead, rt.Str(t, "scope"), "the new refresh token carries the narrowed scope")

	te = f.refreshErr(t, app2ID, narrowed.RefreshToken, claims.Scope{"openid"})
	assert.Equal(t, tokenexchange.CodeInvalidScope, te.Code, "narrowed once, narrowed for good")
}

// TestRefresh_KeepsReason: tokens refreshed under a session carry its
// reason like the first ones (WithReasonClaim), and the audit event of the
// refresh carries it too ("carried into every audit event").
func TestRefresh_KeepsReason(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t, sessReasonClaim)
	f.enableRefresh(t, app2ID)
	f.startSession(t, sessReason)
	first := f.issueTokens(t, app2ID, sessLogin)
	require.Equal(t, sessReason, testkit.DecodeJWT(t, first.AccessToken).Str(t, impersonation.ClaimReason))
	n := len(f.db.Events())

	second := f.refreshOK(t, app2ID, first.RefreshToken, nil)
	p, err := f.verifyAt(t, app2ID, second.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, sessReason, p.Reason, "the refreshed access token keeps impersonation_reason")
	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventSessionTokens, store.OutcomeGranted, "")
	assert.Equal(t, sessReason, e.Justification, "the refresh's audit event carries the reason")
}

// TestRefresh_PolicyRechecked: a refresh under a session is a sign-in
// through it without the authorize endpoint; when the policy no longer
// allows the impersonation it must not yield impersonated tokens, even
// though no authorize call has ended the session yet.
func TestRefresh_PolicyRechecked(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.enableRefresh(t, app2ID)
	f.startSession(t, sessReason)
	first := f.issueTokens(t, app2ID, sessLogin)
	require.NoError(t, f.db.Unassign(appID, roleImpersonator, "alice"))

	tok, err := f.svc.Sessions().Refresh(context.Background(), sessClient(app2ID), first.RefreshToken, nil)
	require.Error(t, err, "impersonated tokens were issued after the impersonator lost the role")
	assert.Nil(t, tok)
	var te *tokenexchange.Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, tokenexchange.CodeInvalidGrant, te.Code)
}

// TestRefresh_WithinSkewAfterSessionEnd: a refresh token of a session that
// has just ended (within the clock skew the service tolerates) is an
// invalid grant, not a server failure, and is not consumed for nothing.
func TestRefresh_WithinSkewAfterSessionEnd(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.enableRefresh(t, app2ID)
	sess, _ := f.startSession(t, sessReason)
	first := f.issueTokens(t, app2ID, sessLogin)
	f.clock.Advance(sess.Expires.Sub(f.clock.Now()) + 10*time.Second)

	te := f.refreshErr(t, app2ID, first.RefreshToken, nil)
	assert.Equal(t, tokenexchange.CodeInvalidGrant, te.Code)
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

// TestRefreshGrant_TokenEndpoint: the refresh_token grant on the token
// endpoint, tokenexchange.WithGrant(GrantTypeRefreshToken, svc.Sessions()), next to
// token exchange.
func TestRefreshGrant_TokenEndpoint(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.enableRefresh(t, app2ID)
	sess, _ := f.startSession(t, sessReason)
	first := f.issueTokens(t, app2ID, sessLogin)

	w, body := f.sessPost(t, app2ID, app2Secret, url.Values{
		"grant_type":    {tokenexchange.GrantTypeRefreshToken},
		"refresh_token": {first.RefreshToken},
	})
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Equal(t, "no-cache", w.Header().Get("Pragma"))
	assert.Equal(t, "Bearer", body["token_type"])
	assert.Equal(t, "openid "+scopeOrdersRead, body["scope"])
	assert.InDelta(t, 3600, body["expires_in"], 60)
	for _, k := range []string{"access_token", "id_token", "refresh_token"} {
		require.IsType(t, "", body[k], k)
		require.NotEmpty(t, body[k], k)
	}
	f.requireSessionTokens(t, &impersonation.Tokens{AccessToken: body["access_token"].(string), Session: sess}, app2ID, sess)
	id, err := f.tokens(t).VerifyIDToken(context.Background(), body["id_token"].(string), app2ID)
	require.NoError(t, err)
	assert.Equal(t, &claims.Actor{Subject: "alice"}, id.Act)
	assert.NotEqual(t, first.RefreshToken, body["refresh_token"])

	// Token exchange still works on the same endpoint.
	st, idt := f.authorize(t, "alice", "bob")
	out := f.exchangeVia(t, viaHTTP, appID, exchangeRequest(st, idt))
	require.Equal(t, http.StatusOK, out.status, out.body)
	assert.Equal(t, tokenexchange.TokenTypeAccessToken, out.resp.IssuedTokenType)
	assert.Empty(t, out.resp.IDToken, "token exchange issues no ID token")
}

func TestRefreshGrant_TokenEndpointRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		clientID   string
		secret     string
		form       func(rt string) url.Values
		wantStatus int
		wantCode   string
	}{
		{
			name: "refresh_token missing", clientID: app2ID, secret: app2Secret,
			form:       func(string) url.Values { return url.Values{"grant_type": {"refresh_token"}} },
			wantStatus: http.StatusBadRequest, wantCode: tokenexchange.CodeInvalidRequest,
		},
		{
			name: "garbage refresh token", clientID: app2ID, secret: app2Secret,
			form: func(string) url.Values {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"garbage-token-3e1f"}}
			},
			wantStatus: http.StatusBadRequest, wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "refresh token repeated", clientID: app2ID, secret: app2Secret,
			form: func(rt string) url.Values {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt, rt}}
			},
			wantStatus: http.StatusBadRequest, wantCode: tokenexchange.CodeInvalidRequest,
		},
		{
			name: "scope escalation", clientID: app2ID, secret: app2Secret,
			form: func(rt string) url.Values {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"openid " + scopeOrdersWrite}}
			},
			wantStatus: http.StatusBadRequest, wantCode: tokenexchange.CodeInvalidScope,
		},
		{
			name: "refresh token of another client", clientID: appID, secret: appSecret,
			form: func(rt string) url.Values {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			},
			wantStatus: http.StatusBadRequest, wantCode: tokenexchange.CodeInvalidGrant,
		},
		{
			name: "wrong client secret", clientID: app2ID, secret: "wrong-secret-5a5a",
			form: func(rt string) url.Values {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			},
			wantStatus: http.StatusUnauthorized, wantCode: tokenexchange.CodeInvalidClient,
		},
		{
			name: "authorization_code not served", clientID: app2ID, secret: app2Secret,
			form: func(string) url.Values {
				return url.Values{"grant_type": {tokenexchange.GrantTypeAuthorizationCode}, "code": {"code-1"}}
			},
			wantStatus: http.StatusBadRequest, wantCode: tokenexchange.CodeUnsupportedGrantType,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			f.enableRefresh(t, app2ID)
			f.enableRefresh(t, appID)
			f.startSession(t, sessReason)
			first := f.issueTokens(t, app2ID, sessLogin)

			w, body := f.sessPost(t, tc.clientID, tc.secret, tc.form(first.RefreshToken))
			assert.Equal(t, tc.wantStatus, w.Code, w.Body.String())
			assert.Equal(t, tc.wantCode, body["error"])
			assert.NotContains(t, body, "access_token")
			testkit.AssertNoLeak(t, w.Body.String(), first.RefreshToken, tc.secret)
		})
	}
}

// TestRefreshGrant_WrongMethod: the refresh grant goes through the token
// endpoint's checks.
func TestRefreshGrant_WrongMethod(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	r := httptest.NewRequest(http.MethodGet, "/token?grant_type=refresh_token", nil)
	r.SetBasicAuth(app2ID, app2Secret)
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, http.MethodPost, w.Header().Get("Allow"))
}

// TestWithGrant_CannotReplaceTokenExchange: the Service as the grant
// handler of token exchange itself is refused.
func TestWithGrant_CannotReplaceTokenExchange(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	h, err := tokenexchange.NewHandler(f.svc, f.svc, tokenexchange.WithGrant(tokenexchange.GrantType, f.svc.Sessions()))
	require.Error(t, err)
	assert.Nil(t, h)
}

// TestEndSession_RevokesEveryToken: ending the session revokes every token
// issued under it and the exchange token that started it, records the
// end, and returns the login session to alice's own sign-ins.
func TestEndSession_RevokesEveryToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		reason string
	}{
		{name: "End impersonation", reason: "ended by the impersonator from the console"},
		{name: "impersonator logout", reason: "logout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			f.enableRefresh(t, app2ID)
			sess, exchanged := f.startSession(t, sessReason)
			app2Tok := f.issueTokens(t, app2ID, sessLogin)
			f.clock.Advance(time.Minute)
			appTok := f.issueTokens(t, appID, sessLogin)
			refreshed := f.refreshOK(t, app2ID, app2Tok.RefreshToken, nil)

			type issued struct {
				name, clientID, token string
			}
			all := []issued{
				{"exchange token", appID, exchanged},
				{"app2 access token", app2ID, app2Tok.AccessToken},
				{"app access token", appID, appTok.AccessToken},
				{"refreshed app2 access token", app2ID, refreshed.AccessToken},
			}
			for _, tok := range all {
				require.True(t, f.isActive(t, tok.clientID, tok.token), tok.name)
				_, err := f.verifyAt(t, tok.clientID, tok.token)
				require.NoError(t, err, tok.name)
			}
			n := len(f.db.Events())

			require.NoError(t, f.svc.Sessions().End(context.Background(), sessLogin, tc.reason))

			e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonationEnded, store.OutcomeGranted, tc.reason)
			assert.Equal(t, sess.ID, e.JTI)
			assert.Equal(t, "alice", e.Impersonator)
			assert.Equal(t, "bob", e.Subject)
			assert.Equal(t, appID, e.ClientID)
			assert.Equal(t, sessReason, e.Justification)

			for _, tok := range all {
				assert.False(t, f.isActive(t, tok.clientID, tok.token), "%s inactive at introspection", tok.name)
				_, err := f.verifyAt(t, tok.clientID, tok.token)
				require.ErrorIs(t, err, resource.ErrRevoked, tok.name)
				require.ErrorIs(t, err, resource.ErrInvalidToken, tok.name)
			}
			assert.Equal(t, tokenexchange.CodeInvalidGrant, f.refreshErr(t, app2ID, refreshed.RefreshToken, nil).Code)

			f.requireSessionGone(t, sessLogin)
			f.requireOwnTokens(t, f.issueTokens(t, app2ID, sessLogin), app2ID)
		})
	}
}

// TestEndSession_NoSessionIsNoError: ending a login session that does not
// impersonate is no error and records nothing.
func TestEndSession_NoSessionIsNoError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		login string
	}{
		{name: "never impersonated", setup: func(*testing.T, *fixture) {}, login: sessLogin},
		{name: "another login session impersonates", setup: func(t *testing.T, f *fixture) { f.startSession(t, sessReason) }, login: sessOtherLogin},
		{name: "already ended", setup: func(t *testing.T, f *fixture) {
			f.startSession(t, sessReason)
			require.NoError(t, f.svc.Sessions().End(context.Background(), sessLogin, "logout"))
		}, login: sessLogin},
		{name: "expired", setup: func(t *testing.T, f *fixture) {
			f.startSession(t, sessReason)
			f.clock.Advance(2 * time.Hour)
		}, login: sessLogin},
		{name: "empty login session", setup: func(*testing.T, *fixture) {}, login: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			tc.setup(t, f)
			n := len(f.db.Events())
			require.NoError(t, f.svc.Sessions().End(context.Background(), tc.login, "logout"))
			assert.Empty(t, testkit.EventsSince(f.db.Events(), n))
		})
	}
}

// TestRevoke_SessionTokenEndsSession: revoking one token of the session at
// the revocation endpoint ends the session: its other tokens become
// inactive and the authorize hook no longer sees it.
func TestRevoke_SessionTokenEndsSession(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	sess, _ := f.startSession(t, sessReason)
	app2Tok := f.issueTokens(t, app2ID, sessLogin)
	appTok := f.issueTokens(t, appID, sessLogin)
	f.requireSessionTokens(t, app2Tok, app2ID, sess)
	f.requireSessionTokens(t, appTok, appID, sess)
	n := len(f.db.Events())

	require.NoError(t, f.svc.Revoke(context.Background(), sessClient(app2ID), app2Tok.AccessToken, ""))

	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonationEnded, store.OutcomeGranted, "")
	assert.Equal(t, "alice", e.Impersonator)
	assert.Equal(t, "bob", e.Subject)
	assert.Equal(t, app2ID, e.ClientID)

	assert.False(t, f.isActive(t, app2ID, app2Tok.AccessToken))
	assert.False(t, f.isActive(t, appID, appTok.AccessToken), "another token of the session is inactive too")
	_, err := f.verifyAt(t, appID, appTok.AccessToken)
	require.ErrorIs(t, err, resource.ErrRevoked)

	got, err := f.svc.Sessions().Active(context.Background(), sessLogin, "")
	require.NoError(t, err)
	assert.Nil(t, got)
	_, err = f.db.SessionFor(context.Background(), sessLogin)
	require.ErrorIs(t, err, store.ErrNotFound)
	f.requireOwnTokens(t, f.issueTokens(t, app2ID, sessLogin), app2ID)
}

// TestRevoke_SessionTokenRevokesStartingToken: ending the session by
// revoking one of its tokens has the effect of EndSession: the exchange
// token that started it is revoked too.
func TestRevoke_SessionTokenRevokesStartingToken(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	_, exchanged := f.startSession(t, sessReason)
	app2Tok := f.issueTokens(t, app2ID, sessLogin)

	require.NoError(t, f.svc.Revoke(context.Background(), sessClient(app2ID), app2Tok.AccessToken, ""))
	got, err := f.svc.Sessions().Active(context.Background(), sessLogin, "")
	require.NoError(t, err)
	require.Nil(t, got)

	assert.False(t, f.isActive(t, appID, exchanged), "the exchange token of an ended session is still active")
	_, err = f.verifyAt(t, appID, exchanged)
	require.ErrorIs(t, err, resource.ErrRevoked)
}

// TestRevoke_ExchangeTokenEndsSession: revoking the exchange token that
// started the session ends the session.
func TestRevoke_ExchangeTokenEndsSession(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	sess, exchanged := f.startSession(t, sessReason)
	app2Tok := f.issueTokens(t, app2ID, sessLogin)
	require.NoError(t, f.svc.Revoke(context.Background(), clientApp(), exchanged, ""))
	n := len(f.db.Events())

	got, err := f.svc.Sessions().Active(context.Background(), sessLogin, "")
	require.NoError(t, err)
	assert.Nil(t, got)

	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventImpersonationEnded, store.OutcomeGranted, "revoked")
	assert.Equal(t, sess.ID, e.JTI)
	assert.Equal(t, sessReason, e.Justification)
	f.requireSessionGone(t, sessLogin)
	assert.False(t, f.isActive(t, app2ID, app2Tok.AccessToken), "the session's tokens are revoked with it")
	f.requireOwnTokens(t, f.issueTokens(t, app2ID, sessLogin), app2ID)
}

// TestRevoke_ExchangeTokenRevokesSessionTokensAtOnce: revoking the
// exchange token at the revocation endpoint ends the impersonation; the
// tokens issued under its session must be inactive right away, not only
// after the next authorize call through the login session (which may never
// come).
func TestRevoke_ExchangeTokenRevokesSessionTokensAtOnce(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	_, exchanged := f.startSession(t, sessReason)
	app2Tok := f.issueTokens(t, app2ID, sessLogin)

	require.NoError(t, f.svc.Revoke(context.Background(), clientApp(), exchanged, ""))

	assert.False(t, f.isActive(t, app2ID, app2Tok.AccessToken))
	_, err := f.verifyAt(t, app2ID, app2Tok.AccessToken)
	require.ErrorIs(t, err, resource.ErrRevoked)
}

// TestExchange_RefusesActorTokenIssuedUnderSession: an ID token issued
// under a session (sub bob, act alice) speaks for bob as impersonated; it
// never makes bob an impersonator, even where bob may impersonate.
func TestExchange_RefusesActorTokenIssuedUnderSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// actorToken returns bob's ID token for app.
		actorToken func(t *testing.T, f *fixture, underSession string) string
		wantOK     bool
	}{
		{
			name:       "ID token issued under the session",
			actorToken: func(_ *testing.T, _ *fixture, underSession string) string { return underSession },
		},
		{
			name: "bob's own ID token (control)",
			actorToken: func(t *testing.T, f *fixture, _ string) string {
				tok, _, err := f.tokens(t).MintIDToken(context.Background(), authorizetoken.IDTokenParams{Subject: "bob", ClientID: appID})
				require.NoError(t, err)
				return tok
			},
			wantOK: true,
		},
	}
	for _, tc := range tests {
		for _, via := range bothWays {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				t.Parallel()
				f := newSessionFixture(t)
				sess, _ := f.startSession(t, sessReason)
				under := f.issueTokens(t, appID, sessLogin)
				id, err := f.tokens(t).VerifyIDToken(context.Background(), under.IDToken, appID)
				require.NoError(t, err)
				require.Equal(t, "bob", id.Subject)
				require.Equal(t, &claims.Actor{Subject: "alice"}, id.Act)
				require.Equal(t, sess.ID, id.SessionID)

				// bob may impersonate gina through app, so only act
				// stands in the way.
				require.NoError(t, f.db.PutUser(store.User{ID: "gina", Username: "gina", Org: "acme-eu"}))
				require.NoError(t, f.db.Assign(appID, roleImpersonator, "bob"))
				require.NoError(t, f.db.Assign(appID, roleCustomer, "gina"))
				st, _, err := f.tokens(t).Mint(context.Background(), authorizetoken.Params{
					Subject: "gina", ClientID: appID, Scope: claims.Scope{"openid", scopeOrdersRead}, Actor: "bob",
				})
				require.NoError(t, err)
				n := len(f.db.Events())

				out := f.exchangeVia(t, via, appID, exchangeRequest(st, tc.actorToken(t, f, under.IDToken)))
				if tc.wantOK {
					require.Equal(t, http.StatusOK, out.status, out.body)
					return
				}
				assert.Equal(t, http.StatusBadRequest, out.status)
				assert.Equal(t, tokenexchange.CodeInvalidRequest, out.code)
				assert.Contains(t, out.description, "actor_token")
				testkit.AssertNoLeak(t, out.body, under.IDToken, st)
				e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventTokenExchangeDenied, store.OutcomeDenied, "act")
				assert.Equal(t, "gina", e.Subject)
			})
		}
	}
}

// TestVerifier_PrincipalSessionIDAndReason: a resource server's Verifier
// exposes the session and, when the issuer carries it, the reason.
func TestVerifier_PrincipalSessionIDAndReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       []sessOption
		wantReason string
	}{
		{name: "WithReasonClaim", opts: []sessOption{sessReasonClaim}, wantReason: sessReason},
		{name: "without WithReasonClaim"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t, tc.opts...)
			sess, exchanged := f.startSession(t, sessReason)
			tok := f.issueTokens(t, app2ID, sessLogin)

			p, err := f.verifier(t, app2ID).Verify(context.Background(), tok.AccessToken)
			require.NoError(t, err)
			assert.Equal(t, sess.ID, p.SessionID)
			assert.Equal(t, tc.wantReason, p.Reason)
			assert.True(t, p.Impersonated())

			ex, err := f.verifier(t, appID).Verify(context.Background(), exchanged)
			require.NoError(t, err)
			assert.Empty(t, ex.SessionID, "the exchange's own token carries no isid")
			assert.Empty(t, ex.Reason)
		})
	}
}

// TestTokens_Response: Tokens as a token endpoint response.
func TestTokens_Response(t *testing.T) {
	t.Parallel()
	tok := &impersonation.Tokens{
		IDToken: "id.token.sig", AccessToken: "access.token.sig", RefreshToken: "refresh.token.sig",
		ExpiresIn: 1200, Scope: claims.Scope{"openid", scopeOrdersRead},
	}
	assert.Equal(t, &tokenexchange.Response{
		AccessToken:     "access.token.sig",
		IssuedTokenType: tokenexchange.TokenTypeAccessToken,
		TokenType:       tokenexchange.BearerTokenType,
		ExpiresIn:       1200,
		Scope:           claims.Scope{"openid", scopeOrdersRead},
		RefreshToken:    "refresh.token.sig",
		IDToken:         "id.token.sig",
	}, tok.Response())
	b, err := json.Marshal(tok.Response())
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"access_token": "access.token.sig",
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"token_type": "Bearer",
		"expires_in": 1200,
		"scope": "openid orders:read",
		"refresh_token": "refresh.token.sig",
		"id_token": "id.token.sig"
	}`, string(b))
}

// TestRefresh_ConcurrentUseOnce: of concurrent refreshes with one refresh
// token, exactly one succeeds.
func TestRefresh_ConcurrentUseOnce(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.enableRefresh(t, app2ID)
	f.startSession(t, sessReason)
	first := f.issueTokens(t, app2ID, sessLogin)

	const n = 16
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.Sessions().Refresh(context.Background(), sessClient(app2ID), first.RefreshToken, nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
			continue
		}
		var te *tokenexchange.Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, tokenexchange.CodeInvalidGrant, te.Code)
	}
	assert.Equal(t, 1, ok)
}

// TestRFC7009_2_RefreshTokenRevocation: RFC 7009 §2 "Implementations MUST
// support the revocation of refresh tokens": once the client revokes its
// refresh token, it no longer refreshes.
func TestRFC7009_2_RefreshTokenRevocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		login string
	}{
		{name: "refresh token under a session", login: sessLogin},
		{name: "own refresh token", login: sessOtherLogin},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSessionFixture(t)
			f.enableRefresh(t, app2ID)
			f.startSession(t, sessReason)
			tok := f.issueTokens(t, app2ID, tc.login)
			require.NotEmpty(t, tok.RefreshToken)

			require.NoError(t, f.svc.Revoke(context.Background(), sessClient(app2ID), tok.RefreshToken, "refresh_token"))

			te := f.refreshErr(t, app2ID, tok.RefreshToken, nil)
			assert.Equal(t, tokenexchange.CodeInvalidGrant, te.Code)
		})
	}
}

// TestIssueTokens_LastSecondOfSession: a sign-in in the last second of a
// session, when no whole second of token lifetime is left, falls back to
// the user's own tokens (or issues impersonated ones), but does not fail
// the sign-in.
func TestIssueTokens_LastSecondOfSession(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	sess, _ := f.startSession(t, sessReason)
	f.clock.Advance(sess.Expires.Sub(f.clock.Now()) - 500*time.Millisecond)

	tok, err := f.svc.Sessions().Issue(context.Background(), f.sessSignIn(app2ID, sessLogin))
	require.NoError(t, err)
	require.NotNil(t, tok)
	_, err = f.verifyAt(t, app2ID, tok.AccessToken)
	require.NoError(t, err)
}

// TestStartSession_AgainWithSameExchangeToken: a host that starts the
// session again with the same exchange token (a retried request) gets a
// working session, or a refusal; never a session that is already dead.
func TestStartSession_AgainWithSameExchangeToken(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	exchanged := f.accessToken(t)
	_, err := f.svc.Sessions().Start(context.Background(), sessLogin, exchanged, sessReason)
	require.NoError(t, err)

	again, err := f.svc.Sessions().Start(context.Background(), sessLogin, exchanged, sessReason)
	if err != nil {
		assert.Nil(t, again)
		return
	}
	require.NotNil(t, again)
	got, err := f.svc.Sessions().Active(context.Background(), sessLogin, "")
	require.NoError(t, err)
	require.NotNil(t, got, "StartSession returned a session that the next authorize call ends")
	assert.Equal(t, again.ID, got.ID)
}
