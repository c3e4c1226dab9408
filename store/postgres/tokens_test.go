package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/postgres"
)

// twoInstances returns two migrated Stores on one schema through two
// separate pools: two identity-server instances sharing one database.
func twoInstances(t *testing.T, opts ...postgres.Option) (a, b *postgres.Store, pool *pgxpool.Pool, schema string) {
	t.Helper()
	poolA, poolB := connect(t), connect(t)
	schema = newSchema(t, poolA)
	opts = append([]postgres.Option{postgres.WithSchema(schema)}, opts...)
	a, err := postgres.New(poolA, opts...)
	require.NoError(t, err)
	b, err = postgres.New(poolB, opts...)
	require.NoError(t, err)
	require.NoError(t, a.Migrate(context.Background()))
	return a, b, poolA, schema
}

func TestUseConcurrentlyOnTwoInstancesExactlyOneWins(t *testing.T) {
	t.Parallel()
	a, b, _, _ := twoInstances(t)
	exp := time.Now().Add(time.Hour)
	for round := range 3 {
		jti := fmt.Sprint("jti-", round)
		errs := make([]error, 50)
		testkit.Alternate(len(errs), a, b, func(i int, s *postgres.Store) {
			errs[i] = s.Use(context.Background(), jti, exp)
		})
		testkit.AssertOneWinner(t, errs, store.ErrAlreadyUsed, "round %d: one wins, 49 are replays", round)
	}
}

func TestUseExpiryFollowsTheInjectedClock(t *testing.T) {
	t.Parallel()
	c, _, s := clockedStore(t)
	ctx := context.Background()
	exp := c.Now().Add(time.Minute)
	require.NoError(t, s.Use(ctx, "jti", exp))
	c.Advance(time.Minute - time.Microsecond)
	assert.ErrorIs(t, s.Use(ctx, "jti", exp), store.ErrAlreadyUsed, "held until its expiry")
	c.Advance(time.Microsecond)
	assert.NoError(t, s.Use(ctx, "jti", c.Now().Add(time.Minute)), "free at its expiry")
	assert.ErrorIs(t, s.Use(ctx, "jti", c.Now().Add(time.Minute)), store.ErrAlreadyUsed)
}

func TestRevocationIsSharedAndKeepsTheLaterExpiry(t *testing.T) {
	t.Parallel()
	c := newClock()
	a, b, _, _ := twoInstances(t, postgres.WithClock(c.Now))
	ctx := context.Background()
	require.NoError(t, a.Revoke(ctx, "at-1", c.Now().Add(time.Hour)))
	assertRevoked(t, b, "at-1", true, "a revocation on instance A is seen on instance B")

	require.NoError(t, b.Revoke(ctx, "at-1", c.Now().Add(time.Minute)), "a shorter second revocation")
	c.Advance(30 * time.Minute)
	assertRevoked(t, a, "at-1", true, "a second revocation never shortens the first")
	c.Advance(30 * time.Minute)
	assertRevoked(t, a, "at-1", false, "forgotten after its expiry")

	require.NoError(t, a.Revoke(ctx, "at-1", c.Now().Add(time.Minute)), "an expired revocation can be renewed")
	assertRevoked(t, b, "at-1", true)
}

func TestRateLimitIsSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	c := newClock()
	a, b, _, _ := twoInstances(t, postgres.WithClock(c.Now))
	ctx := context.Background()
	per := time.Minute
	c.Advance(c.Now().Truncate(per).Add(per).Sub(c.Now())) // the start of a window

	var allowed atomic.Int32
	testkit.Alternate(40, a, b, func(_ int, s *postgres.Store) {
		ok, err := s.Allow(ctx, "alice", 7, per)
		if err != nil {
			t.Errorf("Allow: %v", err)
		}
		if ok {
			allowed.Add(1)
		}
	})
	assert.Equal(t, int32(7), allowed.Load(), "the limit holds across instances")

	c.Advance(per - time.Nanosecond)
	ok, err := a.Allow(ctx, "alice", 7, per)
	require.NoError(t, err)
	assert.False(t, ok, "still the same window")
	c.Advance(time.Nanosecond)
	ok, err = b.Allow(ctx, "alice", 7, per)
	require.NoError(t, err)
	assert.True(t, ok, "a new window")
}

func TestSweepDeletesOnlyExpiredRows(t *testing.T) {
	t.Parallel()
	c, pool, s := clockedStore(t)
	ctx := context.Background()
	for i := range 10 {
		life := time.Minute
		if i%2 == 0 {
			life = time.Hour
		}
		require.NoError(t, s.Use(ctx, fmt.Sprint("jti-", i), c.Now().Add(life)))
		require.NoError(t, s.Revoke(ctx, fmt.Sprint("at-", i), c.Now().Add(life)))
		_, err := s.Allow(ctx, fmt.Sprint("key-", i), 1, life)
		require.NoError(t, err)
		require.NoError(t, s.PutSession(ctx, sampleSession(c.Now(), fmt.Sprint("login-", i), life)))
	}
	c.Advance(2 * time.Minute)
	n, err := s.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(20), n)
	for _, table := range []string{"used_jti", "revoked", "rate_limits", "impersonation_sessions"} {
		assert.Equal(t, 5, count(t, pool, s.Schema(), table), table)
	}

	assert.ErrorIs(t, s.Use(ctx, "jti-0", c.Now().Add(time.Hour)), store.ErrAlreadyUsed, "live rows are kept")
	assertRevoked(t, s, "at-0", true)
	sess, err := s.SessionFor(ctx, "login-0")
	require.NoError(t, err, "a live session is kept")
	assert.Equal(t, "isid-login-0", sess.ID)

	n, err = s.Sweep(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing left to sweep")
}

// assertStaysBounded writes 1000 rows through write, each living one
// second, one a second (about one row is live at a time), and checks that
// table stays bounded without Sweep.
func assertStaysBounded(t *testing.T, table string, write func(s *postgres.Store, now time.Time, i int) error) {
	t.Helper()
	c, pool, s := clockedStore(t)
	for i := range 1000 {
		require.NoError(t, write(s, c.Now(), i))
		c.Advance(time.Second)
	}
	assert.LessOrEqual(t, count(t, pool, s.Schema(), table), 300, "the table stays bounded without Sweep")
}

func TestExpiredRowsAreDeletedAsTheStoreWrites(t *testing.T) {
	t.Parallel()
	assertStaysBounded(t, "used_jti", func(s *postgres.Store, now time.Time, i int) error {
		return s.Use(context.Background(), fmt.Sprint("jti-", i), now.Add(time.Second))
	})
}
