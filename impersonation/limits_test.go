package impersonation_test

import (
	"context"
	"errors"
	"net/http"
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

// Lifetimes are configured, never silently shortened: a client lifetime
// above its cap refuses the client's requests with server_error, audited
// with what to fix, and nothing is issued.

func TestLimits_ClientLifetimeAboveTheCapIsRefusedAtAuthorize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*store.Client)
		want   string
	}{
		{name: "subject token", change: func(c *store.Client) { c.SubjectTokenTTL = 5 * time.Hour },
			want: `client "app": SubjectTokenTTL 5h0m0s exceeds the subject token cap 10m0s`},
		{name: "access token", change: func(c *store.Client) { c.AccessTokenTTL = 30 * 24 * time.Hour },
			want: `client "app": AccessTokenTTL 720h0m0s exceeds the access token cap 24h0m0s`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.updateClient(t, appID, tc.change)

			resp, err := f.svc.Authorize(context.Background(), f.parseAuthorize(t, authorizeValues(appID, "bob")), impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})

			assert.Nil(t, resp, "nothing issued")
			require.ErrorIs(t, err, impersonation.ErrConfiguration)
			var se *subjecttoken.Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, subjecttoken.ErrServerError.Code, se.Code)
			assert.True(t, se.Redirectable())
			assert.NotContains(t, se.Description, "5h", "what to fix is for the audit log")
			e := testkit.RequireOneEvent(t, f.db.Events(), store.EventImpersonationDenied, store.OutcomeFailed, tc.want)
			assert.Empty(t, e.JTI)
			assert.Empty(t, f.db.Notices())
		})
	}
}

func TestLimits_ClientLifetimeAboveTheCapIsRefusedAtTheExchange(t *testing.T) {
	t.Parallel()
	runBothWays(t, "", func(t *testing.T, via string) {
		f := newFixture(t)
		st, idt := f.authorize(t, "alice", "bob")
		f.updateClient(t, appID, func(c *store.Client) { c.AccessTokenTTL = 25 * time.Hour })
		n := len(f.db.Events())

		out := f.exchangeVia(t, via, appID, exchangeRequest(st, idt))

		assert.Equal(t, tokenexchange.ErrServerError.Code, out.code)
		assert.Equal(t, http.StatusInternalServerError, out.status)
		assert.Nil(t, out.resp)
		testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), n), store.EventTokenExchangeDenied, store.OutcomeFailed,
			`AccessTokenTTL 25h0m0s exceeds the access token cap 24h0m0s`)
		assert.Zero(t, f.db.UsedLen(), "the subject token is not consumed")
		testkit.AssertNoLeak(t, out.body, st, idt, "25h")
	})
}

// TestLimits_CapsRaised: the host raises the subject token cap and a
// client gets the flow's reference document's 5-hour subject token, which
// the exchange accepts.
func TestLimits_CapsRaised(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withServiceOptions(
		impersonation.WithLifetimeCaps(impersonation.LifetimeCaps{SubjectToken: 5 * time.Hour, AccessToken: 2 * time.Hour}),
		impersonation.WithIDTokenTTL(time.Hour), // the actor token must outlive the wait below
	))
	f.updateClient(t, appID, func(c *store.Client) {
		c.SubjectTokenTTL = 5 * time.Hour
		c.AccessTokenTTL = 2 * time.Hour
	})
	st, idt := f.authorize(t, "alice", "bob")
	tok := testkit.DecodeJWT(t, st)
	assert.Equal(t, int64(5*time.Hour/time.Second), tok.Num(t, "exp")-tok.Num(t, "iat"))

	f.clock.Advance(30 * time.Minute) // past the default cap of 10 min
	out := f.exchangeVia(t, viaHTTP, appID, exchangeRequest(st, idt))
	require.Equal(t, http.StatusOK, out.status, out.body)
	assert.Equal(t, int64(2*time.Hour/time.Second), out.resp.ExpiresIn)
}

func TestLimits_Check(t *testing.T) {
	t.Parallel()
	caps := impersonation.LifetimeCaps{SubjectToken: time.Hour}
	tests := []struct {
		name   string
		client store.Client
		want   string
	}{
		{name: "defaults", client: store.Client{ID: "a"}},
		{name: "at the caps", client: store.Client{ID: "a", SubjectTokenTTL: time.Hour, AccessTokenTTL: impersonation.MaxAccessTokenTTL}},
		{name: "subject token over", client: store.Client{ID: "a", SubjectTokenTTL: time.Hour + time.Second}, want: `client "a": SubjectTokenTTL 1h0m1s exceeds the subject token cap 1h0m0s`},
		{name: "access token over the default cap", client: store.Client{ID: "a", AccessTokenTTL: 25 * time.Hour}, want: `client "a": AccessTokenTTL 25h0m0s exceeds the access token cap 24h0m0s`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := caps.Check(&tc.client)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, impersonation.ErrConfiguration)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestLimits_NewRefusesLifetimesAboveTheCaps(t *testing.T) {
	t.Parallel()
	db := memory.New()
	keys, err := memory.GenerateKeySet(store.ES256)
	require.NoError(t, err)
	stores := impersonation.Stores{Clients: db, Users: db, Organizations: db, Grants: db, OneTimeUse: db, Keys: keys}
	tests := []struct {
		name string
		opts []impersonation.Option
		is   error
	}{
		{name: "access token default above its cap", opts: []impersonation.Option{
			impersonation.WithLifetimeCaps(impersonation.LifetimeCaps{AccessToken: time.Hour}), impersonation.WithAccessTokenTTL(2 * time.Hour),
		}, is: impersonation.ErrConfiguration},
		{name: "access token default above the ceiling", opts: []impersonation.Option{impersonation.WithAccessTokenTTL(25 * time.Hour)}, is: impersonation.ErrConfiguration},
		{name: "ID token default above its cap", opts: []impersonation.Option{impersonation.WithIDTokenTTL(2 * time.Hour)}, is: impersonation.ErrConfiguration},
		{name: "a cap above the ceiling", opts: []impersonation.Option{
			impersonation.WithLifetimeCaps(impersonation.LifetimeCaps{SubjectToken: 25 * time.Hour}),
		}},
		{name: "a negative cap", opts: []impersonation.Option{
			impersonation.WithLifetimeCaps(impersonation.LifetimeCaps{IDToken: -time.Second}),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc, err := impersonation.New(testIssuer, stores, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, svc)
			if tc.is != nil {
				assert.True(t, errors.Is(err, tc.is), "%v", err)
			}
		})
	}
}

// TestLimits_ClientLifetimeAboveTheCapIsRefusedAtASessionSignIn: a sign-in
// through an impersonation session to a client above the cap mints
// nothing and matches ErrConfiguration.
func TestLimits_ClientLifetimeAboveTheCapIsRefusedAtASessionSignIn(t *testing.T) {
	t.Parallel()
	f := newSessionFixture(t)
	f.startSession(t, sessReason)
	f.updateClient(t, app2ID, func(c *store.Client) { c.AccessTokenTTL = 25 * time.Hour })
	tok, err := f.svc.Sessions().Issue(context.Background(), f.sessSignIn(app2ID, sessLogin))
	require.ErrorIs(t, err, impersonation.ErrConfiguration)
	assert.Nil(t, tok, "nothing issued")
	assert.Contains(t, err.Error(), `client "app2": AccessTokenTTL 25h0m0s exceeds the access token cap 24h0m0s`)
}
