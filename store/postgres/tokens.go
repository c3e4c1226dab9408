package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/actas/actas/store"
)

// Opportunistic clean-up: every sweepEvery-th write to a table whose rows
// expire first deletes up to sweepBatch of its expired rows.
const (
	sweepEvery = 256
	sweepBatch = 1000
)

// Use implements [store.OneTimeUse] with one atomic upsert: the id is
// inserted, or its row taken over when it expired (by the Store's clock);
// otherwise the result is an error wrapping [store.ErrAlreadyUsed]. Of
// concurrent calls with one id, from any number of Stores on the same
// schema, exactly one returns nil.
func (s *Store) Use(ctx context.Context, id string, exp time.Time) error {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return fmt.Errorf("postgres: use jti: %w", err)
	}
	now := s.now()
	if err := s.trim(ctx, sweepUsed, now); err != nil {
		return fmt.Errorf("postgres: use jti: %w", err)
	}
	var got string
	err = s.pool.QueryRow(ctx, s.q.use, id, exp, now).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: use jti: %w", store.ErrAlreadyUsed)
	}
	if err != nil {
		return fmt.Errorf("postgres: use jti: %w", err)
	}
	return nil
}

// Revoke implements [store.Revocation]. Revoking again while the
// revocation is live keeps the later of the two expiries.
func (s *Store) Revoke(ctx context.Context, id string, exp time.Time) error {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return fmt.Errorf("postgres: revoke: %w", err)
	}
	now := s.now()
	if err := s.trim(ctx, sweepRevoked, now); err != nil {
		return fmt.Errorf("postgres: revoke: %w", err)
	}
	if _, err := s.pool.Exec(ctx, s.q.revoke, id, exp, now); err != nil {
		return fmt.Errorf("postgres: revoke: %w", err)
	}
	return nil
}

// Revoked implements [store.Revocation]: true while a revocation of id has
// not expired by the Store's clock.
func (s *Store) Revoked(ctx context.Context, id string) (bool, error) {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return false, fmt.Errorf("postgres: revoked: %w", err)
	}
	var revoked bool
	if err := s.pool.QueryRow(ctx, s.q.revoked, id, s.now()).Scan(&revoked); err != nil {
		return false, fmt.Errorf("postgres: revoked: %w", err)
	}
	return revoked, nil
}

// Allow implements [store.RateLimiter] with fixed windows: a key's window
// starts at the Store's clock truncated to a multiple of per and lasts per;
// one atomic upsert counts the event, so of concurrent calls across Stores
// exactly limit are allowed per window.
func (s *Store) Allow(ctx context.Context, key string, limit int, per time.Duration) (bool, error) {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return false, fmt.Errorf("postgres: rate limit: %w", err)
	}
	now := s.now()
	if err := s.trim(ctx, sweepRates, now); err != nil {
		return false, fmt.Errorf("postgres: rate limit: %w", err)
	}
	start := now.Truncate(per)
	var count int64
	if err := s.pool.QueryRow(ctx, s.q.allow, key, start, start.Add(per), now).Scan(&count); err != nil {
		return false, fmt.Errorf("postgres: rate limit: %w", err)
	}
	return count <= int64(limit), nil
}

// Sweep deletes every expired row of the one-time-use, revocation,
// rate-limit and impersonation-session tables (by the Store's clock) and
// returns how many it deleted. The Store also deletes expired rows in
// small batches as it writes, so calling Sweep is optional: a host may run
// it periodically to keep the tables at their live size. It never touches
// the audit log.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	ctx, cancel, err := s.op(ctx)
	defer cancel()
	if err != nil {
		return 0, fmt.Errorf("postgres: sweep: %w", err)
	}
	now := s.now()
	var n int64
	for _, q := range s.q.sweep {
		tag, err := s.pool.Exec(ctx, q, now)
		if err != nil {
			return n, fmt.Errorf("postgres: sweep: %w", err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

// trim deletes up to sweepBatch expired rows of table on every
// sweepEvery-th call. Rows locked by another transaction are skipped, so
// concurrent trims never wait on each other.
func (s *Store) trim(ctx context.Context, table sweepTable, now time.Time) error {
	if s.calls[table].Add(1)%sweepEvery != 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, s.q.trim[table], now, sweepBatch)
	return err
}
