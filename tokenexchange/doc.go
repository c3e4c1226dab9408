// Package tokenexchange speaks OAuth 2.0 Token Exchange (RFC 8693,
// https://www.rfc-editor.org/rfc/rfc8693) and its two companion endpoints,
// Token Introspection (RFC 7662, https://www.rfc-editor.org/rfc/rfc7662) and
// Token Revocation (RFC 7009, https://www.rfc-editor.org/rfc/rfc7009), on
// the wire: the token type identifiers, the token request and response, the
// introspection response, the error model of RFC 6749 §5.2
// (https://www.rfc-editor.org/rfc/rfc6749#section-5.2), client
// authentication, the three endpoints ([NewHandler], [NewIntrospectionHandler],
// [NewRevocationHandler]) and their clients ([Exchange], [Introspect],
// [Revoke]).
//
// # When to use it
//
// A server mounts each handler on its own mux (for example at "POST
// /token", "POST /introspect" and "POST /revoke"). A handler decodes and
// syntactically validates the form, authenticates the client through a
// [ClientAuthenticator], then makes one typed call with the authenticated
// [Client]:
//
//   - the token endpoint hands a [Request] to an [Exchanger], which decides and
//     returns a [Response] or an error;
//   - the introspection endpoint hands the token and token_type_hint to an
//     [Introspector], which returns an [Introspection] ({"active":false}
//     for any token the client may not learn about) or an error;
//   - the revocation endpoint hands the token and token_type_hint to a
//     [Revoker], which returns nil (also for an invalid or unknown token,
//     RFC 7009 §2.2) or an error.
//
// An error that is an [*Error] is sent as is; any other error becomes
// server_error with a generic description, so internal details never reach
// the wire. [WithErrorObserver] lets the host audit every refused request
// with the full error.
//
// A client calls [Exchange], [Introspect] or [Revoke] with its own
// [*http.Client]; a refusal comes back as a [*RetrieveError].
//
// The three handlers share one implementation of the checks before the
// endpoint's own parameters, made in this order: the method is POST (405
// with Allow otherwise); the Content-Type is
// application/x-www-form-urlencoded; the body fits the configured limit
// ([DefaultMaxBodyBytes] by default) and parses; no parameter the endpoint
// understands appears in the URL query (RFC 6749 §2.3.1 forbids credentials
// there, and the handlers refuse all of them rather than silently ignoring
// them, which also keeps tokens out of URLs); no parameter repeats, except
// resource and audience at the token endpoint; the client authenticates
// with exactly one of client_secret_basic and client_secret_post (401
// invalid_client otherwise, with WWW-Authenticate when it tried HTTP Basic).
// Then the token endpoint checks that the request is a well-formed RFC 8693
// request (see [ParseForm]), and the introspection and revocation endpoints
// that token is present; token_type_hint is passed through unchecked.
// Parameters with an empty value count as absent and unknown parameters are
// ignored (RFC 6749 §3.2).
//
// # What it deliberately does not do
//
// It has no policy and knows nothing of impersonation: it does not verify
// the subject or actor tokens, check audiences, narrow scopes, decide who
// may act for whom, look tokens up, decide whether a client may see or
// revoke a token, or revoke anything. That is the job of the [Exchanger],
// [Introspector] and [Revoker]. It does not store client secrets either;
// the [ClientAuthenticator] checks them.
//
// It does not enforce TLS. RFC 6749 §3.2, RFC 7662 §2 and RFC 7009 §2
// require TLS at these endpoints; the host terminates it, possibly in a
// proxy the handlers cannot see.
//
// Only client_secret_basic and client_secret_post are supported, at all
// three endpoints. Public clients (client_id alone), assertion-based client
// authentication and the bearer-token authorization RFC 7662 §2.1 also
// allows at the introspection endpoint are refused with invalid_client.
//
// # Compatibility
//
// The wire names (parameter names, JSON members, error codes) follow the RFCs
// and never change. New optional fields may be added to [Request],
// [Response], [Introspection] and [Client], and new [Option] values to the
// constructors; positional arguments and interface methods stay as they are.
package tokenexchange
