// Package postgres implements the store interfaces of
// [github.com/actas/actas/store] over PostgreSQL with
// [github.com/jackc/pgx/v5]: the directory (clients, users, organisations,
// role grants), one-time use of subject tokens, revocation, rate limits,
// impersonation sessions and the audit log with its query API. It is its own
// module, so the core module does not depend on pgx.
//
// # When to use it
//
// When several identity-server instances sit behind one load balancer and
// must share state: a subject token used on one instance is a replay on
// every other, a revocation on one is seen by all, and every instance
// writes to and reads from one audit log; an impersonation session started
// through one instance is found, and ended, through any other. One [Store]
// implements [store.Clients], [store.Users], [store.Organizations],
// [store.Grants], [store.OneTimeUse], [store.Revocation],
// [store.RateLimiter], [store.Sessions], [store.Auditor] and
// [store.AuditLog]; pass it wherever those are wanted.
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
// directory), used_jti, revoked and rate_limits (expiring token state),
// impersonation_sessions (one row per login session, indexed by expiry)
// and audit_events (the audit log, indexed by time, by impersonator and
// time, by subject and time, by organisation and time and by jti) with
// audit_event_links (an event's [store.Event.Parent] and Expires, indexed
// by parent). A release that adds a table or an index adds a migration:
// impersonation_sessions came with migrations/0003_sessions.sql and the
// organisation index, for queries scoped to an organisation subtree
// ([store.AuditScope]), with migrations/0004_audit_org.sql, the clients'
// logout settings ([store.Client.PostLogoutRedirectURIs],
// SkipLogoutConsent) and ReasonRequired with
// migrations/0005_client_logout_reason.sql, subject_grants
// ([store.SubjectGrants]) with migrations/0006_subject_grants.sql, and
// audit_event_links with migrations/0007_audit_links.sql, so an existing
// schema gets them from
// the next Migrate.
//
// # Clock
//
// Expiries (one-time use, revocation, rate-limit windows, impersonation
// sessions) are compared against the Store's own clock ([WithClock], default
// time.Now), sent as a query parameter; the database's now() is never used
// for them. Instances therefore agree as long as their clocks do (keep them
// synchronised, as token expiry already requires), and tests can move time
// by hand.
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
// Rows of used_jti, revoked, rate_limits and impersonation_sessions are only
// needed until they expire. Every 256th write to one of these tables (Use,
// Revoke, Allow, PutSession) first deletes up to 1000 of its expired rows
// (skipping rows another transaction holds), which keeps the tables near
// their live size under steady load; a host may also call [Store.Sweep]
// periodically to delete every expired row at once. The Store starts no
// goroutine.
//
// # Impersonation sessions
//
// impersonation_sessions holds each [store.ImpersonationSession] field in
// a column of its own, keyed by login_session: [Store.PutSession] is one
// upsert that replaces the login session's previous session,
// [Store.SessionFor] returns a row only while its expires is after the
// Store's clock (otherwise an error wrapping [store.ErrNotFound]; a
// database failure never wraps it), and [Store.DeleteSession] of nothing is
// no error. The login session is stored and indexed in clear, as given:
// pass an identifier that is not itself a credential, such as a hash of
// the session cookie, never the cookie. The other columns hold what the
// library put there: the impersonator, the subject, the client, the
// organisation, the stated reason, the session's ID and the ID and expiry
// of the access token that started it. Times are kept to the microsecond,
// rounded down (timestamptz's precision), and read back in UTC, so a
// session ends at most a microsecond before its Expires, never after.
// Sessions without an ID or a login session, with text that is not valid
// UTF-8 or holds a NUL byte, or with a time outside the years 0–9999 are
// refused. Error text never holds a login session or any field of a
// session, because the library copies error text into audit records.
//
// # Audit log
//
// audit_events and audit_event_links are append-only: the Store inserts
// and selects and never changes or removes a row, and no housekeeping
// touches them. Retention is the operator's decision (and privilege). An
// event's time is stored as a timestamptz to the microsecond plus the
// nanoseconds below it, so [store.Event.Time] reads back exactly;
// [store.Event.Expires] is kept to the microsecond; [Store.QueryEvents]
// returns times in UTC. A page read from a cursor
// ([store.AuditQuery.After]) is an index range scan from the cursor's
// position (time, then id) when the other criteria are the time, the
// subject or the impersonator, so it costs about the same however long
// the log.
//
// # What it deliberately does not do
//
// It does not create the database or its roles, manage connections beyond
// the pool it is given, store signing keys or notices, or cache reads: every
// lookup goes to the database, so a change (a revocation, an ended
// session) is seen at once by every instance.
//
// # Compatibility
//
// New releases add migrations; they never edit an applied one. A Store
// ignores versions recorded by a newer release, so an older instance keeps
// running against a schema a newer one migrated, as long as the migrations
// only add.
package postgres
