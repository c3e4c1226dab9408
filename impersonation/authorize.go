package impersonation

import (
	"context"
	"errors"

	"github.com/actas/actas/internal/authorizetoken"
	"github.com/actas/actas/store"
	"github.com/actas/actas/subjecttoken"
)

// Authorize decides an impersonation authorize request for the
// impersonator the host has authenticated (login) and, when granted, mints
// the subject token and, if asked, the impersonator's ID token, records an
// audit event and notifies the impersonated user.
//
// Inside an impersonation session (login.Session names one), a request for
// another user than the session's is refused with invalid_request and a
// description that says to end the running impersonation first: one user
// per impersonation session.
//
// A refusal comes back as a *subjecttoken.Error bound to req, so
// subjecttoken.WriteAuthorizeError redirects it to the client: access_denied
// for a policy refusal (the rule is in the audit event, not the response),
// server_error or temporarily_unavailable for a store failure.
func (s *Service) Authorize(ctx context.Context, req *subjecttoken.AuthorizeRequest, login Login) (*subjecttoken.AuthorizeResponse, error) {
	if err := s.oneSubjectPerSession(ctx, req, login); err != nil {
		return nil, err
	}
	return s.authorize(ctx, req, login)
}

// deniedEvent is the impersonation.denied event of a refused authorize
// request, without its reason.
func deniedEvent(req *subjecttoken.AuthorizeRequest, impersonatorID string) store.Event {
	return store.Event{
		Type:          store.EventImpersonationDenied,
		ClientID:      req.ClientID,
		Impersonator:  impersonatorID,
		Subject:       untrusted(req.RequestedSubject),
		Scopes:        untrustedAll(req.Scope),
		Outcome:       store.OutcomeDenied,
		Justification: req.Reason,
	}
}

// authorize is Authorize after the one-subject rule.
func (s *Service) authorize(ctx context.Context, req *subjecttoken.AuthorizeRequest, login Login) (*subjecttoken.AuthorizeResponse, error) {
	impersonatorID, authTime := login.UserID, login.AuthTime
	ev := deniedEvent(req, impersonatorID)
	if s.startLimit > 0 {
		ok, err := s.limiter.Allow(ctx, "impersonation-start:"+impersonatorID, s.startLimit, s.startWindow)
		if err != nil {
			return nil, s.authorizeFailed(ctx, req, ev, err)
		}
		if !ok {
			ev.Reason = string(ReasonRateLimited)
			_ = s.record(ctx, ev)
			return nil, req.Redirect(subjecttoken.ErrTemporarilyUnavailable.WithDescription("too many impersonation requests; slow down"))
		}
	}
	d, err := s.Decide(ctx, req.ClientID, impersonatorID, req.RequestedSubject)
	if err != nil {
		return nil, s.authorizeFailed(ctx, req, ev, err)
	}
	ev.Org = orgID(d.Org)
	if err := s.caps.Check(d.Client); err != nil {
		return nil, s.authorizeFailed(ctx, req, ev, err)
	}
	if req.Reason == "" && s.reasonRequired(d.Client) {
		ev.Reason = string(ReasonMissingReason)
		_ = s.record(ctx, ev)
		return nil, req.Redirect(subjecttoken.ErrInvalidRequest.WithDescription(
			"a reason (impersonation_reason) is required to impersonate through this client"))
	}
	grants, err := s.grantsOf(ctx, d)
	if err != nil {
		return nil, s.authorizeFailed(ctx, req, ev, err)
	}
	scope, err := s.scopeRule(ctx, ScopeInput{
		Client: d.Client, Impersonator: d.Impersonator, Subject: d.Subject,
		Requested: req.Scope, SubjectGrants: grants,
	})
	if err != nil {
		return nil, s.authorizeFailed(ctx, req, ev, err)
	}
	ttl, err := s.tokens.SubjectTokenTTL(d.Client.SubjectTokenTTL)
	if err != nil {
		return nil, s.authorizeFailed(ctx, req, ev, err)
	}
	// Under a subject grant, no longer than the grant.
	if ttl, err = s.untilGrant(d, ttl); err != nil {
		return nil, s.authorizeFailed(ctx, req, ev, err)
	}
	tok, c, err := s.tokens.Mint(ctx, authorizetoken.Params{
		Subject:  d.Subject.ID,
		ClientID: d.Client.ID,
		Scope:    scope,
		Actor:    d.Impersonator.ID,
		Reason:   req.Reason,
		TTL:      ttl,
	})
	if err != nil {
		return nil, s.authorizeFailed(ctx, req, ev, err)
	}
	resp := &subjecttoken.AuthorizeResponse{SubjectToken: tok}
	if req.IDToken {
		org, err := s.orgOf(ctx, d.Impersonator)
		if err != nil {
			return nil, s.authorizeFailed(ctx, req, ev, err)
		}
		resp.IDToken, _, err = s.tokens.MintIDToken(ctx, authorizetoken.IDTokenParams{
			Subject:      d.Impersonator.ID,
			ClientID:     d.Client.ID,
			Nonce:        req.Nonce,
			State:        req.State,
			AuthTime:     authTime,
			LoginSession: login.Session,
			AMR:          login.AMR,
			Org:          org,
			TTL:          s.idTTL,
		})
		if err != nil {
			return nil, s.authorizeFailed(ctx, req, ev, err)
		}
	}
	if err := s.grantStillLive(ctx, d); err != nil {
		return nil, s.authorizeFailed(ctx, req, ev, err)
	}
	ev.Type, ev.Outcome, ev.JTI, ev.Scopes = store.EventImpersonationStarted, store.OutcomeGranted, c.ID, scope
	ev.Time, ev.Expires = s.now().UTC(), c.Expiry.Time().UTC()
	if err := s.record(ctx, ev); err != nil {
		// Nothing is issued that was not recorded.
		return nil, req.Redirect(subjecttoken.ErrTemporarilyUnavailable.WithCause(err))
	}
	s.notify(ctx, d, ev)
	return resp, nil
}

// authorizeFailed records the refusal and maps it to the authorize error.
// This is the one place where authorize-side domain errors get their wire
// code.
func (s *Service) authorizeFailed(ctx context.Context, req *subjecttoken.AuthorizeRequest, ev store.Event, err error) error {
	var denied *DeniedError
	wire := subjecttoken.ErrTemporarilyUnavailable
	if errors.As(err, &denied) {
		ev.Reason = string(denied.Reason)
		wire = subjecttoken.ErrAccessDenied.WithDescription("the impersonation is not permitted")
		if clientLevel(denied.Reason) {
			wire = subjecttoken.ErrUnauthorizedClient.WithDescription("the client is not authorized for user impersonation")
		}
	} else {
		// A store, key or hook failure: fail closed, the client may retry;
		// a configuration error will not go away on a retry.
		ev.Outcome, ev.Reason = store.OutcomeFailed, err.Error()
		if errors.Is(err, ErrConfiguration) {
			wire = subjecttoken.ErrServerError
		}
	}
	_ = s.record(ctx, ev) // the request is refused whether or not this is recorded
	return req.Redirect(wire.WithCause(err))
}

// notify tells the impersonated user; a failure is recorded, never
// returned.
func (s *Service) notify(ctx context.Context, d *Decision, ev store.Event) {
	if s.notifier == nil {
		return
	}
	n := store.Notice{
		UserID:           d.Subject.ID,
		UserName:         displayName(d.Subject),
		Email:            d.Subject.Email,
		ImpersonatorID:   d.Impersonator.ID,
		ImpersonatorName: displayName(d.Impersonator),
		ClientID:         d.Client.ID,
		ClientName:       d.Client.Name,
		Reason:           ev.Justification,
		Time:             ev.Time,
	}
	if d.Org != nil {
		n.Org, n.OrgName = d.Org.ID, d.Org.Name
	}
	err := s.notifier.Notify(ctx, n)
	if err != nil {
		ev.Type, ev.Outcome, ev.Reason = store.EventNotificationFailed, store.OutcomeFailed, err.Error()
		_ = s.record(ctx, ev)
	}
}

// orgOf returns u's organisation, nil when u has none or it is not
// found (the token then names none).
func (s *Service) orgOf(ctx context.Context, u *store.User) (*store.Organization, error) {
	if u.Org == "" || s.flat {
		return nil, nil
	}
	org, err := s.stores.Organizations.Organization(ctx, u.Org)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return org, err
}

func displayName(u *store.User) string {
	switch {
	case u.Name != "":
		return u.Name
	case u.Username != "":
		return u.Username
	}
	return u.ID
}

// oneSubjectPerSession refuses, inside the impersonation session of
// login, an impersonation of another user than the session's: the refusal
// is recorded and returned bound to req. Without sessions, or a login
// session, there is nothing to check.
func (s *Service) oneSubjectPerSession(ctx context.Context, req *subjecttoken.AuthorizeRequest, login Login) error {
	if login.Session == "" || s.sessions == nil {
		return nil
	}
	ev := deniedEvent(req, login.UserID)
	active, err := s.sessions.Active(ctx, login.Session, req.RequestedSubject)
	switch {
	case errors.Is(err, ErrOtherSubject):
		ev.Reason = "another impersonation session is active (" + active.Subject + ")"
		_ = s.record(ctx, ev)
		name := active.Subject
		if u, err := s.stores.Users.User(ctx, active.Subject); err == nil && u.Username != "" {
			name = u.Username
		}
		return req.Redirect(subjecttoken.ErrInvalidRequest.WithDescription(
			"you are impersonating " + name + " in this session: end that impersonation before impersonating another user"))
	case err != nil:
		return s.authorizeFailed(ctx, req, ev, err)
	}
	return nil
}
