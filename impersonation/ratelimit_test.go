package impersonation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/impersonation"
	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string, int, time.Duration) (bool, error) {
	return false, errors.New("redis: connection refused")
}

func TestAuthorize_StartLimitPerImpersonator(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	start := func(impersonator, subject string) error {
		_, err := f.svc.Authorize(ctx, f.parseAuthorize(t, authorizeValues(appID, subject)), impersonation.Login{UserID: impersonator, AuthTime: f.clock.Now()})
		return err
	}
	for i := range impersonation.DefaultStartLimit {
		require.NoError(t, start("alice", "bob"), "start %d", i+1)
	}
	before := len(f.db.Events())
	err := start("alice", "bob")
	var se *subjecttoken.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, subjecttoken.ErrTemporarilyUnavailable.Code, se.Code)
	assert.Contains(t, se.Description, "slow down")
	assert.True(t, se.Redirectable(), "the client learns it, in its response mode")
	e := testkit.RequireOneEvent(t, testkit.EventsSince(f.db.Events(), before), store.EventImpersonationDenied, store.OutcomeDenied, "")
	assert.Equal(t, string(impersonation.ReasonRateLimited), e.Reason)
	assert.Equal(t, "alice", e.Impersonator)

	// Denied attempts count too: probing for impersonable users is limited.
	assert.Error(t, start("alice", "carol"))

	require.NoError(t, start("eve-eu-admin", "bob"), "another impersonator has their own budget")

	f.clock.Advance(impersonation.DefaultStartWindow)
	assert.NoError(t, start("alice", "bob"), "a new window")
}

func TestAuthorize_StartLimitConfigurable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opt      func(f *fixture) impersonation.Option
		allowed  int
		wantCode string
	}{
		{name: "shared limiter of 2 per hour", opt: func(f *fixture) impersonation.Option {
			return impersonation.WithStartLimit(f.db, 2, time.Hour)
		}, allowed: 2, wantCode: subjecttoken.ErrTemporarilyUnavailable.Code},
		{name: "off", opt: func(*fixture) impersonation.Option { return impersonation.WithStartLimit(nil, 0, 0) }, allowed: 25},
		{name: "limiter down fails closed", opt: func(*fixture) impersonation.Option {
			return impersonation.WithStartLimit(failingLimiter{}, 5, time.Minute)
		}, allowed: 0, wantCode: subjecttoken.ErrTemporarilyUnavailable.Code},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			svc, err := impersonation.New(testIssuer, impersonation.Stores{
				Clients: f.db, Users: f.db, Organizations: f.db, Grants: f.db, OneTimeUse: f.db, Keys: f.keys,
			}, impersonation.WithClock(f.clock.Now), impersonation.WithAuditor(f.db), tc.opt(f))
			require.NoError(t, err)
			for i := range tc.allowed {
				_, err := svc.Authorize(context.Background(), f.parseAuthorize(t, authorizeValues(appID, "bob")), impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
				require.NoError(t, err, "start %d", i+1)
			}
			if tc.wantCode == "" {
				return
			}
			resp, err := svc.Authorize(context.Background(), f.parseAuthorize(t, authorizeValues(appID, "bob")), impersonation.Login{UserID: "alice", AuthTime: f.clock.Now()})
			assert.Nil(t, resp, "nothing issued")
			var se *subjecttoken.Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.wantCode, se.Code)
			testkit.AssertNoLeak(t, se.Description, "redis", "connection refused")
		})
	}
}

func TestNew_StartLimitNeedsAWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := impersonation.New(testIssuer, impersonation.Stores{
		Clients: f.db, Users: f.db, Organizations: f.db, Grants: f.db, OneTimeUse: f.db, Keys: f.keys,
	}, impersonation.WithStartLimit(nil, 5, 0))
	assert.Error(t, err)
}
