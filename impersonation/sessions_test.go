package impersonation_test

import (
	"context"
	"strings"
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
	"github.com/actas/actas/subjecttoken"
	"github.com/actas/actas/tokenexchange"
)

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

			assert.Equal(t, sess, f.activeSession(t), "the authorize hook sees the session")
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
			f.requireBackToOwnTokens(t)
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
			ss := svc.Sessions()
			require.Nil(t, ss)

			// A nil Sessions is usable: nobody is impersonating, and
			// nothing is started or issued.
			ctx := context.Background()
			active, err := ss.Active(ctx, sessLogin, "")
			require.NoError(t, err)
			assert.Nil(t, active)
			signIn, err := ss.SignIn(ctx, sessLogin, appID)
			require.NoError(t, err)
			assert.Nil(t, signIn)
			require.NoError(t, ss.End(ctx, sessLogin, "logout"))
			started, err := ss.Start(ctx, sessLogin, "any.access.token", sessReason)
			require.Error(t, err)
			assert.Nil(t, started)
			tok, err := ss.Issue(ctx, impersonation.SignIn{LoginSession: sessLogin, User: "alice", ClientID: appID})
			require.Error(t, err)
			assert.Nil(t, tok)
			resp, err := ss.Grant(ctx, clientApp(), &tokenexchange.GrantRequest{GrantType: tokenexchange.GrantTypeRefreshToken, RefreshToken: "x"})
			require.ErrorIs(t, err, tokenexchange.ErrUnsupportedGrantType)
			assert.Nil(t, resp)
			tok, err = ss.Refresh(ctx, clientApp(), "x", nil)
			require.ErrorIs(t, err, tokenexchange.ErrUnsupportedGrantType)
			assert.Nil(t, tok)
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
	got := f.activeSession(t)
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
			assert.Equal(t, sess, f.activeSession(t))
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

			assert.Nil(t, f.activeSession(t))

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
			require.NotNil(t, f.activeSession(t), "a second before the end")
			last := f.issueTokens(t, app2ID, sessLogin)
			f.requireSessionTokens(t, last, app2ID, sess)
			assert.Equal(t, int64(1), last.ExpiresIn)

			f.clock.Advance(time.Second)
			f.requireBackToOwnTokens(t)

			f.clock.Advance(claims.DefaultSkew + time.Second)
			_, err := f.verifyAt(t, app2ID, last.AccessToken)
			require.ErrorIs(t, err, resource.ErrInvalidToken, "the session's last token has expired with it")
		})
	}
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
			assert.Equal(t, tokenexchange.ErrInvalidGrant.Code, f.refreshErr(t, app2ID, refreshed.RefreshToken, nil).Code)

			f.requireBackToOwnTokens(t)
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

	f.requireBackToOwnTokens(t)
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
	require.Nil(t, f.activeSession(t))

	assert.False(t, f.isActive(t, appID, exchanged), "the exchange token of an ended session is still active")
	_, err := f.verifyAt(t, appID, exchanged)
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

	assert.Nil(t, f.activeSession(t))

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
	got := f.activeSession(t)
	require.NotNil(t, got, "StartSession returned a session that the next authorize call ends")
	assert.Equal(t, again.ID, got.ID)
}
