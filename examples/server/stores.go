package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
	"github.com/actas/actas/store/postgres"
	"github.com/actas/actas/store/redisstore"
)

// Where the server keeps what it reads and writes. Without -redis and
// -postgres everything is in process memory (the directory's memory
// store). With them, what several instances behind one issuer must share
// moves to the shared stores:
//
//	                                       neither   -redis    -postgres   both
//	clients, users, organisations, roles   memory    memory    PostgreSQL  PostgreSQL
//	audit log (and the audit page)         memory    memory    PostgreSQL  PostgreSQL
//	one-time use, revocation, rate limits  memory    Redis     PostgreSQL  Redis
//	impersonation sessions                 memory    Redis     PostgreSQL  Redis
//	subject grants (/account)              memory    Redis     PostgreSQL  PostgreSQL
//
// The audit log also goes to stderr as slog JSON in every case, and that
// same slog auditor is the library's fallback auditor: when the audit
// store fails, the event goes there with the store's error. Login
// sessions, the password hashes of the login, the demo app's sessions and
// the notices stay in each process, and so do the authorization codes of
// the code flow (a code is redeemed at the instance that issued it);
// every instance loads the passwords from the same data.

// startupTimeout bounds connecting to a shared store at start.
const startupTimeout = 10 * time.Second

// loadTimeout bounds migrating the PostgreSQL schema and loading the data
// into it at start.
const loadTimeout = 2 * time.Minute

// backends are the stores the library and the pages use.
type backends struct {
	clients  store.Clients
	users    store.Users
	orgs     store.Organizations
	grants   store.Grants
	oneTime  store.OneTimeUse
	revoked  store.Revocation
	limiter  store.RateLimiter
	sessions store.Sessions // impersonation sessions
	// subjectGrants are the access users give to be impersonated.
	subjectGrants store.SubjectGrants
	audit         store.Auditor  // the audit store (stderr comes on top)
	auditLog      store.AuditLog // what the audit page reads

	// The shared stores' clients, closed by close; nil when not used.
	rdb  *redis.Client
	pool *pgxpool.Pool
	pg   *postgres.Store

	// redisPrefix is the key prefix in Redis.
	redisPrefix string
	// lines describe, for the banner, which store holds what.
	lines []string
}

// grantsWhere says where the subject grants are: PostgreSQL with
// -postgres, else where the token state is.
func grantsWhere(cfg config, tokens string) string {
	if cfg.Postgres != "" {
		return "PostgreSQL " + redactURL(cfg.Postgres)
	}
	return tokens
}

// close releases the shared stores' connections.
func (b *backends) close() {
	if b.rdb != nil {
		_ = b.rdb.Close()
		b.rdb = nil
	}
	if b.pool != nil {
		b.pool.Close()
		b.pool = nil
	}
}

// shared reports whether any state lives outside this process.
func (b *backends) shared() bool { return b.rdb != nil || b.pool != nil }

// openBackends connects to the shared stores cfg names, if any: it pings
// Redis, then pings PostgreSQL, migrates its schema and loads dir into it.
// Every error names the flag it is about. With neither flag everything is
// db, as the server has always done.
func openBackends(ctx context.Context, cfg config, dir *directory) (_ *backends, err error) {
	db := dir.db
	b := &backends{
		clients: db, users: db, orgs: db, grants: db,
		oneTime: db, revoked: db, limiter: db, sessions: db, subjectGrants: db,
		audit: db, auditLog: db,
	}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	// Redis first: a ping fails faster than a migration.
	tokens := "memory (this process only)"
	if cfg.Redis != "" {
		if err := b.openRedis(ctx, cfg); err != nil {
			return nil, err
		}
		rs, err := redisstore.New(b.rdb, redisstore.WithPrefix(b.redisPrefix))
		if err != nil {
			return nil, fmt.Errorf("-redis: %w", err)
		}
		b.oneTime, b.revoked, b.limiter, b.sessions, b.subjectGrants = rs, rs, rs, rs, rs
		tokens = fmt.Sprintf("Redis %s, key prefix %s", redactURL(cfg.Redis), b.redisPrefix)
	}
	if cfg.Postgres != "" {
		if err := b.openPostgres(ctx, cfg, dir); err != nil {
			return nil, err
		}
		pg := b.pg
		where := fmt.Sprintf("PostgreSQL %s, schema %s", redactURL(cfg.Postgres), pg.Schema())
		b.clients, b.users, b.orgs, b.grants = pg, pg, pg, pg
		b.audit, b.auditLog, b.subjectGrants = pg, pg, pg
		if cfg.Redis == "" {
			b.oneTime, b.revoked, b.limiter, b.sessions = pg, pg, pg, pg
			tokens = where
		}
		b.lines = append(b.lines,
			"directory (clients, users, organisations, roles): "+where+" (the data loaded into it)",
			"audit log: "+where+", and stderr; the audit page reads it")
	}
	if b.shared() {
		if cfg.Postgres == "" {
			b.lines = append(b.lines,
				"directory (clients, users, organisations, roles): memory (this process only, from the data)",
				"audit log: memory (this process only) and stderr; the audit page reads this process's events")
		}
		b.lines = append(b.lines,
			"one-time use of subject tokens, revocation, rate limits: "+tokens,
			"impersonation sessions: "+tokens,
			"subject grants: "+grantsWhere(cfg, tokens),
			"login sessions, passwords, demo app sessions, notices: this process only",
			"authorization codes: this process only (a code is redeemed at the instance that issued it)")
	}
	return b, nil
}

// openRedis parses -redis, connects and pings.
func (b *backends) openRedis(ctx context.Context, cfg config) error {
	opts, err := redis.ParseURL(cfg.Redis)
	if err != nil {
		return fmt.Errorf("-redis %s: %w (want redis://[user:password@]host:port/db)", redactURL(cfg.Redis), err)
	}
	b.rdb = redis.NewClient(opts)
	b.redisPrefix = cfg.RedisPrefix
	if b.redisPrefix == "" {
		b.redisPrefix = redisPrefixFor(cfg.Issuer)
	}
	pingCtx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := b.rdb.Ping(pingCtx).Err(); err != nil {
		return fmt.Errorf("-redis %s: cannot reach Redis: %w", redactURL(cfg.Redis), err)
	}
	return nil
}

// openPostgres connects to -postgres, pings, migrates the schema and
// loads the data into it.
func (b *backends) openPostgres(ctx context.Context, cfg config, dir *directory) error {
	where := redactURL(cfg.Postgres)
	pool, err := pgxpool.New(ctx, cfg.Postgres)
	if err != nil {
		return fmt.Errorf("-postgres %s: %w (want postgres://user[:password]@host:port/database)", where, err)
	}
	b.pool = pool
	pingCtx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		return fmt.Errorf("-postgres %s: cannot reach PostgreSQL: %w", where, err)
	}
	var opts []postgres.Option
	if cfg.PostgresSchema != "" {
		opts = append(opts, postgres.WithSchema(cfg.PostgresSchema))
	}
	if b.pg, err = postgres.New(pool, opts...); err != nil {
		return fmt.Errorf("-postgres-schema: %w", err)
	}
	loadCtx, cancelLoad := context.WithTimeout(ctx, loadTimeout)
	defer cancelLoad()
	if err := b.pg.Migrate(loadCtx); err != nil {
		return fmt.Errorf("-postgres %s: migrate schema %s: %w", where, b.pg.Schema(), err)
	}
	if err := loadIntoPostgres(loadCtx, pool, b.pg, dir); err != nil {
		return fmt.Errorf("-postgres %s: load the data into schema %s: %w", where, b.pg.Schema(), err)
	}
	return nil
}

// loadIntoPostgres writes the directory into pg with its upserts:
// organisations parents first, then users, clients (with their secrets
// hashed) and roles (their scopes and users replaced). Every instance
// loads the same data at start, so this is idempotent; a session-level
// advisory lock taken on a connection of its own serialises the loads of
// instances that start at the same time, so that their upserts do not
// race on the same rows. Entries the data no longer has are not removed.
func loadIntoPostgres(ctx context.Context, pool *pgxpool.Pool, pg *postgres.Store, dir *directory) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	lock := "actas examples/server data load: " + pg.Schema()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, lock); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer func() {
		// A lock left behind is released when the connection closes.
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, lock); uerr != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	err = putAll(ctx, dir.orgOrder, pg.PutOrganization)
	if err == nil {
		err = putAll(ctx, dir.users, pg.PutUser)
	}
	if err == nil {
		err = putAll(ctx, dir.clients, pg.PutClient)
	}
	if err == nil {
		err = putAll(ctx, dir.roles, pg.PutRole)
	}
	return err
}

// putAll puts every item with put, in order, and stops at the first error.
func putAll[T any](ctx context.Context, items []T, put func(context.Context, T) error) error {
	for _, it := range items {
		if err := put(ctx, it); err != nil {
			return err
		}
	}
	return nil
}

// redisPrefixFor is the default Redis key prefix for an issuer: "actas:"
// and the first 16 hex digits of the SHA-256 of the issuer, so that two
// issuers on one Redis never see each other's keys, and every instance of
// one issuer agrees on it.
func redisPrefixFor(issuer string) string {
	sum := sha256.Sum256([]byte(issuer))
	return redisstore.DefaultPrefix + hex.EncodeToString(sum[:8]) + ":"
}

// redactURL returns a store URL fit for the banner and error messages:
// its password replaced by xxxxx. A string that is not a URL (a key=value
// PostgreSQL DSN) is not shown.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" && u.Path == "" {
		return "(connection string)"
	}
	return u.Redacted()
}

// The memory store holds everything when nothing is shared.
var _ interface {
	store.Clients
	store.Users
	store.Organizations
	store.Grants
	store.OneTimeUse
	store.Revocation
	store.RateLimiter
	store.Auditor
	store.AuditLog
	store.Sessions
} = (*memory.Store)(nil)

// printStores writes the banner lines about the stores.
func (b *backends) printStores(w io.Writer) {
	for _, l := range b.lines {
		fmt.Fprintf(w, "stores: %s\n", l)
	}
}

// redisLog takes go-redis's own log lines (failed dials while Redis is
// away) into the server's slog JSON on stderr, instead of the standard
// logger's plain text. main installs it: go-redis has one logger per
// process.
type redisLog struct{ logger *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.logger.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
