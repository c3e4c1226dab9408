package redisstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/redisstore"
	"github.com/actas/actas/store/storetest"
)

// redisAddr is the Redis server the tests run against; CI starts it.
const redisAddr = "127.0.0.1:6379"

const startRedis = `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log`

// newClient returns a client of the test server, closed at cleanup. The
// tests need the real server: when it is down they fail, saying how to
// start it, rather than skip.
func newClient(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(t, c.Ping(ctx).Err(), "Redis is not reachable at %s; start it with\n\t%s", redisAddr, startRedis)
	return c
}

// newPrefix returns a key prefix of its own for one test and deletes every
// key under it at cleanup.
func newPrefix(t testing.TB) string {
	t.Helper()
	prefix := "actastest:" + rand.Text() + ":"
	c := newClient(t)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		assert.NoError(t, iter.Err(), "scan for cleanup")
		if len(keys) > 0 {
			assert.NoError(t, c.Del(ctx, keys...).Err(), "cleanup")
		}
	})
	return prefix
}

func newStore(t testing.TB, c redis.UniversalClient, prefix string, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(c, append([]redisstore.Option{redisstore.WithPrefix(prefix)}, opts...)...)
	require.NoError(t, err)
	return s
}

// newFixture returns a client, a key prefix of its own and a Store on
// both.
func newFixture(t testing.TB, opts ...redisstore.Option) (*redis.Client, string, *redisstore.Store) {
	t.Helper()
	c := newClient(t)
	prefix := newPrefix(t)
	return c, prefix, newStore(t, c, prefix, opts...)
}

// twoInstances returns a key prefix and two Stores on it, each on a client
// of its own: two processes' connection pools.
func twoInstances(t testing.TB, opts ...redisstore.Option) (prefix string, a, b *redisstore.Store) {
	t.Helper()
	prefix = newPrefix(t)
	return prefix, newStore(t, newClient(t), prefix, opts...), newStore(t, newClient(t), prefix, opts...)
}

// fixedClock is a Store clock stopped at now.
func fixedClock(now time.Time) redisstore.Option {
	return redisstore.WithClock(testkit.NewClockAt(now).Now)
}

// pttl returns the TTL of key, in milliseconds.
func pttl(t testing.TB, c *redis.Client, key string) time.Duration {
	t.Helper()
	ttl, err := c.PTTL(context.Background(), key).Result()
	require.NoError(t, err, key)
	return ttl
}

// exists returns how many of keys exist.
func exists(t testing.TB, c *redis.Client, keys ...string) int64 {
	t.Helper()
	n, err := c.Exists(context.Background(), keys...).Result()
	require.NoError(t, err, keys)
	return n
}

// assertRevoked checks through s whether id is revoked.
func assertRevoked(t testing.TB, s store.Revocation, id string, want bool, msgAndArgs ...any) {
	t.Helper()
	revoked, err := s.Revoked(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, want, revoked, msgAndArgs...)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	storetest.Run(t, func(t *testing.T) storetest.Instance {
		s := newStore(t, c, newPrefix(t))
		// Advance nil: Redis expires keys on real time.
		return storetest.Instance{Stores: storetest.Stores{OneTimeUse: s, Revocation: s, RateLimiter: s, Sessions: s, SubjectGrants: s}}
	})
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { _ = c.Close() })
	tests := []struct {
		name string
		c    redis.UniversalClient
		opts []redisstore.Option
	}{
		{name: "nil client", c: nil},
		{name: "nil clock", c: c, opts: []redisstore.Option{redisstore.WithClock(nil)}},
		{name: "zero timeout", c: c, opts: []redisstore.Option{redisstore.WithTimeout(0)}},
		{name: "negative timeout", c: c, opts: []redisstore.Option{redisstore.WithTimeout(-time.Second)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := redisstore.New(tc.c, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), "redisstore: ")
		})
	}
}

func TestKeyLayout(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c, prefix, s := newFixture(t, fixedClock(now))
	ctx := context.Background()
	require.NoError(t, s.Use(ctx, "j1", now.Add(time.Minute)))
	require.NoError(t, s.Revoke(ctx, "r1", now.Add(time.Minute)))
	_, err := s.Allow(ctx, "k1", 1, time.Minute)
	require.NoError(t, err)

	start := now.Truncate(time.Minute).UnixMilli()
	for key, maxTTL := range map[string]time.Duration{
		prefix + "jti:j1":     time.Minute,
		prefix + "revoked:r1": time.Minute,
		prefix + "rate:k1:" + strconv.FormatInt(start, 10): 55 * time.Second, // the window ends at 03:05:00
	} {
		ttl := pttl(t, c, key)
		assert.Positive(t, ttl, "%s exists with a TTL", key)
		assert.LessOrEqual(t, ttl, maxTTL, key)
		assert.Greater(t, ttl, maxTTL-5*time.Second, key)
	}
	n, err := c.Get(ctx, prefix+"rate:k1:"+strconv.FormatInt(start, 10)).Int()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// TestOneTimeUseAcrossInstances is the replay test of several instances
// behind one issuer: two Stores on two separate clients (two processes'
// connection pools) race to use one subject token.
func TestOneTimeUseAcrossInstances(t *testing.T) {
	t.Parallel()
	_, a, b := twoInstances(t)
	exp := time.Now().Add(time.Minute)
	errs := make([]error, 50)
	testkit.Alternate(len(errs), a, b, func(i int, s *redisstore.Store) {
		errs[i] = s.Use(context.Background(), "subject-token-1", exp)
	})
	testkit.AssertOneWinner(t, errs, store.ErrAlreadyUsed, "exactly one exchange, every other attempt a replay")
}

func TestRevocationSeenByAnotherInstance(t *testing.T) {
	t.Parallel()
	_, a, b := twoInstances(t)
	require.NoError(t, a.Revoke(context.Background(), "at-1", time.Now().Add(time.Minute)))
	assertRevoked(t, b, "at-1", true)
	assertRevoked(t, b, "at-2", false)
}

func TestRevokeNeverShortensARevocation(t *testing.T) {
	t.Parallel()
	c, prefix, s := newFixture(t)
	ctx := context.Background()
	require.NoError(t, s.Revoke(ctx, "at", time.Now().Add(time.Hour)))
	require.NoError(t, s.Revoke(ctx, "at", time.Now().Add(time.Minute)))
	assert.Greater(t, pttl(t, c, prefix+"revoked:at"), 59*time.Minute, "the longer revocation stays")
	require.NoError(t, s.Revoke(ctx, "at", time.Now().Add(2*time.Hour)))
	assert.Greater(t, pttl(t, c, prefix+"revoked:at"), 119*time.Minute, "a longer one extends it")
}

func TestPastExpiryHoldsNothing(t *testing.T) {
	t.Parallel()
	c, prefix, s := newFixture(t)
	ctx := context.Background()
	past := time.Now().Add(-time.Second)

	require.NoError(t, s.Use(ctx, "old", past), "as in store/memory: nothing to hold")
	require.NoError(t, s.Use(ctx, "old", past))
	assert.Zero(t, exists(t, c, prefix+"jti:old"), "nothing written")

	require.NoError(t, s.Use(ctx, "held", time.Now().Add(time.Minute)))
	assert.ErrorIs(t, s.Use(ctx, "held", past), store.ErrAlreadyUsed, "a held ID stays held whatever exp is passed")

	require.NoError(t, s.Revoke(ctx, "old", past))
	assertRevoked(t, s, "old", false, "an expired token needs no revocation record")
}

func TestRateLimitExactUnderConcurrencyAcrossInstances(t *testing.T) {
	t.Parallel()
	// A fixed clock keeps every call in one window.
	_, a, b := twoInstances(t, fixedClock(time.Now()))
	var allowed atomic.Int32
	testkit.Alternate(60, a, b, func(_ int, s *redisstore.Store) {
		ok, err := s.Allow(context.Background(), "impersonation-start:alice", 7, time.Minute)
		if err != nil {
			t.Errorf("Allow: %v", err)
		}
		if ok {
			allowed.Add(1)
		}
	})
	assert.Equal(t, int32(7), allowed.Load())
}

func TestRateLimitWindows(t *testing.T) {
	t.Parallel()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := testkit.NewClockAt(start)
	s := newStore(t, newClient(t), newPrefix(t), redisstore.WithClock(clk.Now))
	ctx := context.Background()
	tests := []struct {
		name string
		at   time.Duration
		key  string
		per  time.Duration
		want bool
	}{
		{name: "first of the window", at: 0, key: "k", per: 100 * time.Millisecond, want: true},
		{name: "second, at the limit", at: 50 * time.Millisecond, key: "k", per: 100 * time.Millisecond, want: true},
		{name: "third, over the limit", at: 99 * time.Millisecond, key: "k", per: 100 * time.Millisecond, want: false},
		{name: "another key", at: 99 * time.Millisecond, key: "k2", per: 100 * time.Millisecond, want: true},
		{name: "next sub-second window starts afresh", at: 100 * time.Millisecond, key: "k", per: 100 * time.Millisecond, want: true},
	}
	for _, tc := range tests {
		clk.Set(start.Add(tc.at))
		ok, err := s.Allow(ctx, tc.key, 2, tc.per)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, ok, tc.name)
	}

	_, err := s.Allow(ctx, "k", 1, 0)
	assert.ErrorContains(t, err, "redisstore: rate limit: ")
	ok, err := s.Allow(ctx, "zero", 0, time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "a limit of 0 allows nothing")
}

func TestPrefixIsolation(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	a := newStore(t, c, newPrefix(t))
	b := newStore(t, c, newPrefix(t))
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)

	require.NoError(t, a.Use(ctx, "jti", exp))
	assert.NoError(t, b.Use(ctx, "jti", exp), "another prefix has its own used IDs")

	require.NoError(t, a.Revoke(ctx, "at", exp))
	revoked, err := b.Revoked(ctx, "at")
	require.NoError(t, err)
	assert.False(t, revoked, "another prefix has its own revocations")

	fixed := fixedClock(exp)
	a, b = newStore(t, c, newPrefix(t), fixed), newStore(t, c, newPrefix(t), fixed)
	ok, err := a.Allow(ctx, "k", 1, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = b.Allow(ctx, "k", 1, time.Minute)
	require.NoError(t, err)
	assert.True(t, ok, "another prefix has its own counters")
}

// deadAddr returns an address on which nothing listens.
func deadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// hungAddr returns an address that accepts connections and never answers.
func hungAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// ops calls each method once and returns its error, with the result it
// must not be trusted for.
func ops(s *redisstore.Store) map[string]func(ctx context.Context) error {
	exp := time.Now().Add(time.Minute)
	return map[string]func(ctx context.Context) error{
		"Use": func(ctx context.Context) error {
			err := s.Use(ctx, "jti", exp)
			if errors.Is(err, store.ErrAlreadyUsed) {
				return errors.New("an unreachable store reported a replay")
			}
			return err
		},
		"Revoke": func(ctx context.Context) error { return s.Revoke(ctx, "at", exp) },
		"Revoked": func(ctx context.Context) error {
			revoked, err := s.Revoked(ctx, "at")
			if revoked {
				return errors.New("an unreachable store reported a revocation")
			}
			return err
		},
		"Allow": func(ctx context.Context) error {
			ok, err := s.Allow(ctx, "k", 10, time.Minute)
			if ok {
				return errors.New("an unreachable store allowed")
			}
			return err
		},
		"PutSession": func(ctx context.Context) error { return s.PutSession(ctx, testSession(time.Now(), time.Minute)) },
		"SessionFor": func(ctx context.Context) error {
			sess, err := s.SessionFor(ctx, secretLogin)
			if sess != nil {
				return errors.New("an unreachable store returned a session")
			}
			if errors.Is(err, store.ErrNotFound) {
				return errors.New("an unreachable store reported no session")
			}
			return err
		},
		"DeleteSession": func(ctx context.Context) error { return s.DeleteSession(ctx, secretLogin) },
	}
}

func TestFailClosed(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name    string
		options func(t *testing.T) *redis.Options
	}{
		{name: "closed port", options: func(t *testing.T) *redis.Options {
			return &redis.Options{Addr: deadAddr(t)}
		}},
		{name: "server that never answers, client without context timeouts", options: func(t *testing.T) *redis.Options {
			return &redis.Options{Addr: hungAddr(t)}
		}},
		{name: "server that never answers, client with context timeouts", options: func(t *testing.T) *redis.Options {
			return &redis.Options{Addr: hungAddr(t), ContextTimeoutEnabled: true}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := redis.NewClient(tc.options(t))
			t.Cleanup(func() { _ = c.Close() })
			s, err := redisstore.New(c, redisstore.WithTimeout(timeout))
			require.NoError(t, err)
			for name, op := range ops(s) {
				start := time.Now()
				err := op(context.Background())
				took := time.Since(start)
				require.Error(t, err, name)
				assert.Contains(t, err.Error(), "redisstore: ", name)
				assert.NotContains(t, err.Error(), "SECRET", "%s: no session data in the error", name)
				assert.Less(t, took, timeout+time.Second, "%s returns within its deadline", name)
			}
		})
	}
}

func TestClosedClientFailsAndANewClientServes(t *testing.T) {
	t.Parallel()
	c, prefix, s := newFixture(t)
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	require.NoError(t, s.Use(ctx, "before", exp))

	require.NoError(t, c.Close(), "the store goes away mid-run")
	for name, op := range ops(s) {
		err := op(ctx)
		require.Error(t, err, name)
		assert.ErrorIs(t, err, redis.ErrClosed, name)
	}

	again := newStore(t, newClient(t), prefix)
	require.NoError(t, again.Use(ctx, "after", exp), "keeps serving once the store is back")
	assert.ErrorIs(t, again.Use(ctx, "before", exp), store.ErrAlreadyUsed, "and remembers what was used before")
}

func TestSameStoreServesAgainOnceRedisIsBack(t *testing.T) {
	t.Parallel()
	prefix := newPrefix(t)
	p := testkit.NewProxy(t, redisAddr)
	c := redis.NewClient(&redis.Options{Addr: p.Addr()})
	t.Cleanup(func() { _ = c.Close() })
	s := newStore(t, c, prefix, redisstore.WithTimeout(500*time.Millisecond))
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	require.NoError(t, s.Use(ctx, "before", exp))

	p.Stop()
	for name, op := range ops(s) {
		err := op(ctx)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "redisstore: ", name)
	}

	p.Start()
	// The client reconnects by itself; on real time that takes a moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Revoked(ctx, "probe")
		if err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "the store still fails 10 s after Redis came back: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, s.Use(ctx, "after", exp), "the same Store serves again")
	assert.ErrorIs(t, s.Use(ctx, "before", exp), store.ErrAlreadyUsed, "and remembers what was used before")
}

func TestContextHonoured(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	s := newStore(t, c, newPrefix(t))

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for name, op := range ops(s) {
		start := time.Now()
		err := op(cancelled)
		require.ErrorIs(t, err, context.Canceled, name)
		assert.Less(t, time.Since(start), 100*time.Millisecond, name)
	}

	// A caller's deadline shorter than the store's timeout wins.
	hung := redis.NewClient(&redis.Options{Addr: hungAddr(t)})
	t.Cleanup(func() { _ = hung.Close() })
	hs := newStore(t, hung, "actastest:")
	for name, op := range ops(hs) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		err := op(ctx)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, name)
		assert.Less(t, time.Since(start), time.Second, name)
	}
}
