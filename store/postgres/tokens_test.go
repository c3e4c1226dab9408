package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
		var wins, replays atomic.Int32
		var wg sync.WaitGroup
		for i := range 50 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				switch err := s.Use(context.Background(), jti, exp); {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, store.ErrAlreadyUsed):
					replays.Add(1)
				default:
					t.Errorf("Use: %v", err)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int32(1), wins.Load(), "round %d", round)
		assert.Equal(t, int32(49), replays.Load(), "round %d", round)
	}
}

func TestUseExpiryFollowsTheInjectedClock(t *testing.T) {
	t.Parallel()
	c := newClock()
	s := newStore(t, connect(t), postgres.WithClock(c.Now))
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
	revoked, err := b.Revoked(ctx, "at-1")
	require.NoError(t, err)
	assert.True(t, revoked, "a revocation on instance A is seen on instance B")

	require.NoError(t, b.Revoke(ctx, "at-1", c.Now().Add(time.Minute)), "a shorter second revocation")
	c.Advance(30 * time.Minute)
	revoked, err = a.Revoked(ctx, "at-1")
	require.NoError(t, err)
	assert.True(t, revoked, "a second revocation never shortens the first")
	c.Advance(30 * time.Minute)
	revoked, err = a.Revoked(ctx, "at-1")
	require.NoError(t, err)
	assert.False(t, revoked, "forgotten after its expiry")

	require.NoError(t, a.Revoke(ctx, "at-1", c.Now().Add(time.Minute)), "an expired revocation can be renewed")
	revoked, err = b.Revoked(ctx, "at-1")
	require.NoError(t, err)
	assert.True(t, revoked)
}

func TestRateLimitIsSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	c := newClock()
	a, b, _, _ := twoInstances(t, postgres.WithClock(c.Now))
	ctx := context.Background()
	per := time.Minute
	c.Advance(c.Now().Truncate(per).Add(per).Sub(c.Now())) // the start of a window

	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			ok, err := s.Allow(ctx, "alice", 7, per)
			if err != nil {
				t.Errorf("Allow: %v", err)
			}
			if ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
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
	c := newClock()
	pool := connect(t)
	s := newStore(t, pool, postgres.WithClock(c.Now))
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
	assert.Equal(t, 5, count(t, pool, s.Schema(), "used_jti"))
	assert.Equal(t, 5, count(t, pool, s.Schema(), "revoked"))
	assert.Equal(t, 5, count(t, pool, s.Schema(), "rate_limits"))
	assert.Equal(t, 5, count(t, pool, s.Schema(), "impersonation_sessions"))

	assert.ErrorIs(t, s.Use(ctx, "jti-0", c.Now().Add(time.Hour)), store.ErrAlreadyUsed, "live rows are kept")
	revoked, err := s.Revoked(ctx, "at-0")
	require.NoError(t, err)
	assert.True(t, revoked)
	sess, err := s.SessionFor(ctx, "login-0")
	require.NoError(t, err, "a live session is kept")
	assert.Equal(t, "isid-login-0", sess.ID)

	n, err = s.Sweep(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing left to sweep")
}

func TestExpiredRowsAreDeletedAsTheStoreWrites(t *testing.T) {
	t.Parallel()
	c := newClock()
	pool := connect(t)
	s := newStore(t, pool, postgres.WithClock(c.Now))
	ctx := context.Background()
	// 1000 one-time uses, each living one second, one a second: about
	// one row is live at a time.
	for i := range 1000 {
		require.NoError(t, s.Use(ctx, fmt.Sprint("jti-", i), c.Now().Add(time.Second)))
		c.Advance(time.Second)
	}
	assert.LessOrEqual(t, count(t, pool, s.Schema(), "used_jti"), 300, "the table stays bounded without Sweep")
}
