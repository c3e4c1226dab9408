package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/actas/actas/store"
)

// Defaults of the options.
const (
	// DefaultPrefix starts every key the Store writes.
	DefaultPrefix = "actas:"
	// DefaultTimeout bounds each operation on top of the caller's context.
	DefaultTimeout = 2 * time.Second
)

// Store keeps used token IDs, revoked token IDs, rate-limit counters and
// impersonation sessions in Redis, so that several instances of an identity
// server share them. It is safe for concurrent use. It does not own the
// client: closing the client is the caller's job, after the last call.
type Store struct {
	c       redis.UniversalClient
	prefix  string
	now     func() time.Time
	timeout time.Duration
}

var (
	_ store.OneTimeUse  = (*Store)(nil)
	_ store.Revocation  = (*Store)(nil)
	_ store.RateLimiter = (*Store)(nil)
	_ store.Sessions    = (*Store)(nil)
)

// Option configures a [Store] in [New].
type Option func(*Store)

// WithPrefix sets the string that starts every key; default "actas:".
// Stores with different prefixes on one Redis never see each other's keys.
func WithPrefix(p string) Option { return func(s *Store) { s.prefix = p } }

// WithClock sets the time source that turns absolute expiries into TTLs and
// places rate-limit windows; default time.Now. Redis expires keys on its own
// clock, so a clock that runs at another speed than real time gives wrong
// lifetimes.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithTimeout sets the deadline of each operation, applied on top of the
// caller's context (the earlier of the two wins); default 2 s. It must be
// positive.
func WithTimeout(d time.Duration) Option { return func(s *Store) { s.timeout = d } }

// New returns a Store that uses c, which may be a [redis.Client], a
// [redis.ClusterClient] (every operation touches a single key) or a ring.
// New does no I/O: an unreachable server shows as errors from the methods.
func New(c redis.UniversalClient, opts ...Option) (*Store, error) {
	if c == nil {
		return nil, errors.New("redisstore: nil client")
	}
	s := &Store{c: c, prefix: DefaultPrefix, now: time.Now, timeout: DefaultTimeout}
	for _, o := range opts {
		o(s)
	}
	if s.now == nil {
		return nil, errors.New("redisstore: nil clock")
	}
	if s.timeout <= 0 {
		return nil, fmt.Errorf("redisstore: timeout %v is not positive", s.timeout)
	}
	return s, nil
}

// Key layout, under the prefix. Redis keys are binary-safe, so IDs are used
// as they are.
func (s *Store) jtiKey(id string) string     { return s.prefix + "jti:" + id }
func (s *Store) revokedKey(id string) string { return s.prefix + "revoked:" + id }
func (s *Store) rateKey(key string, start time.Time) string {
	return s.prefix + "rate:" + key + ":" + strconv.FormatInt(start.UnixMilli(), 10)
}

// Use implements [store.OneTimeUse] with SET NX PX: the key holds id until
// exp, and of concurrent calls from any number of instances Redis lets
// exactly one create it.
//
// An exp that has already passed (on the Store's clock) holds nothing, as
// in store/memory: Use reports ErrAlreadyUsed if id is still held and nil
// otherwise, without writing. The library always passes the token's expiry
// plus its clock skew, the last instant any verifier accepts the token, so
// a past exp means the token can no longer be presented. (Hence, as in
// store/memory, concurrent calls with a past exp all return nil: the
// "exactly one" guarantee is for the lifetime the caller asks to hold.)
func (s *Store) Use(ctx context.Context, id string, exp time.Time) error {
	key := s.jtiKey(id)
	ttl := exp.Sub(s.now())
	err := s.do(ctx, func(ctx context.Context) error {
		if ttl < time.Millisecond {
			n, err := s.c.Exists(ctx, key).Result()
			if err == nil && n > 0 {
				return store.ErrAlreadyUsed
			}
			return err
		}
		return s.c.SetArgs(ctx, key, "1", redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil), errors.Is(err, store.ErrAlreadyUsed):
		return store.ErrAlreadyUsed
	default:
		return fmt.Errorf("redisstore: use jti: %w", err)
	}
}

// revokeScript sets the revocation key with a TTL unless it already lives
// longer: a second revocation never shortens the first.
var revokeScript = redis.NewScript(`
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 or ttl >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 1
`)

// Revoke implements [store.Revocation]: the key holds id until exp. If id
// is already revoked until later, that later expiry stays. An exp that has
// already passed writes nothing: the token is expired anyway.
func (s *Store) Revoke(ctx context.Context, id string, exp time.Time) error {
	ttl := exp.Sub(s.now()).Milliseconds()
	if ttl <= 0 {
		return nil
	}
	key := s.revokedKey(id)
	err := s.do(ctx, func(ctx context.Context) error {
		return revokeScript.Run(ctx, s.c, []string{key}, ttl).Err()
	})
	if err != nil {
		return fmt.Errorf("redisstore: revoke: %w", err)
	}
	return nil
}

// Revoked implements [store.Revocation] with EXISTS. On error it reports
// false with the error; callers must treat the error as "cannot tell", not
// as "not revoked".
func (s *Store) Revoked(ctx context.Context, id string) (bool, error) {
	key := s.revokedKey(id)
	var n int64
	err := s.do(ctx, func(ctx context.Context) (err error) {
		n, err = s.c.Exists(ctx, key).Result()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("redisstore: revoked: %w", err)
	}
	return n > 0, nil
}

// allowScript counts one event and gives a new window's key its TTL, in one
// atomic step.
var allowScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) == -1 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// Allow implements [store.RateLimiter] with fixed windows of length per,
// aligned on multiples of per since the zero time (so every instance agrees
// on them), on the Store's clock. Each window is one counter key that Redis
// drops when the window ends. per must be positive.
func (s *Store) Allow(ctx context.Context, key string, limit int, per time.Duration) (bool, error) {
	if per <= 0 {
		return false, fmt.Errorf("redisstore: rate limit: window %v is not positive", per)
	}
	now := s.now()
	start := now.Truncate(per)
	ttl := max(start.Add(per).Sub(now).Milliseconds(), 1)
	k := s.rateKey(key, start)
	var n int64
	err := s.do(ctx, func(ctx context.Context) (err error) {
		n, err = allowScript.Run(ctx, s.c, []string{k}, ttl).Int64()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("redisstore: rate limit: %w", err)
	}
	return n <= int64(limit), nil
}

// do runs f under the Store's timeout and returns when f does or when the
// context is done, whichever comes first. The go-redis client honours
// context deadlines on the socket only with Options.ContextTimeoutEnabled;
// without it, a command waits for the client's ReadTimeout. Running f in
// its own goroutine makes the deadline hold either way; that goroutine ends
// when the client gives up (at once when it honours the context).
func (s *Store) do(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done: // finished at the deadline: keep its answer
			return err
		default:
			return ctx.Err()
		}
	}
}
