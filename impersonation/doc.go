// Package impersonation decides and carries out user impersonation by
// OAuth 2.0 Token Exchange (RFC 8693): the issuer's side.
//
// # Wiring
//
// [New] builds the [Service] over the host's stores; [Service.Handlers]
// returns every endpoint (authorize, token, OpenID Connect UserInfo,
// introspection, revocation, JWKS, metadata, and end-session with
// [WithLogout]), with every refusal recorded, and [Endpoints.Mount] mounts
// them. A host with its own token endpoint calls [Service.Exchange],
// [Service.Introspect], [Service.Revoke] and [Sessions.Grant] with the
// client it authenticated.
//
// # The flow
//
// An impersonator (an admin) asks the authorize endpoint for a subject token
// naming the user to impersonate. The host authenticates the impersonator,
// parses the request with subjecttoken.ParseAuthorizeRequest and calls
// [Service.Authorize], which applies the policy ([Service.Decide]) and mints
// the subject token (sub = the user, may_act.sub = the impersonator) and the
// impersonator's ID token. The client then posts both to the token
// endpoint (tokenexchange.NewHandler), whose Exchanger is the [Service]:
// [Service.Exchange] verifies both tokens, checks the policy again, narrows
// scope and audience, consumes the subject token (one use only) and mints an
// RFC 9068 access token with sub = the user and act.sub = the impersonator.
//
// # The policy
//
// The client must be enabled and have impersonation on; the impersonator
// must hold a role for that client granting internal_user_impersonate; the
// subject must exist, be enabled, be in the impersonator's organisation or
// one of its descendants (never a parent or a sibling), not be the
// impersonator, and not be protected ([WithProtected]; by default anyone who
// may impersonate through the client is protected). Refusals are
// access_denied (authorize) or invalid_request (token endpoint, RFC 8693
// §2.2.2) on the wire; the [Reason] goes to the audit log only.
//
// # Impersonation sessions
//
// To impersonate in applications that know nothing of subject tokens, the
// host binds the impersonator's login session to the impersonation after
// the exchange ([Sessions.Start]), asks [Sessions.SignIn] at
// every sign-in whether the login session is impersonating and whether the
// policy allows that for the client signing in, and issues the sign-in's
// tokens with [Sessions.Issue]: for the impersonated user, with act
// and isid.
//
// The rule: every token issued under an impersonation session passes the
// whole policy for the client that receives it, not the client the
// impersonation started through. A sign-in (or a refresh) of a client with
// impersonation off, or one for which the impersonator holds no
// impersonation role, is refused (access_denied at the authorize step,
// invalid_grant at the token endpoint) with an impersonation.denied audit
// event naming that client and the rule; it gets neither the user's tokens
// nor the impersonator's own, and the session stays for the clients that
// allow it. The scope is what the sign-in asked for, narrowed to what the
// user holds for that client.
// [Sessions.End], the session's maximum duration, a policy refusal
// or revoking any of its tokens end it and revoke every token issued under
// it. Refresh tokens ([Sessions.Refresh], [Sessions.Grant]) are off unless
// a client enables them, keep act and die with the session.
//
// # The impersonated user's history
//
// [NewHistory] reads the impersonations of a user back from the audit log
// (a store.AuditLog over what the Service records): [History.List] a page
// at a time, newest first, each an [Impersonation] saying who, when, in
// which application, why and whether it still runs, and [History.End]
// ends one at that user's request, revoking what it issued, as
// [Sessions.End] does for the impersonator. The records of one
// impersonation are linked in the log (store.Event.Parent, Expires), and
// [Impersonations] turns them into impersonations for a host that reads
// its log another way. A user sees and ends only the impersonations of
// themselves: the host passes the signed-in user, and an ID of anyone
// else's is answered as one that does not exist.
//
// # Logout
//
// With [WithLogout] (the host's [Logins]: who is signed in, and ending
// that login), [Service.Handlers] serves OpenID Connect RP-Initiated
// Logout 1.0 at the end-session endpoint ([Endpoints.EndSession],
// end_session_endpoint in the metadata): a client sends the browser there
// with id_token_hint, client_id, post_logout_redirect_uri and state. A
// logout ends the login's impersonation session first, with every token
// issued under it, then the login, and redirects only to a URI the client
// registered (store.Client.PostLogoutRedirectURIs), byte for byte; the
// user confirms on a page first unless the client skips logout consent
// (store.Client.SkipLogoutConsent) and sent an ID token of the signed-in
// user.
//
// # Resource servers
//
// What an API needs lives in the package of its own
// [github.com/actas/actas/impersonation/resource], which imports nothing of
// this package: its Verifier checks the access tokens, its Middleware puts
// the Principal in the request context. The JWKS endpoint of
// [Service.Handlers] publishes the keys it verifies with.
//
// # What it deliberately does not do
//
// It does not authenticate people (the host's login does) or route
// requests, and renders no pages beyond the minimal built-in ones of the
// end-session endpoint (a host gives its own with [WithLogoutPage]); it
// never logs except through the store.Auditor given. It offers no OpenID
// Connect Session Management (session_state, check_session_iframe): that
// needs the identity server's cookie inside an iframe on the client's
// site, a third-party cookie, which browsers block.
//
// # Compatibility
//
// The claim names of the tokens (sub, act, may_act, aut, org_id, org_name,
// scope, client_id, azp, isid, impersonation_reason) are a contract with
// resource servers and do not change.
package impersonation
