// Package resource is what a resource server (an API) needs to accept the
// access tokens of an actas issuer and to see impersonation: a [Verifier]
// for RFC 9068 access tokens, the [Principal] they speak for (Subject the
// user, Actor who is really acting), [Middleware] putting it in the request
// context with RFC 6750 errors, [RequireScope], [ForbidImpersonation] for
// operations only the account holder may perform, request audit
// ([WithRequestAudit]) and a [RemoteKeySet] reading the issuer's JWKS.
//
// # When to use it
//
// In every API that takes the issuer's access tokens, whether it runs in
// the issuer's process (give NewVerifier the issuer's key store) or
// elsewhere (give it a RemoteKeySet on the JWKS URL, and a shared
// store.Revocation to see revocations).
//
// # What it deliberately does not do
//
// It imports nothing of the issuer side (impersonation, subjecttoken,
// tokenexchange): an API never pulls in the authorize or exchange code. It
// does not introspect (RFC 7662) over the network, does not accept
// subject tokens or ID tokens as bearer tokens (their typ differs), and
// never logs except through the store.Auditor given.
//
// # Compatibility
//
// The claim names it reads (sub, act, aud, scope, client_id, org_id,
// org_name, isid, impersonation_reason) are a contract with the issuer and
// do not change.
package resource
