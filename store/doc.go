// Package store defines the small interfaces an identity server implements
// so that actas can read its clients, users, organisations and role grants,
// enforce one-time use of subject tokens, revoke tokens, sign with its keys,
// and record audit events and notices.
//
// # When to use it
//
// Implement only the interfaces you need, each one or two methods, over
// your own database; or start with [github.com/actas/actas/store/memory],
// which implements all of them and is the embedded default. Every
// implementation must be safe for concurrent use.
//
// The package also holds what every implementation shares: the plain data
// types ([Client], [User], [Organization]), the sentinel errors, secret
// hashing ([HashSecret], [VerifySecret]), signing keys ([GenerateKey],
// [ParsePrivateKey]) and the default audit sink ([NewSlogAuditor]).
//
// # What it deliberately does not do
//
// It makes no policy decision and never parses tokens.
//
// # Compatibility
//
// Interfaces are never widened: a new capability comes as a new interface.
package store
