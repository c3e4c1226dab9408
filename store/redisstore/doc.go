// Package redisstore keeps what several instances of an identity server
// must share in Redis: one-time use of subject tokens
// ([store.OneTimeUse]), revoked tokens ([store.Revocation]), rate-limit
// counters ([store.RateLimiter]) and impersonation sessions
// ([store.Sessions]). It is a module of its own, so the core module does
// not depend on a Redis client.
//
// # When to use it
//
// Run it when more than one process issues or verifies tokens for one
// issuer, behind a load balancer. With store/memory, each instance keeps
// its own set of used subject tokens, so a token replayed to a second
// instance is exchanged a second time; through one [Store] on a shared
// Redis, of any number of concurrent exchanges of one subject token across
// all instances exactly one succeeds, a revocation made on one instance is
// seen by all, a rate limit counts the requests of all of them, and an
// impersonation session started through one instance is seen, and ended,
// by all:
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	rs, err := redisstore.New(rdb)
//	...
//	stores.OneTimeUse = rs                     // impersonation.Stores
//	impersonation.WithRevocationStore(rs)      // Service option
//	impersonation.WithStartLimit(rs, 10, time.Minute)
//	impersonation.WithSessions(rs, rs, impersonation.SessionConfig{MaxDuration: time.Hour})
//	resource.WithRevocation(rs)                // resource.Option, on resource servers
//
// One-time use takes a single SET NX; revocation a small script; a
// revocation check a single EXISTS; a rate-limit count a small script;
// storing, reading and deleting a session a single SET PX, GET and DEL.
// Each is one round trip.
//
// # Key layout
//
// Every key starts with the prefix ([WithPrefix], default "actas:"):
//
//	<prefix>jti:<id>                  a used subject token; TTL until its expiry
//	<prefix>revoked:<id>              a revoked token; TTL until its expiry
//	<prefix>rate:<key>:<start ms>     a window's count; TTL until the window ends
//	<prefix>session:<login session>   an impersonation session, as JSON; TTL until it expires
//	<prefix>grants:<subject>          a user's subject grants, a hash; TTL until the last expires, plus a day
//
// where <start ms> is the start of the fixed window in Unix milliseconds
// (milliseconds, so that windows shorter than a second get keys of their
// own). A session's value is a JSON object with the fields id,
// login_session, impersonator, subject, client_id, org, reason, started,
// expires, start_token_id and start_token_expiry, the times in RFC 3339
// with nanoseconds, in UTC. Storing a session replaces the one its login
// session had; storing one whose expiry has passed deletes it. A subject
// grant is the field g:<id> of its subject's hash, a JSON object with the
// fields id, client_id, impersonator, created and expires, and, once
// revoked, the field r:<id> with the revocation time (RFC 3339, UTC);
// HSETNX keeps the first revocation.
//
// Every key carries a TTL, so Redis drops it once it can no longer matter
// and memory stays bounded by the tokens, windows and sessions alive at one
// time. Run Redis with maxmemory-policy noeviction (its default): any
// other policy may drop a key before its TTL, forgetting a used or revoked
// token or a running impersonation session (which could then no longer be
// ended, nor its tokens revoked with it), whereas noeviction makes writes
// fail, and the store then fails closed. Use a prefix per issuer when
// several share one Redis.
//
// TTLs are computed from the [Store]'s clock ([WithClock]) as expiry minus
// now and sent as relative PX values, so they follow the host's clock, the
// one that judges token expiry, and not the Redis server's. Instances must
// still keep their clocks in step (NTP), as they must for token expiry.
//
// # Failures
//
// The store fails closed. Every error (connection refused, a closed
// client, a timeout, the caller's context ending) is returned, wrapped with
// a "redisstore:" prefix, and never taken as "not used", "not revoked" or
// "no session" (it does not wrap [store.ErrNotFound]); nothing panics. The library turns these errors into the OAuth error
// temporarily_unavailable (HTTP 503 from the token endpoint), issues
// nothing, and records the failure as an audit event (through its fallback
// auditor when the audit store is down too); the error text goes into that
// record, so it never holds a token ID, a login session ID or any field of
// a session (nor any of a stored value that does not decode as one). Each
// operation runs under a deadline ([WithTimeout], default 2 s) on top of
// the caller's context, which holds whether or not the client was built
// with ContextTimeoutEnabled. The go-redis client reconnects by itself, so
// the same [Store] serves again once Redis is back.
//
// A one-time use whose outcome is unknown (the deadline passed while the
// SET was on its way) may have consumed the token: the exchange is refused
// and a retry sees a replay. That is the fail-closed choice.
//
// # What it does not do
//
// It stores no audit log, no clients, users, organisations or role grants
// and no signing keys: Redis is not durable enough for an audit trail. The
// PostgreSQL adapter (store/postgres) keeps those, and can also hold one-time
// use and revocation when a deployment would rather run one store.
// It does not close the client it was given.
//
// # Compatibility
//
// It needs a Redis that go-redis v9 supports (6 or later); the commands it
// sends (SET NX PX, SET PX, GET, DEL, EXISTS, and INCR, PTTL, PEXPIRE and
// SET inside Lua scripts) are all older. It is tested against Redis 7.0,
// through go-redis v9.23. Every operation touches one key, so it works with
// Redis Cluster through a [redis.ClusterClient]. The key layout is part of
// the API, and so is the JSON form of a session: changing them would let a
// token used before an upgrade be used again after it, or lose the
// impersonation sessions running through an upgrade, so they change only
// with a new major version.
package redisstore
