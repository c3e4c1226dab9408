// Package postgres implements the store interfaces of
// [github.com/actas/actas/store] over PostgreSQL with
// [github.com/jackc/pgx/v5]: the directory (clients, users, organisations,
// role grants), one-time use of subject tokens, revocation, rate limits and
// the audit log with its query API. It is its own module, so the core
// module does not depend on pgx.
//
// # When to use it
//
// When several identity-server instances sit behind one load balancer and
// must share state: a subject token used on one instance is a replay on
// every other, a revocation on one is seen by all, and every instance
// writes to and reads from one audit log. One [Store] implements
// [store.Clients], [store.Users], [store.Organizations], [store.Grants],
// [store.OneTimeUse], [store.Revocation], [store.RateLimiter],
// [store.Auditor] and [store.AuditLog]; pass it wherever those are wanted.
// It passes the conformance suite of
// [github.com/actas/actas/store/storetest], as store/memory does.
//
//	pool, err := pgxpool.New(ctx, "postgres://actas@db/idp")
//	...
//	s, err := postgres.New(pool) // tables in schema "actas"
//	...
//	if err := s.Migrate(ctx); err != nil { ... } // once at start-up; harmless to repeat
//
// The pool is the caller's: the Store never closes it. A Store is safe for
// concurrent use.
//
// # Schema and migrations
//
// All tables live in one schema, "actas" by default ([WithSchema]).
// [Store.Migrate] creates the schema and applies the versioned SQL files
// embedded in the package (migrations/0001_init.sql, ...), each once, in its
// own transaction, recording it in schema_migrations(version, applied_at).
// A per-schema advisory lock lets any number of instances call Migrate at
// the same time. Nothing is migrated implicitly: call Migrate at start-up,
// or apply the files by hand with search_path set to the schema and insert
// their versions into schema_migrations.
//
// The tables are organizations, users, clients, roles and role_users (the
// directory), used_jti, revoked and rate_limits (expiring token state) and
// audit_events (the audit log, indexed by time, by impersonator and time
// and by subject and time).
//
// # Clock
//
// Expiries (one-time use, revocation, rate-limit windows) are compared
// against the Store's own clock ([WithClock], default time.Now), sent as a
// query parameter; the database's now() is never used for them. Instances
// therefore agree as long as their clocks do (keep them synchronised, as
// token expiry already requires), and tests can move time by hand.
//
// # Failure: fail closed
//
// Every method bounds its work by the caller's context and a per-operation
// timeout ([WithTimeout], default 2 s). A database that is unreachable,
// slow or refusing makes the method return an error wrapping the cause,
// prefixed "postgres: ..."; nothing is swallowed or retried, so the caller
// refuses the exchange. A context already done fails at once.
//
// # Housekeeping
//
// Rows of used_jti, revoked and rate_limits are only needed until they
// expire. Every 256th write to one of these tables first deletes up to 1000
// of its expired rows (skipping rows another transaction holds), which
// keeps the tables near their live size under steady load; a host may also
// call [Store.Sweep] periodically to delete every expired row at once. The
// Store starts no goroutine.
//
// # Audit log
//
// audit_events is append-only: the Store inserts and selects and never
// changes or removes a row, and no housekeeping touches it. Retention is
// the operator's decision (and privilege). An event's time is stored as a
// timestamptz to the microsecond plus the nanoseconds below it, so
// [store.Event.Time] reads back exactly; [Store.QueryEvents] returns times
// in UTC.
//
// # What it deliberately does not do
//
// It does not create the database or its roles, manage connections beyond
// the pool it is given, store signing keys or notices, or cache reads: every
// lookup goes to the database, so a change is seen at once by every
// instance.
//
// # Compatibility
//
// New releases add migrations; they never edit an applied one. A Store
// ignores versions recorded by a newer release, so an older instance keeps
// running against a schema a newer one migrated, as long as the migrations
// only add.
package postgres
