package postgres_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store"
	"github.com/actas/actas/store/postgres"
)

// loginSession is the login session the calls use; no error text may
// hold it.
const loginSession = "login-session-hash-7c2f"

// calls runs every method of s once; each must return an error.
func calls(s *postgres.Store) map[string]func(context.Context) error {
	now := time.Now()
	return map[string]func(context.Context) error{
		"Use":     func(ctx context.Context) error { return s.Use(ctx, "jti", now.Add(time.Hour)) },
		"Revoke":  func(ctx context.Context) error { return s.Revoke(ctx, "at", now.Add(time.Hour)) },
		"Revoked": func(ctx context.Context) error { _, err := s.Revoked(ctx, "at"); return err },
		"Allow":   func(ctx context.Context) error { _, err := s.Allow(ctx, "k", 10, time.Minute); return err },
		"Record":  func(ctx context.Context) error { return s.Record(ctx, sampleEvent(now, "jti")) },
		"QueryEvents": func(ctx context.Context) error {
			_, err := s.QueryEvents(ctx, store.AuditQuery{User: "bob"})
			return err
		},
		"Client":       func(ctx context.Context) error { _, err := s.Client(ctx, "app"); return err },
		"User":         func(ctx context.Context) error { _, err := s.User(ctx, "bob"); return err },
		"Organization": func(ctx context.Context) error { _, err := s.Organization(ctx, "acme"); return err },
		"GrantedScopes": func(ctx context.Context) error {
			_, err := s.GrantedScopes(ctx, "app", "bob")
			return err
		},
		"PutClient":       func(ctx context.Context) error { return s.PutClient(ctx, store.Client{ID: "app"}) },
		"PutUser":         func(ctx context.Context) error { return s.PutUser(ctx, store.User{ID: "bob", Org: "acme"}) },
		"PutOrganization": func(ctx context.Context) error { return s.PutOrganization(ctx, store.Organization{ID: "acme"}) },
		"PutRole": func(ctx context.Context) error {
			return s.PutRole(ctx, store.Role{Name: "r", ClientID: "app", Users: []string{"bob"}})
		},
		"PutSession": func(ctx context.Context) error {
			return s.PutSession(ctx, sampleSession(now, loginSession, time.Hour))
		},
		"SessionFor": func(ctx context.Context) error {
			_, err := s.SessionFor(ctx, loginSession)
			return err
		},
		"DeleteSession": func(ctx context.Context) error { return s.DeleteSession(ctx, loginSession) },
		"Sweep":         func(ctx context.Context) error { _, err := s.Sweep(ctx); return err },
		"Migrate":       func(ctx context.Context) error { return s.Migrate(ctx) },
	}
}

// unreachablePool returns a pool on addr, which does not speak PostgreSQL.
func unreachablePool(t *testing.T, addr string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@"+addr+"/test?sslmode=disable&connect_timeout=30")
	require.NoError(t, err, "creating a pool does not connect")
	t.Cleanup(pool.Close)
	return pool
}

func TestFailClosedWhenTheDatabaseIsUnreachable(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond

	// A closed port: connections are refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())

	// A port that accepts and then never answers: only the timeout ends
	// the wait.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = silent.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				_ = c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	for _, target := range []struct{ name, addr string }{
		{"connection refused", closed},
		{"no answer", silent.Addr().String()},
	} {
		t.Run(target.name, func(t *testing.T) {
			t.Parallel()
			s, err := postgres.New(unreachablePool(t, target.addr), postgres.WithTimeout(timeout))
			require.NoError(t, err)
			for name, call := range calls(s) {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					ctx := context.Background()
					if name == "Migrate" { // bounded by its context only
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, timeout)
						defer cancel()
					}
					start := time.Now()
					err := call(ctx)
					elapsed := time.Since(start)
					require.Error(t, err)
					assert.Contains(t, err.Error(), "postgres: ", "wrapped with the package prefix")
					assert.NotErrorIs(t, err, store.ErrAlreadyUsed)
					assert.NotErrorIs(t, err, store.ErrNotFound, "a failure is never 'no session'")
					assert.NotContains(t, err.Error(), loginSession, "no session data in the error text")
					assert.Less(t, elapsed, timeout+2*time.Second, "returned within the timeout")
				})
			}
		})
	}
}

func TestCancelledContextFailsAtOnce(t *testing.T) {
	t.Parallel()
	s := newStore(t, connect(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, call := range calls(s) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			err := call(ctx)
			require.Error(t, err)
			assert.ErrorIs(t, err, context.Canceled)
			assert.Less(t, time.Since(start), 100*time.Millisecond)
		})
	}
	// Nothing was done.
	revoked, err := s.Revoked(context.Background(), "at")
	require.NoError(t, err)
	assert.False(t, revoked)
	assert.NoError(t, s.Use(context.Background(), "jti", time.Now().Add(time.Hour)), "the cancelled Use consumed nothing")
	_, err = s.SessionFor(context.Background(), loginSession)
	assert.ErrorIs(t, err, store.ErrNotFound, "the cancelled PutSession stored nothing")
}

func TestExpiredDeadlineFails(t *testing.T) {
	t.Parallel()
	s := newStore(t, connect(t))
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	err := s.Use(ctx, "jti", time.Now().Add(time.Hour))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NoError(t, s.Use(context.Background(), "jti", time.Now().Add(time.Hour)))
}
