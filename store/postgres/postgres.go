package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/actas/actas/store"
)

// DefaultSchema is the schema that holds the tables unless [WithSchema]
// names another.
const DefaultSchema = "actas"

// DefaultTimeout bounds each operation unless [WithTimeout] sets another.
const DefaultTimeout = 2 * time.Second

// Store implements the store interfaces over a PostgreSQL connection pool.
// It is safe for concurrent use, and several Stores (in one process or
// many) over the same database and schema share one state.
type Store struct {
	pool    *pgxpool.Pool
	schema  string // validated, unquoted
	now     func() time.Time
	timeout time.Duration

	q queries

	// calls counts writes to each expiring table, to sweep every
	// sweepEvery-th call.
	calls [numSweepTables]atomic.Uint64
}

var (
	_ store.Clients       = (*Store)(nil)
	_ store.Users         = (*Store)(nil)
	_ store.Organizations = (*Store)(nil)
	_ store.Grants        = (*Store)(nil)
	_ store.OneTimeUse    = (*Store)(nil)
	_ store.Revocation    = (*Store)(nil)
	_ store.RateLimiter   = (*Store)(nil)
	_ store.Auditor       = (*Store)(nil)
	_ store.AuditLog      = (*Store)(nil)
	_ store.Sessions      = (*Store)(nil)
)

// Option configures a [Store] in [New].
type Option func(*config)

type config struct {
	schema  string
	now     func() time.Time
	timeout time.Duration
}

// WithSchema puts the tables in the schema name instead of
// [DefaultSchema]. The name must be a plain lower-case identifier: a letter
// or underscore, then letters, digits or underscores, at most 63 bytes.
// Migrate creates the schema when it does not exist.
func WithSchema(name string) Option { return func(c *config) { c.schema = name } }

// WithClock sets the clock the Store compares expiries against (one-time
// use, revocation, rate-limit windows, impersonation sessions); default
// time.Now. The time is sent with each query, never taken from the
// database's now(), so several instances agree as long as their clocks
// do, and tests can move time by hand.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithTimeout bounds each operation (one statement or transaction) by d,
// on top of the caller's context; default [DefaultTimeout]. It does not
// apply to [Store.Migrate], which only the caller's context bounds.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// New returns a Store over pool. It does no I/O: call [Store.Migrate] to
// create or update the schema. The pool stays the caller's to close.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: nil pool")
	}
	c := config{schema: DefaultSchema, now: time.Now, timeout: DefaultTimeout}
	for _, o := range opts {
		o(&c)
	}
	if !identifier.MatchString(c.schema) {
		return nil, fmt.Errorf("postgres: schema %q is not a plain lower-case identifier", c.schema)
	}
	if c.now == nil {
		return nil, errors.New("postgres: nil clock")
	}
	if c.timeout <= 0 {
		return nil, fmt.Errorf("postgres: timeout %s is not positive", c.timeout)
	}
	return &Store{
		pool:    pool,
		schema:  c.schema,
		now:     c.now,
		timeout: c.timeout,
		q:       newQueries(pgx.Identifier{c.schema}.Sanitize()),
	}, nil
}

// Schema returns the schema that holds the Store's tables.
func (s *Store) Schema() string { return s.schema }

// op returns the context for one operation: ctx bounded by the Store's
// timeout. It fails at once when ctx is already done.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return ctx, func() {}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	return ctx, cancel, nil
}

// lockKey derives the advisory lock key for one purpose in this schema, so
// Stores on other schemas of the same database never wait on each other.
func (s *Store) lockKey(purpose string) int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/actas/actas/store/postgres\x00" + purpose + "\x00" + s.schema))
	return int64(h.Sum64())
}

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// SQLSTATE codes the Store maps to its own errors.
const (
	codeForeignKeyViolation = "23503"
	codeUniqueViolation     = "23505"
)

// render replaces {s} in a query with the quoted schema name.
func render(quoted, query string) string { return strings.ReplaceAll(query, "{s}", quoted) }
