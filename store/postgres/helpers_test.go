package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
	"github.com/actas/actas/store/postgres"
)

// defaultDSN is the test database; ACTAS_TEST_POSTGRES overrides it.
const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

const startHint = "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start " +
	"(or point ACTAS_TEST_POSTGRES at a PostgreSQL database)"

func dsn() string {
	if v := os.Getenv("ACTAS_TEST_POSTGRES"); v != "" {
		return v
	}
	return defaultDSN
}

// connect opens a pool on the test database, closed at cleanup. An
// unreachable database fails the test: these tests are never skipped.
func connect(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn())
	require.NoError(t, err, "PostgreSQL DSN %q", dsn())
	t.Cleanup(pool.Close)
	require.NoError(t, pool.Ping(ctx), "PostgreSQL at %q is unreachable; %s", dsn(), startHint)
	return pool
}

// newSchema returns a fresh schema name, dropped (with everything in it)
// at cleanup.
func newSchema(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "actastest_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
		require.NoError(t, err, "drop schema %s", name)
	})
	return name
}

// newStore returns a migrated Store on a fresh schema of pool.
func newStore(t testing.TB, pool *pgxpool.Pool, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	schema := newSchema(t, pool)
	s, err := postgres.New(pool, append([]postgres.Option{postgres.WithSchema(schema)}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

// newClock returns a test clock at a fixed time with nanoseconds, so
// sub-microsecond handling is exercised.
func newClock() *testkit.Clock {
	return testkit.NewClockAt(time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC))
}

// clockedStore returns a migrated Store on a fresh schema of a new pool,
// on a new test clock.
func clockedStore(t testing.TB) (*testkit.Clock, *pgxpool.Pool, *postgres.Store) {
	t.Helper()
	c := newClock()
	pool := connect(t)
	return c, pool, newStore(t, pool, postgres.WithClock(c.Now))
}

// assertRevoked checks through s whether id is revoked.
func assertRevoked(t testing.TB, s store.Revocation, id string, want bool, msgAndArgs ...any) {
	t.Helper()
	revoked, err := s.Revoked(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, want, revoked, msgAndArgs...)
}

// count returns the number of rows in schema.table.
func count(t testing.TB, pool *pgxpool.Pool, schema, table string) int {
	t.Helper()
	var n int
	err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{schema, table}.Sanitize()).Scan(&n)
	require.NoError(t, err)
	return n
}
