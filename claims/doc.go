// Package claims holds the JWT claim types that impersonation by token
// exchange needs: the space-delimited [Scope], the [Audience] that may be a
// string or an array, the recursive [Actor] of RFC 8693 §4.1 (the act claim)
// and the [MayAct] of RFC 8693 §4.4 (the may_act claim), plus [NumericDate]
// and the time checks every token shares.
//
// # When to use it
//
// Hosts read these types from a [github.com/actas/actas/resource.Principal]
// or decode them from a token payload they verified themselves. All types are
// plain values with JSON tags; nothing here does I/O or verifies signatures.
//
// # What it deliberately does not do
//
// It does not parse or verify JWTs: the subjecttoken and impersonation
// packages do that and hand out these values only after the signature and the
// header have been checked.
//
// # Compatibility
//
// New claims may be added as new fields; the JSON names of existing fields
// are relied on by resource servers and never change.
package claims
