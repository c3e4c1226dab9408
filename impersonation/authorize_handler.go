package impersonation

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

// Login is a signed-in user as the host's login knows them.
type Login struct {
	// UserID is the user's ID in the store.
	UserID string
	// AuthTime is when they authenticated; zero omits auth_time.
	AuthTime time.Time
	// Session identifies their login session at the host (a stable ID,
	// not the session cookie itself: stores keep it in clear), as given to
	// Sessions.Start. The impersonator's ID token carries its hash as
	// sid. Empty when the host has none to give.
	Session string
	// AMR are the authentication methods of the login (OpenID Connect
	// Core §2 amr, e.g. "pwd", "otp", "mfa"), as the host reports them;
	// the impersonator's ID token carries them. Nil omits amr.
	AMR []string
}

// Authenticator is the host's login as the authorize endpoint sees it.
// (The end-session endpoint asks [Logins] instead, which never writes a
// login page.)
type Authenticator interface {
	// Authenticate returns the signed-in user. When nobody is signed in
	// it writes a response itself (a login page, a redirect to one) and
	// returns ok false.
	Authenticate(w http.ResponseWriter, r *http.Request) (login Login, ok bool)
}

// AuthenticatorFunc adapts a function to an [Authenticator], for a host
// whose login is one function.
type AuthenticatorFunc func(w http.ResponseWriter, r *http.Request) (login Login, ok bool)

// Authenticate calls f(w, r).
func (f AuthenticatorFunc) Authenticate(w http.ResponseWriter, r *http.Request) (Login, bool) {
	return f(w, r)
}

// Consent is the outcome of a [ConsentFunc].
type Consent int

// Consent outcomes.
const (
	// ConsentPending: the func wrote a response (the consent page); the
	// handler does nothing more.
	ConsentPending Consent = iota
	// ConsentGranted: go on and issue.
	ConsentGranted
	// ConsentDenied: send access_denied to the client.
	ConsentDenied
)

// ConsentFunc asks the impersonator to confirm a permitted impersonation:
// it sees the parsed request and the policy [Decision] (impersonator,
// subject, client). A consent page that posts back to the authorize
// endpoint must repeat the request's parameters; after a POST its own
// fields are in r.PostForm.
type ConsentFunc func(w http.ResponseWriter, r *http.Request, req *subjecttoken.AuthorizeRequest, d *Decision) Consent

type authorizeHandler struct {
	svc     *Service
	authn   Authenticator
	consent ConsentFunc
}

// ServeHTTP is the impersonation authorize endpoint (GET and POST) of
// [Service.Handlers]: it parses and validates the request
// (subjecttoken.ParseAuthorizeRequest; unknown clients and unregistered
// redirect URIs are shown, never redirected to), authenticates the
// impersonator, refuses another user inside an impersonation session, asks
// for consent if configured, then calls [Service.Authorize] and writes the
// response in the request's response mode. Refusals are redirected to the
// client as RFC 6749 §4.2.2.1 errors and recorded in the audit log.
func (h *authorizeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, _, err := subjecttoken.ParseAuthorizeRequest(ctx, r, h.svc.stores.Clients)
	if err != nil {
		h.svc.recordAuthorizeRefusal(r, err)
		subjecttoken.WriteAuthorizeError(w, err)
		return
	}
	login, ok := h.authn.Authenticate(w, r)
	if !ok {
		return
	}
	// One user per impersonation session, before anything is asked of the
	// impersonator.
	if err := h.svc.oneSubjectPerSession(ctx, req, login); err != nil {
		subjecttoken.WriteAuthorizeError(w, err)
		return
	}
	if h.consent != nil {
		d, err := h.svc.Decide(ctx, req.ClientID, login.UserID, req.RequestedSubject)
		if err == nil {
			switch h.consent(w, r, req, d) {
			case ConsentPending:
				return
			case ConsentGranted:
			default:
				// Denied, or a value the handler does not know: fail closed.
				subjecttoken.WriteAuthorizeError(w, h.svc.consentDenied(ctx, req, d))
				return
			}
		}
		// A refused decision falls through: Authorize refuses it again
		// and records why.
	}
	resp, err := h.svc.authorize(ctx, req, login)
	if err != nil {
		subjecttoken.WriteAuthorizeError(w, err)
		return
	}
	subjecttoken.WriteAuthorizeResponse(w, req, resp)
}

// recordAuthorizeRefusal records a request refused while parsing, before
// anyone was authenticated: its wire code and fixed description, never the
// parameters.
func (s *Service) recordAuthorizeRefusal(r *http.Request, err error) {
	var code, desc string
	cause := err
	var e *subjecttoken.Error
	if errors.As(err, &e) {
		code, desc = e.Code, e.Description
		if c := e.Unwrap(); c != nil {
			cause = c
		}
	}
	_ = s.record(r.Context(), refusalEvent(r, code, desc, cause))
}

// ReasonConsentDenied is the audit reason when the impersonator declines
// at the consent page.
const ReasonConsentDenied Reason = "consent_denied"

// consentDenied records the declined consent and returns the error for the
// client.
func (s *Service) consentDenied(ctx context.Context, req *subjecttoken.AuthorizeRequest, d *Decision) error {
	_ = s.record(ctx, store.Event{
		Type:          store.EventImpersonationDenied,
		ClientID:      req.ClientID,
		Impersonator:  d.Impersonator.ID,
		Subject:       d.Subject.ID,
		Org:           orgID(d.Org),
		Scopes:        req.Scope,
		Outcome:       store.OutcomeDenied,
		Reason:        string(ReasonConsentDenied),
		Justification: req.Reason,
	})
	return req.Redirect(subjecttoken.ErrAccessDenied.WithDescription("the impersonator declined"))
}
