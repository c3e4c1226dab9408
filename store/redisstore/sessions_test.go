package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/redisstore"
)

// secretLogin and every field of testSession hold "SECRET", which no error
// text may contain: the library copies error text into audit records.
const secretLogin = "login-session-SECRET-4711"

func testSession(now time.Time, life time.Duration) store.ImpersonationSession {
	return store.ImpersonationSession{
		ID: "isid-SECRET-1", LoginSession: secretLogin, Impersonator: "alice-SECRET", Subject: "bob-SECRET",
		ClientID: "app-SECRET", Org: "acme-SECRET", Reason: "ticket SECRET 4711",
		Started: now, Expires: now.Add(life),
		StartTokenID: "jti-SECRET", StartTokenExpiry: now.Add(time.Hour),
	}
}

// assertNoSessionData checks that err says nothing of a session.
func assertNoSessionData(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	if assert.Error(t, err, msgAndArgs...) {
		assert.NotContains(t, err.Error(), "SECRET", msgAndArgs...)
	}
}

// requireSessionError checks that err is a session error of the Store that
// says nothing of a session.
func requireSessionError(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	assert.ErrorContains(t, err, "redisstore: session: ", msgAndArgs...)
	assertNoSessionData(t, err, msgAndArgs...)
}

// assertSameSession compares got with want: times as instants, returned in
// UTC, and every other field exactly.
func assertSameSession(t testing.TB, want store.ImpersonationSession, got *store.ImpersonationSession) {
	t.Helper()
	require.NotNil(t, got)
	for name, p := range map[string][2]time.Time{
		"Started":          {want.Started, got.Started},
		"Expires":          {want.Expires, got.Expires},
		"StartTokenExpiry": {want.StartTokenExpiry, got.StartTokenExpiry},
	} {
		assert.True(t, p[0].Equal(p[1]), "%s: want %s, got %s", name, p[0], p[1])
		assert.Equal(t, time.UTC, p[1].Location(), "%s in UTC", name)
	}
	g := *got
	g.Started, g.Expires, g.StartTokenExpiry = want.Started, want.Expires, want.StartTokenExpiry
	assert.Equal(t, want, g)
}

// TestSessionSharedAcrossInstances: two instances, each with its own
// client, see one impersonation session: started on one, read, replaced
// and ended on either.
func TestSessionSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	prefix, a, b := twoInstances(t)
	ctx := context.Background()
	key := prefix + "session:" + secretLogin

	sess := testSession(time.Now(), 2*time.Hour)
	require.NoError(t, a.PutSession(ctx, sess))
	got, err := b.SessionFor(ctx, secretLogin)
	require.NoError(t, err, "a session put on A is read on B")
	assertSameSession(t, sess, got)

	// Replaced through B by a session that ends sooner: the new value and
	// its shorter TTL replace the old ones.
	next := testSession(time.Now(), 10*time.Minute)
	next.ID, next.Subject, next.Reason = "isid-SECRET-2", "carol-SECRET", ""
	require.NoError(t, b.PutSession(ctx, next))
	got, err = a.SessionFor(ctx, secretLogin)
	require.NoError(t, err)
	assertSameSession(t, next, got)
	ttl := pttl(t, c, key)
	assert.LessOrEqual(t, ttl, 10*time.Minute, "the replacement's TTL")
	assert.Greater(t, ttl, 9*time.Minute)

	_, err = a.SessionFor(ctx, "another-login-SECRET")
	require.ErrorIs(t, err, store.ErrNotFound, "login sessions are independent")
	assertNoSessionData(t, err)

	require.NoError(t, a.DeleteSession(ctx, secretLogin))
	_, err = b.SessionFor(ctx, secretLogin)
	require.ErrorIs(t, err, store.ErrNotFound, "deleted on A, gone on B")
	assert.ErrorContains(t, err, "redisstore: session: ")
	assertNoSessionData(t, err)
	assert.NoError(t, b.DeleteSession(ctx, secretLogin), "deleting nothing is no error")
}

// TestSessionGoneAfterExpiry: on real time, Redis drops the session at its
// expiry.
func TestSessionGoneAfterExpiry(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	prefix, a, b := twoInstances(t)
	ctx := context.Background()
	const life = 1500 * time.Millisecond

	start := time.Now()
	require.NoError(t, a.PutSession(ctx, testSession(start, life)))
	_, err := b.SessionFor(ctx, secretLogin)
	require.NoError(t, err, "alive before its expiry")

	deadline := start.Add(life + 10*time.Second)
	for {
		_, err := b.SessionFor(ctx, secretLogin)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		require.NoError(t, err)
		require.True(t, time.Now().Before(deadline), "the session still lives 10 s after its expiry")
		time.Sleep(50 * time.Millisecond)
	}
	assert.False(t, time.Now().Before(start.Add(life-100*time.Millisecond)), "not gone long before its expiry")
	for {
		if exists(t, c, prefix+"session:"+secretLogin) == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "Redis still holds the key 10 s after its expiry")
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSessionKeyAndValue pins the key and the JSON form of a session, which
// are part of the API.
func TestSessionKeyAndValue(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c, prefix, s := newFixture(t, fixedClock(now))
	ctx := context.Background()

	// Times in another zone, with nanoseconds: stored in UTC, to the
	// nanosecond.
	started := now.Add(123456789 * time.Nanosecond).In(time.FixedZone("CET", 3600))
	sess := store.ImpersonationSession{
		ID: "isid-1", LoginSession: "login-1", Impersonator: "alice", Subject: "bob", ClientID: "app",
		Org: "acme-eu", Reason: "ticket 4711 — ünïcode", Started: started,
		Expires: started.Add(90*time.Minute + 250*time.Millisecond), StartTokenID: "jti-1",
		StartTokenExpiry: started.Add(time.Hour),
	}
	require.NoError(t, s.PutSession(ctx, sess))

	key := prefix + "session:login-1"
	ttl := pttl(t, c, key)
	want := 90*time.Minute + 373*time.Millisecond // Expires − now, truncated to milliseconds
	assert.LessOrEqual(t, ttl, want, "TTL is Expires minus now, in milliseconds")
	assert.Greater(t, ttl, want-5*time.Second)

	raw, err := c.Get(ctx, key).Bytes()
	require.NoError(t, err)
	var value map[string]any
	require.NoError(t, json.Unmarshal(raw, &value), "%s", raw)
	assert.Equal(t, map[string]any{
		"id": "isid-1", "login_session": "login-1", "impersonator": "alice", "subject": "bob",
		"client_id": "app", "org": "acme-eu", "reason": "ticket 4711 — ünïcode",
		"started":            "2030-01-02T03:04:05.123456789Z",
		"expires":            "2030-01-02T04:34:05.373456789Z",
		"start_token_id":     "jti-1",
		"start_token_expiry": "2030-01-02T04:04:05.123456789Z",
	}, value)

	got, err := s.SessionFor(ctx, "login-1")
	require.NoError(t, err)
	assertSameSession(t, sess, got)
}

// TestSessionPastExpiryStoresNothing: a session whose expiry has passed on
// the Store's clock is not stored, and ends the one its login session had.
func TestSessionPastExpiryStoresNothing(t *testing.T) {
	t.Parallel()
	now := time.Now()
	c, prefix, s := newFixture(t, fixedClock(now))
	ctx := context.Background()
	key := prefix + "session:" + secretLogin

	for name, life := range map[string]time.Duration{
		"expired a second ago":    -time.Second,
		"expires now":             0,
		"less than a millisecond": 500 * time.Microsecond,
	} {
		require.NoError(t, s.PutSession(ctx, testSession(now, time.Hour)), name)
		require.NoError(t, s.PutSession(ctx, testSession(now, life)), name)
		assert.Zero(t, exists(t, c, key), "%s: nothing stored, the old session deleted", name)
		_, err := s.SessionFor(ctx, secretLogin)
		assert.ErrorIs(t, err, store.ErrNotFound, name)
	}

	require.NoError(t, s.PutSession(ctx, testSession(now, time.Millisecond)))
	assert.Equal(t, int64(1), exists(t, c, key), "a millisecond is stored")
}

// TestSessionExpiredOnStoreClock: a session still in Redis is gone once
// its expiry has passed on the Store's clock.
func TestSessionExpiredOnStoreClock(t *testing.T) {
	t.Parallel()
	clk := testkit.NewClockAt(time.Now())
	c, prefix, s := newFixture(t, redisstore.WithClock(clk.Now))
	ctx := context.Background()
	require.NoError(t, s.PutSession(ctx, testSession(clk.Now(), time.Hour)))

	clk.Advance(time.Hour)
	_, err := s.SessionFor(ctx, secretLogin)
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.Equal(t, int64(1), exists(t, c, prefix+"session:"+secretLogin), "Redis, on real time, still holds it")
}

// TestSessionPutRefusesWhatItCannotStoreFaithfully: a session without an ID
// or login session, with a field that is not UTF-8 (which JSON would
// alter) or with a time JSON cannot hold is refused, and changes nothing.
func TestSessionPutRefusesWhatItCannotStoreFaithfully(t *testing.T) {
	t.Parallel()
	c, prefix, s := newFixture(t)
	ctx := context.Background()
	orig := testSession(time.Now(), time.Hour)
	require.NoError(t, s.PutSession(ctx, orig))

	tests := map[string]func(*store.ImpersonationSession){
		"no ID":            func(s *store.ImpersonationSession) { s.ID = "" },
		"no login session": func(s *store.ImpersonationSession) { s.LoginSession = "" },
		"reason not UTF-8": func(s *store.ImpersonationSession) { s.Reason = "SECRET \xff\xfe" },
		"subject not UTF-8": func(s *store.ImpersonationSession) {
			s.Subject = "bob-SECRET\xc3"
		},
		"start token expiry after year 9999": func(s *store.ImpersonationSession) {
			s.StartTokenExpiry = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		},
	}
	for name, change := range tests {
		bad := testSession(time.Now(), 2*time.Hour)
		bad.Subject = "mallory-SECRET"
		change(&bad)
		requireSessionError(t, s.PutSession(ctx, bad), name)
	}
	keys, err := c.Keys(ctx, prefix+"*").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{prefix + "session:" + secretLogin}, keys, "nothing else written")
	got, err := s.SessionFor(ctx, secretLogin)
	require.NoError(t, err)
	assertSameSession(t, orig, got)
}

// TestSessionCorruptValueIsAnError: a value at a session key that is not a
// session of that login session is an error, not "no session", and the
// error holds nothing of the value or the login session.
func TestSessionCorruptValueIsAnError(t *testing.T) {
	t.Parallel()
	c, prefix, s := newFixture(t)
	ctx := context.Background()
	key := prefix + "session:" + secretLogin

	tests := map[string]func() error{
		"not JSON": func() error { return c.Set(ctx, key, "SECRET not json", time.Minute).Err() },
		"a time that does not parse": func() error {
			return c.Set(ctx, key, `{"id":"isid-SECRET","login_session":"`+secretLogin+`","expires":"SECRET"}`, time.Minute).Err()
		},
		"a field of another type": func() error {
			return c.Set(ctx, key, `{"id":"isid-SECRET","login_session":"`+secretLogin+`","subject":["SECRET"]}`, time.Minute).Err()
		},
		"no ID": func() error {
			return c.Set(ctx, key, `{"login_session":"`+secretLogin+`","subject":"SECRET"}`, time.Minute).Err()
		},
		"another login session's": func() error {
			return c.Set(ctx, key, `{"id":"isid-SECRET","login_session":"other-SECRET"}`, time.Minute).Err()
		},
		"not a string (WRONGTYPE)": func() error {
			if err := c.Del(ctx, key).Err(); err != nil {
				return err
			}
			return c.RPush(ctx, key, "SECRET").Err()
		},
	}
	for name, write := range tests {
		require.NoError(t, write(), name)
		sess, err := s.SessionFor(ctx, secretLogin)
		assert.Nil(t, sess, name)
		requireSessionError(t, err, name)
		assert.NotErrorIs(t, err, store.ErrNotFound, "%s: a broken value is not \"no session\"", name)
	}
	require.NoError(t, s.DeleteSession(ctx, secretLogin), "a broken value can be deleted")
	require.NoError(t, s.PutSession(ctx, testSession(time.Now(), time.Hour)))
	_, err := s.SessionFor(ctx, secretLogin)
	assert.NoError(t, err)
}

// TestSessionFailClosedOnDeadPort: with nothing listening, every session
// method fails, SessionFor never reports "no session", and no error holds
// session data.
func TestSessionFailClosedOnDeadPort(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: deadAddr(t)})
	t.Cleanup(func() { _ = c.Close() })
	s := newStore(t, c, "actastest:", redisstore.WithTimeout(300*time.Millisecond))
	ctx := context.Background()

	t.Run("PutSession", func(t *testing.T) {
		requireSessionError(t, s.PutSession(ctx, testSession(time.Now(), time.Hour)))
	})
	t.Run("PutSession past expiry", func(t *testing.T) {
		requireSessionError(t, s.PutSession(ctx, testSession(time.Now(), -time.Second)), "the old session could not be deleted")
	})
	t.Run("SessionFor", func(t *testing.T) {
		sess, err := s.SessionFor(ctx, secretLogin)
		assert.Nil(t, sess)
		requireSessionError(t, err)
		assert.NotErrorIs(t, err, store.ErrNotFound, "an unreachable store is not \"no session\"")
	})
	t.Run("DeleteSession", func(t *testing.T) {
		requireSessionError(t, s.DeleteSession(ctx, secretLogin))
	})
}
