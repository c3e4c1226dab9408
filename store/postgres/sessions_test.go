package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/postgres"
)

// sampleSession is a session of login with every field set, started at
// now and living for life. Its times keep now's nanoseconds.
func sampleSession(now time.Time, login string, life time.Duration) store.ImpersonationSession {
	return store.ImpersonationSession{
		ID: "isid-" + login, LoginSession: login, Impersonator: "alice", Subject: "bob", ClientID: "app",
		Org: "acme-eu", Reason: "ticket 4711", Started: now, Expires: now.Add(life),
		StartTokenID: "jti-" + login, StartTokenExpiry: now.Add(15 * time.Minute),
	}
}

// stored is sess as the Store gives it back: times in UTC, to the
// microsecond, rounded down.
func stored(sess store.ImpersonationSession) store.ImpersonationSession {
	r := func(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }
	sess.Started, sess.Expires, sess.StartTokenExpiry = r(sess.Started), r(sess.Expires), r(sess.StartTokenExpiry)
	return sess
}

// sessionOf returns the session of login through s, failing the test on
// any error but "not found" (then nil).
func sessionOf(t *testing.T, s *postgres.Store, login string) *store.ImpersonationSession {
	t.Helper()
	got, err := s.SessionFor(context.Background(), login)
	if err != nil {
		require.ErrorIs(t, err, store.ErrNotFound)
		assert.Nil(t, got)
		return nil
	}
	require.NotNil(t, got)
	return got
}

func TestSessionsAreSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	c := newClock()
	a, b, pool, schema := twoInstances(t, postgres.WithClock(c.Now))
	ctx := context.Background()
	const login = "3f1c9a-login-session-hash"

	assert.Nil(t, sessionOf(t, b, login), "no session yet")
	first := sampleSession(c.Now(), login, time.Hour)
	require.NoError(t, a.PutSession(ctx, first))
	got := sessionOf(t, b, login)
	require.NotNil(t, got, "a session put through instance A is found through instance B")
	assert.Equal(t, stored(first), *got)

	second := sampleSession(c.Now().Add(time.Second), login, 2*time.Hour)
	second.ID, second.Subject, second.Reason, second.StartTokenID = "isid-2", "carol", "", "jti-2"
	require.NoError(t, b.PutSession(ctx, second))
	got = sessionOf(t, a, login)
	require.NotNil(t, got)
	assert.Equal(t, stored(second), *got, "replaced through B, seen through A")
	assert.Equal(t, 1, count(t, pool, schema, "impersonation_sessions"), "one row per login session")

	assert.Nil(t, sessionOf(t, a, login+"-other"), "login sessions are independent")

	require.NoError(t, a.DeleteSession(ctx, login))
	assert.Nil(t, sessionOf(t, b, login), "deleted through A, gone through B")
	assert.NoError(t, b.DeleteSession(ctx, login), "deleting nothing is no error")
	assert.Zero(t, count(t, pool, schema, "impersonation_sessions"))
}

func TestSessionExpiryFollowsTheInjectedClock(t *testing.T) {
	t.Parallel()
	c := newClock() // with nanoseconds below the microsecond
	a, b, _, _ := twoInstances(t, postgres.WithClock(c.Now))
	ctx := context.Background()

	sess := sampleSession(c.Now(), "login", time.Minute)
	require.NoError(t, a.PutSession(ctx, sess))
	c.Advance(time.Minute - time.Microsecond)
	assert.NotNil(t, sessionOf(t, b, "login"), "live until its expiry")
	c.Advance(time.Microsecond)
	assert.Nil(t, sessionOf(t, b, "login"), "gone at its expiry")
	assert.Nil(t, sessionOf(t, a, "login"))

	// An expired row is replaced like a live one.
	renewed := sampleSession(c.Now(), "login", time.Minute)
	renewed.ID = "isid-renewed"
	require.NoError(t, b.PutSession(ctx, renewed))
	got := sessionOf(t, a, "login")
	require.NotNil(t, got)
	assert.Equal(t, "isid-renewed", got.ID)

	// A session put already expired is never returned, and replaces the
	// live one.
	require.NoError(t, a.PutSession(ctx, sampleSession(c.Now().Add(-time.Hour), "login", time.Minute)))
	assert.Nil(t, sessionOf(t, b, "login"))

	// Expiry is the Store's clock, not the database's: a session that
	// expired in the real past is live while the clock says so.
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	past := testkit.NewClockAt(old)
	s := newStore(t, connect(t), postgres.WithClock(past.Now))
	require.NoError(t, s.PutSession(ctx, sampleSession(old, "login", time.Minute)))
	assert.NotNil(t, sessionOf(t, s, "login"), "2001 on the Store's clock")
}

func TestSessionRoundTripsEveryField(t *testing.T) {
	t.Parallel()
	s := newStore(t, connect(t))
	cest := time.FixedZone("CEST", 2*3600)
	tests := []struct {
		name string
		sess store.ImpersonationSession
	}{
		{name: "every field", sess: sampleSession(time.Now().Add(time.Hour), "full", time.Hour)},
		{name: "only ID and login session", sess: store.ImpersonationSession{
			ID: "isid", LoginSession: "bare", Expires: time.Now().Add(time.Hour),
		}},
		{name: "unicode, quotes and another zone", sess: store.ImpersonationSession{
			ID: "isid-ü", LoginSession: "ログイン'; DROP TABLE x; --", Impersonator: "Zoë", Subject: `"bob"`,
			ClientID: "app\tb", Org: "acme-€", Reason: "ticket\n4711 — urgent 🚨", StartTokenID: `\x00`,
			Started:          time.Date(2030, 5, 6, 7, 8, 9, 999999999, cest),
			Expires:          time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			StartTokenExpiry: time.Date(0, 1, 1, 0, 0, 0, 1, time.UTC),
		}},
		{name: "long values", sess: store.ImpersonationSession{
			ID: strings.Repeat("i", 4096), LoginSession: strings.Repeat("l", 2000),
			Reason: strings.Repeat("r", 100000), Expires: time.Now().Add(time.Hour),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, s.PutSession(context.Background(), tc.sess))
			got := sessionOf(t, s, tc.sess.LoginSession)
			require.NotNil(t, got)
			assert.Equal(t, stored(tc.sess), *got)
			assert.Equal(t, time.UTC, got.Expires.Location())
		})
	}
}

func TestPutSessionRefusesWhatItCannotStore(t *testing.T) {
	t.Parallel()
	pool := connect(t)
	s := newStore(t, pool)
	ctx := context.Background()
	const secret = "secret-login-session-hash"
	valid := sampleSession(time.Now(), secret, time.Hour)
	mutate := func(f func(*store.ImpersonationSession)) store.ImpersonationSession {
		sess := valid
		f(&sess)
		return sess
	}
	tests := map[string]store.ImpersonationSession{
		"no ID":                       mutate(func(s *store.ImpersonationSession) { s.ID = "" }),
		"no login session":            mutate(func(s *store.ImpersonationSession) { s.LoginSession = "" }),
		"login session not UTF-8":     mutate(func(s *store.ImpersonationSession) { s.LoginSession = "\xf0" + secret }),
		"login session with NUL":      mutate(func(s *store.ImpersonationSession) { s.LoginSession = secret + "\x00" }),
		"ID not UTF-8":                mutate(func(s *store.ImpersonationSession) { s.ID = "\xc3" + secret }),
		"impersonator not UTF-8":      mutate(func(s *store.ImpersonationSession) { s.Impersonator = "\xe2" + secret }),
		"subject with NUL":            mutate(func(s *store.ImpersonationSession) { s.Subject = "\x00" + secret }),
		"client not UTF-8":            mutate(func(s *store.ImpersonationSession) { s.ClientID = secret + "\xfe" }),
		"org with NUL":                mutate(func(s *store.ImpersonationSession) { s.Org = "\x00" + secret }),
		"reason not UTF-8":            mutate(func(s *store.ImpersonationSession) { s.Reason = secret + "\xed\xa0\x80" }),
		"start token ID with NUL":     mutate(func(s *store.ImpersonationSession) { s.StartTokenID = "\xf4" + secret }),
		"expires after 9999":          mutate(func(s *store.ImpersonationSession) { s.Expires = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }),
		"started before year 0":       mutate(func(s *store.ImpersonationSession) { s.Started = time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC) }),
		"start token expiry far away": mutate(func(s *store.ImpersonationSession) { s.StartTokenExpiry = time.Unix(1<<62, 0) }),
	}
	for name, sess := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := s.PutSession(ctx, sess)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "postgres: put session: ")
			assert.NotContains(t, err.Error(), secret, "no session data in the error text")
			// PostgreSQL's own message would quote the bytes around an
			// invalid sequence: refused before any query.
			assert.NotContains(t, err.Error(), "SQLSTATE", "refused by the Store, not the database")
			assert.NotContains(t, err.Error(), "0x")
			assert.NotErrorIs(t, err, store.ErrNotFound)
		})
	}
	assert.Zero(t, count(t, pool, s.Schema(), "impersonation_sessions"), "nothing stored")

	// A login session that cannot be stored has no session and nothing
	// to delete; no query is sent.
	for _, login := range []string{"\xc3" + secret, secret + "\x00"} {
		_, err := s.SessionFor(ctx, login)
		require.ErrorIs(t, err, store.ErrNotFound)
		assert.NotContains(t, err.Error(), secret)
		assert.NoError(t, s.DeleteSession(ctx, login))
	}
}

func TestPutSessionConcurrentlyKeepsOneWholeSession(t *testing.T) {
	t.Parallel()
	c := newClock()
	a, b, pool, schema := twoInstances(t, postgres.WithClock(c.Now))
	ctx := context.Background()
	testkit.Alternate(40, a, b, func(i int, s *postgres.Store) {
		sess := sampleSession(c.Now(), "login", time.Hour)
		sess.ID, sess.Subject, sess.StartTokenID = fmt.Sprint("isid-", i), fmt.Sprint("user-", i), fmt.Sprint("jti-", i)
		if err := s.PutSession(ctx, sess); err != nil {
			t.Errorf("PutSession: %v", err)
		}
	})
	assert.Equal(t, 1, count(t, pool, schema, "impersonation_sessions"))
	got := sessionOf(t, a, "login")
	require.NotNil(t, got)
	n := strings.TrimPrefix(got.ID, "isid-")
	assert.Equal(t, "user-"+n, got.Subject, "one writer's session, not a mix")
	assert.Equal(t, "jti-"+n, got.StartTokenID)
}

func TestExpiredSessionsAreDeletedAsTheStoreWrites(t *testing.T) {
	t.Parallel()
	// 1000 login sessions, each impersonating for one second.
	assertStaysBounded(t, "impersonation_sessions", func(s *postgres.Store, now time.Time, i int) error {
		return s.PutSession(context.Background(), sampleSession(now, fmt.Sprint("login-", i), time.Second))
	})
}
