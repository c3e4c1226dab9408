// Package tokenexchange speaks OAuth 2.0 Token Exchange (RFC 8693,
// https://www.rfc-editor.org/rfc/rfc8693) on the wire: the token type
// identifiers, the token request and response, the error model of RFC 6749
// §5.2 (https://www.rfc-editor.org/rfc/rfc6749#section-5.2), client
// authentication at the token endpoint, the token endpoint [Handler] and a
// client, [Exchange].
//
// # When to use it
//
// A server mounts a [Handler] on its own mux (for example at "POST /token").
// The handler decodes and syntactically validates the form, authenticates the
// client through a [ClientAuthenticator], then hands a typed [Request] and the
// authenticated [Client] to an [Exchanger], which decides and returns a
// [Response] or an error. An error that is an [*Error] is sent as is; any
// other error becomes server_error with a generic description, so internal
// details never reach the wire. [WithErrorObserver] lets the host audit every
// refused request with the full error.
//
// A client calls [Exchange] with its own [*http.Client]; a refusal comes back
// as a [*RetrieveError].
//
// The handler checks, in this order: the method is POST (405 otherwise); the
// Content-Type is application/x-www-form-urlencoded; the body fits the
// configured limit ([DefaultMaxBodyBytes] by default) and parses; no token
// request parameter appears in the URL query (RFC 6749 §2.3.1 forbids
// credentials there, and the handler refuses all of them rather than silently
// ignoring them); no parameter other than resource and audience repeats; the
// client authenticates with exactly one of client_secret_basic and
// client_secret_post; the request is a well-formed RFC 8693 request (see
// [ParseForm]). Parameters with an empty value count as absent and unknown
// parameters are ignored (RFC 6749 §3.2).
//
// # What it deliberately does not do
//
// It has no policy and knows nothing of impersonation: it does not verify the
// subject or actor tokens, check audiences, narrow scopes or decide who may
// act for whom. That is the [Exchanger]'s job. It does not store client
// secrets either; the [ClientAuthenticator] checks them.
//
// It does not enforce TLS. RFC 6749 §3.2 requires TLS at the token endpoint;
// the host terminates it, possibly in a proxy the handler cannot see.
//
// Only client_secret_basic and client_secret_post are supported. Public
// clients (client_id alone) and assertion-based client authentication are
// refused with invalid_client.
//
// # Compatibility
//
// The wire names (parameter names, JSON members, error codes) follow the RFCs
// and never change. New optional fields may be added to [Request], [Response]
// and [Client], and new [Option] values to [NewHandler]; positional arguments
// and interface methods stay as they are.
package tokenexchange
