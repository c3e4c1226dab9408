// Package subjecttoken is the authorize side of impersonation: it parses and
// validates the impersonation authorize request (response_type
// subject_token or "id_token subject_token", requested_subject, nonce,
// scope internal_user_impersonate) and writes the authorization response
// in the fragment, query or form_post response mode. Minting and verifying
// the tokens is the library's own business (impersonation.Service, past
// its policy gate): no public function mints a subject token.
//
// # When to use it
//
// A host's authorize endpoint calls [ParseAuthorizeRequest], authenticates
// the impersonator, asks impersonation.Service.Authorize for the decision
// and the tokens, then calls [WriteAuthorizeResponse] or
// [WriteAuthorizeError]. Unknown clients and unregistered redirect URIs are
// never redirected to: the error goes back to the host to show.
//
// # Tokens
//
// A subject token is a signed JWT with exactly the claims of the flow's
// reference document (iss, sub, aud, azp, client_id, scope, may_act.sub,
// iat, nbf, exp, jti) and the header typ "subject+jwt", so that it is
// never mistaken for an ID token or an access token (RFC 8725 §3.11). It
// lives 180 s unless the client sets its own (at most 10 min), and is
// single-use: the token endpoint consumes its jti.
//
// # What it deliberately does not do
//
// It makes no policy decision (who may impersonate whom) and does not
// authenticate anyone.
//
// # Compatibility
//
// Parameter names, claim names and error codes follow the RFCs and the
// reference document and do not change.
package subjecttoken
