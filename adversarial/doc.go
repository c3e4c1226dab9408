// Package adversarial is the adversarial test suite of actas: the attacks
// a security engineer would try before adopting the library, each refused
// with nothing issued. It holds no code; the tests are in its _test files.
//
// # How it is built
//
// Every case runs against its own complete, isolated issuer wired from the
// public API only (plus internal/jose, the library's own signer, and
// internal/testkit, whose helpers assemble and sign forged tokens with the
// issuer's real key): a store/memory world, an ES256 key set on an injected clock,
// an impersonation.Service auditing into the memory store, and an
// httptest.Server mounting the token, authorize, introspection, revocation
// and JWKS endpoints and a resource API behind resource.Middleware.
// Attacks go over HTTP end to end; the key token-level attacks are also
// run directly against Service.Exchange and Verifier.Verify, so that a
// failure points at the layer.
//
// # Families
//
// The tests are named after the attack family and each case after the
// attack:
//
//   - TestSignatureAndHeader: forged JWS headers and signatures (alg none,
//     HMAC keyed with the public key, algorithms off the allowlist, kid
//     tricks, jku/x5u/jwk/x5c/crit, foreign keys, JSON serialization, JWE,
//     broken encodings, trailing data, wrong signature lengths);
//   - TestClaims: tokens signed with the issuer's real key whose claims are
//     wrong one at a time;
//   - TestTokenKindConfusion: each kind of token where another is
//     expected, and token type parameters that do not fit;
//   - TestFlow: the impersonation flow attacked as a whole (wrong client,
//     wrong actor, replay, changes between the steps, organisation
//     boundaries, escalation, revocation, rate limit);
//   - TestRequest: the HTTP requests themselves (parameters, content types,
//     sizes, methods, client authentication, open redirects, HTML
//     injection in form_post);
//   - TestSessionGate: an impersonation session's tokens asked for by a
//     client the policy refuses (issue 11, F1), at the authorize step, the
//     token step and a refresh;
//   - TestOutsideRun: the reference server (examples/server), built and
//     run as a process of its own, attacked over HTTP with a cookie jar as
//     the outside attack run of issue 11 did: F1 (a session sign-in to a
//     client without impersonation), F2 (a cross-site GET starting an
//     impersonation) and F3 (the audit log across organisations). It needs
//     the repository's Go workspace to build the server and is skipped
//     with GOWORK=off.
//
// Every refusal case asserts the HTTP status, the exact OAuth error code,
// that no token was issued (in the response and in the audit log), that
// the response leaks neither the presented tokens nor claim values nor
// internal error text, and that an audit event with a reason was written.
// Cases that the library is known to get wrong are skipped with a message
// starting "VULN:"; set ACTAS_ADVERSARIAL_VULN=1 to run them and see them
// fail.
package adversarial
