// Package memory is the embedded default store: it implements every
// interface of package store in process memory, and doubles as the fake for
// tests.
//
// # When to use it
//
// One identity-server process, demos, tests. Several instances behind a
// load balancer must share one-time use, revocation and the audit log
// through a shared store instead (the Redis and PostgreSQL adapters).
//
// # Behaviour
//
// A [Store] is safe for concurrent use. Values are copied in and out, so a
// caller can neither see nor cause later changes through a returned
// pointer. Used jti and revocation entries are evicted once expired, so
// memory stays bounded by the number of tokens alive at one time.
// The audit log kept by [Store.Events] is not bounded: it is meant for
// tests and demos; production hosts record to their own Auditor.
package memory
